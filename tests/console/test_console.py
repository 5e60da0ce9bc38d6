"""The web console in a real browser (Debian chromium, headless) against ``kongtian demo``.

Each test saves a screenshot (folder printed; $KONGTIAN_SCREENSHOTS to choose it).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from .conftest import Server, Watch, open_console

pytestmark = pytest.mark.slow

N_UAS = """window.kt.map.queryRenderedFeatures({layers: ['tracks']})
    .filter((f) => f.properties.kind === 'uas').length"""
RENDERED_IDS = """(layer) => window.kt.map.queryRenderedFeatures({layers: [layer]})
    .map((f) => String(f.properties.id))"""


SATS_DRAWN = """(() => {
  const m = window.kt.map;
  let hits = 0;
  for (const f of window.kt.space.features) {
    const p = m.project(f.geometry.coordinates);
    const box = [[p.x - 4, p.y - 4], [p.x + 4, p.y + 4]];
    if (m.queryRenderedFeatures(box, {layers: ['sats']}).length) hits++;
  }
  return hits;
})()"""


# The satellite nearest to the centre of the view (on the near side of the globe).
PICK_NEAR_SAT = """(() => {
  const m = window.kt.map, c = m.getCenter();
  let best = null, bd = Infinity;
  for (const f of window.kt.space.features) {
    const [x, y] = f.geometry.coordinates;
    const d = (x - c.lng) ** 2 + (y - c.lat) ** 2;
    if (d < bd) { bd = d; best = f.properties.id; }
  }
  return best;
})()"""


def _shot(page: Any, shots: Path, name: str) -> Path:
    path = shots / f"{name}.png"
    page.screenshot(path=str(path))
    print(f"screenshot: {path}")
    return path


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _assert_clean(watch: Watch) -> None:
    assert watch.external == [], f"requests leaving 127.0.0.1: {watch.external}"
    assert watch.errors == [], f"console errors: {watch.errors}"


def test_console_loads_offline_with_live_tracks(server: Server, browser: Any, shots: Path) -> None:
    watch = Watch()
    page = open_console(browser, server, "regulator", watch)
    # Live demo tracks are drawn (GET /v1/traffic/tracks, then the WebSocket).
    page.wait_for_function(
        "window.kt.map.queryRenderedFeatures({layers: ['tracks']}).length >= 10", timeout=15_000
    )
    page.wait_for_selector("#conn.on", timeout=10_000)
    assert page.inner_text("#role") == "regulator"
    # Zones with their altitude bands are drawn and labelled.
    zones = page.evaluate(RENDERED_IDS, "zones-fill")
    assert "yuzhong-no-fly" in zones
    assert page.locator('.lbl.zone[data-id="yuzhong-no-fly"]').inner_text().endswith("m AGL")
    # The kind filter hides UAVs (and their labels) and shows them again.
    page.uncheck('#kind-filter input[value="uas"]')
    page.wait_for_function(f"{N_UAS} === 0", timeout=5_000)
    page.check('#kind-filter input[value="uas"]')
    page.wait_for_function(f"{N_UAS} > 0", timeout=5_000)
    page.wait_for_timeout(1500)  # let the stream run a little before judging errors
    _shot(page, shots, "airspace")
    # The interception really saw the page's traffic, MapLibre's worker included.
    assert any(u.endswith("/data/land.geojson") for u in watch.urls), watch.urls
    assert any("/v1/stream/ws" in u for u in watch.urls)
    _assert_clean(watch)


def test_posted_report_appears_on_map_within_10_s(
    server: Server, browser: Any, shots: Path
) -> None:
    watch = Watch()
    page = open_console(browser, server, "regulator", watch)
    page.wait_for_selector("#conn.on", timeout=10_000)
    object_id = "uas:console-report-1"
    assert object_id not in page.evaluate(RENDERED_IDS, "tracks")
    now = datetime.now(UTC)
    reports = [
        {
            "object_id": object_id,
            "source": "remoteid-net",
            "time_utc": _iso(now + timedelta(seconds=i)),
            "lat_deg": 29.50,
            "lon_deg": 106.60 + 0.0002 * i,
            "alt_m": 88.0,
            "alt_ref": "agl",
            "speed_m_s": 12.0,
            "track_deg": 90.0,
        }
        for i in range(2)
    ]
    result = server.request("POST", "/v1/traffic/reports", reports, role="operator")
    assert result["accepted"] == 2
    page.wait_for_function(
        f"window.kt.map.queryRenderedFeatures({{layers: ['tracks']}})"
        f".some((f) => f.properties.id === '{object_id}')",
        timeout=10_000,
    )
    # Zoomed in, few tracks are in view: each gets an altitude/speed label.
    page.evaluate("window.kt.map.jumpTo({center: [106.6, 29.5], zoom: 14})")
    label = page.locator('.lbl[data-id="uas:console-report-1"]')
    label.wait_for(timeout=5_000)
    assert "88m" in label.inner_text() and "12m/s" in label.inner_text()
    # Clicking it opens its popup; "history" replays its stored reports on the map.
    box = page.locator("#map").bounding_box()
    xy = page.evaluate("window.kt.map.project([106.6002, 29.5])")
    page.mouse.click(box["x"] + xy["x"], box["y"] + xy["y"])
    page.locator(".maplibregl-popup button.popup-action").click()
    page.wait_for_selector("#history:not([hidden])", timeout=10_000)
    assert "console-report-1: 2" in page.inner_text("#history-info")
    page.wait_for_function(
        "window.kt.map.queryRenderedFeatures({layers: ['history']}).length > 0", timeout=10_000
    )
    _shot(page, shots, "report-on-map")
    _assert_clean(watch)


def test_zone_violation_appears_in_alerts_panel_and_can_be_acknowledged(
    server: Server, browser: Any, shots: Path
) -> None:
    zone = {
        "type": "Feature",
        "id": "console-test-no-fly",
        "geometry": {
            "type": "Polygon",
            "coordinates": [
                [
                    [106.40, 29.60],
                    [106.44, 29.60],
                    [106.44, 29.63],
                    [106.40, 29.63],
                    [106.40, 29.60],
                ]
            ],
        },
        "properties": {
            "id": "console-test-no-fly",
            "name": "console test no-fly",
            "kind": "no-fly",
            "alt_ref": "agl",
            "floor_m": 0,
            "ceiling_m": 500,
        },
    }
    server.request("POST", "/v1/traffic/zones", zone, role="regulator")
    watch = Watch()
    page = open_console(browser, server, "regulator", watch)
    page.wait_for_selector("#conn.on", timeout=10_000)
    object_id = "uas:console-intruder-1"
    now = datetime.now(UTC)
    reports = [
        {
            "object_id": object_id,
            "source": "remoteid-net",
            "time_utc": _iso(now + timedelta(seconds=i)),
            "lat_deg": 29.615,
            "lon_deg": 106.405 + 0.0005 * i,
            "alt_m": 60.0,
            "alt_ref": "agl",
            "speed_m_s": 10.0,
            "track_deg": 90.0,
        }
        for i in range(3)
    ]
    # The service reloads zones from the store within a few seconds: repeat until alerted.
    for _ in range(10):
        r = server.request("POST", "/v1/traffic/reports", reports, role="operator")
        if r["alerts"]:
            break
        page.wait_for_timeout(1000)
        reports = [
            {**x, "time_utc": _iso(datetime.now(UTC) + timedelta(seconds=i))}
            for i, x in enumerate(reports)
        ]
    item = page.locator(f'#alerts li[data-object-id="{object_id}"][data-kind="zone_violation"]')
    item.first.wait_for(timeout=10_000)
    text = item.first.inner_text()
    assert "区域违规" in text and "console-test-no-fly" in text
    # Jump to the object, then acknowledge it as the regulator.
    item.first.locator("button.locate").click()
    page.wait_for_timeout(1500)
    _shot(page, shots, "zone-violation-alert")
    alert_id = item.first.get_attribute("data-alert-id")
    item.first.locator("button.ack").click()
    page.wait_for_function(
        f"!document.querySelector('#alerts li[data-alert-id=\"{alert_id}\"] button.ack')",
        timeout=10_000,
    )
    acked = server.request("GET", f"/v1/traffic/alerts/{alert_id}", role="regulator")
    assert acked["acked_by"]
    _assert_clean(watch)


def test_language_switch(server: Server, browser: Any, shots: Path) -> None:
    watch = Watch()
    page = open_console(browser, server, "regulator", watch)
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    assert page.inner_text("#tab-airspace") == "空域"
    page.click("#lang")
    assert page.evaluate("document.documentElement.lang") == "en"
    assert page.inner_text("#tab-airspace") == "Airspace"
    assert page.inner_text("#tab-space") == "Space"
    page.wait_for_selector("#conn.on", timeout=10_000)
    assert page.inner_text("#conn") == "Live"
    _shot(page, shots, "english")
    # Remembered across a reload, and switched back.
    page.reload()
    page.wait_for_function("window.kt && window.kt.ready", timeout=30_000)
    assert page.inner_text("#tab-airspace") == "Airspace"
    page.click("#lang")
    assert page.inner_text("#tab-airspace") == "空域"
    _assert_clean(watch)


def test_public_key_gets_no_acknowledge_button(server: Server, browser: Any, shots: Path) -> None:
    watch = Watch()
    page = open_console(browser, server, "public", watch)
    page.wait_for_selector("#conn.on", timeout=10_000)
    assert page.inner_text("#role") == "public"
    page.wait_for_function(
        "window.kt.map.queryRenderedFeatures({layers: ['tracks']}).length >= 10", timeout=15_000
    )
    page.wait_for_selector("#alerts li.alert", timeout=15_000)
    assert page.locator("#alerts button.ack").count() == 0
    assert page.locator("#alerts button.locate").count() > 0
    _shot(page, shots, "public")
    _assert_clean(watch)


def test_space_view_shows_the_catalog_satellites(server: Server, browser: Any, shots: Path) -> None:
    watch = Watch()
    page = open_console(browser, server, "regulator", watch)
    page.click("#tab-space")
    page.wait_for_selector("#catalog option[value=qianfan]", state="attached", timeout=10_000)
    page.select_option("#catalog", "qianfan")
    page.fill("#hours", "0.5")
    page.click("#space-load")
    page.wait_for_function("window.kt.space.eph !== null", timeout=60_000)
    n_sats = page.evaluate("window.kt.space.eph.ids.length")
    job = server.request("GET", "/v1/jobs?limit=1", role="regulator")["jobs"][0]
    assert job["kind"] == "propagate" and job["summary"]["satellites"] == n_sats
    assert page.evaluate("window.kt.map.getProjection().type") == "globe"
    # The clock moves the satellites (60x by default).
    t0 = page.inner_text("#clock")
    lon0 = page.evaluate("window.kt.space.lastLonLat(0)")
    page.wait_for_timeout(1500)
    assert page.inner_text("#clock") != t0
    assert page.evaluate("window.kt.space.lastLonLat(0)") != lon0
    # Paused and settled, the satellites on the near side of the globe are drawn.
    page.click("#play")
    page.wait_for_timeout(300)
    page.evaluate("new Promise((ok) => { window.kt.map.once('idle', ok); setTimeout(ok, 10000); })")
    # (A whole-viewport queryRenderedFeatures is unreliable on MapLibre's globe: query a
    # few pixels around each satellite's projected position instead.)
    rendered = page.evaluate(SATS_DRAWN)
    assert 0.2 * n_sats < rendered < n_sats, (rendered, n_sats)
    # Clicking a satellite shows its ground track (the job's epochs) and its footprint.
    sat_id = page.evaluate(PICK_NEAR_SAT)
    page.evaluate(f"window.kt.space.select({sat_id})")
    page.evaluate("new Promise((ok) => { window.kt.map.once('idle', ok); setTimeout(ok, 10000); })")
    assert page.evaluate("window.kt.map.queryRenderedFeatures({layers: ['sat-foot']}).length") > 0
    assert str(sat_id) in page.inner_text("#sat-selected")
    _shot(page, shots, "space")
    _assert_clean(watch)
