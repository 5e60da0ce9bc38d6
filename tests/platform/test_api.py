"""The HTTP API end to end on a real store and service: traffic, zones, intents, alerts,
admin, health, metrics and the offline docs page."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from tests.platform._api_helpers import (
    FLEET,
    Api,
    api,
    report,
    store_url,
    volume,
    zone_feature,
)

T0 = "2025-01-01T00:00:00Z"
AIS_GOOD = "!AIVDM,1,1,,A,15N1u<PP1FJuvSRHOE6QIwwh0HQ6,0*30"


@pytest.fixture(params=["duckdb", "postgresql"])
def a(request: pytest.FixtureRequest, tmp_path: Path):
    with store_url(request.param) as url, api(tmp_path, url) as x:
        yield x


# ------------------------------------------------------------------ health, docs, metrics
def test_health_needs_no_key_and_counts(a: Api) -> None:
    r = a.get("/health", None)
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["store"] == "ok"
    assert body["reports"] == 0
    a.post("/v1/traffic/reports", "operator", json=[report("icao24:abc001", T0, 29.5, 106.5)])
    assert a.get("/health", None).json()["reports"] == 1


def test_docs_page_is_self_contained(a: Api) -> None:
    r = a.get("/docs", None)
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    # no external script, stylesheet or font: the page works offline
    assert not re.search(r"""(src|href)\s*=\s*["']?https?://""", r.text)
    assert "/openapi.json" in r.text
    assert a.get("/redoc", None).status_code == 404


def test_openapi_operation_ids_are_stable_and_unique(a: Api) -> None:
    spec = a.get("/openapi.json", None).json()
    ids = [op["operationId"] for item in spec["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))
    for expected in ("ingest_reports", "list_tracks", "get_track_history", "create_zone",
                     "update_zone", "delete_zone", "submit_intent", "activate_intent",
                     "end_intent", "list_alerts", "ack_alert", "upload_catalog",
                     "start_propagate_job", "start_passes_job", "start_coverage_job", "get_job",
                     "get_job_result", "create_key", "revoke_key", "list_audit",
                     "list_quarantine", "get_health", "get_metrics"):  # fmt: skip
        assert expected in ids
    for path, item in spec["paths"].items():
        for method, op in item.items():
            assert op.get("tags"), (method, path)
            if path.startswith("/v1/") and "/stream/" not in path:
                for code in ("401", "403", "422", "429"):
                    assert code in op["responses"], (method, path, code)


def test_metrics_expose_ingest_counters_and_requests(a: Api) -> None:
    a.post("/v1/traffic/reports", "operator", json=[report("icao24:abc001", T0, 29.5, 106.5)])
    a.post("/v1/traffic/reports", "operator", json=[report("icao24:abc001", T0, 29.5, 106.5)])
    text = a.get("/metrics", None).text
    assert re.search(r"^kongtian_service_reports_ingested_total 1\.0$", text, re.M)
    assert re.search(r"^kongtian_service_duplicates_total 1\.0$", text, re.M)
    assert re.search(r"^kongtian_store_quarantined 0\.0$", text, re.M)
    assert re.search(
        r'^kongtian_http_requests_total\{operation="ingest_reports",status="200"\} 2\.0$',
        text,
        re.M,
    )


# ------------------------------------------------------------------ ingest, tracks
def test_ingest_list_is_idempotent_and_owned(a: Api) -> None:
    batch = [report("icao24:abc001", T0, 29.5, 106.5),
             report("icao24:abc001", "2025-01-01T00:00:01Z", 29.51, 106.5)]  # fmt: skip
    r = a.post("/v1/traffic/reports", "operator", json=batch)
    assert r.status_code == 200
    assert r.json() == {"accepted": 2, "duplicates": 0, "rejected": 0, "alerts": 0}
    r = a.post("/v1/traffic/reports", "operator", json=batch)
    assert r.json()["accepted"] == 0 and r.json()["duplicates"] == 2
    hist = a.get("/v1/traffic/tracks/icao24:abc001/history", "regulator").json()
    assert hist["count"] == 2
    assert {x["owner"] for x in hist["reports"]} == {FLEET}
    assert [x["time_utc"] for x in hist["reports"]] == [T0, "2025-01-01T00:00:01Z"]


def test_ingest_rejects_bad_list_whole_with_field(a: Api) -> None:
    batch = [report("icao24:abc001", T0, 29.5, 106.5), report("icao24:abc002", T0, 95.0, 106.5)]
    r = a.post("/v1/traffic/reports", "operator", json=batch)
    assert r.status_code == 422
    assert any(e["loc"][-1] == "lat_deg" for e in r.json()["detail"])
    naive = [report("icao24:abc001", "2025-01-01T00:00:00", 29.5, 106.5)]
    assert a.post("/v1/traffic/reports", "operator", json=naive).status_code == 422
    assert a.get("/health", None).json()["reports"] == 0  # nothing of either batch stored


def test_ingest_raw_quarantines_bad_messages(a: Api) -> None:
    body = {"format": "ais", "payloads": [AIS_GOOD, "garbage"]}
    r = a.post("/v1/traffic/reports", "operator", json=body)
    assert r.status_code == 200
    assert r.json()["accepted"] == 1 and r.json()["rejected"] == 1
    q = a.get("/v1/admin/quarantine").json()
    assert q["total"] == 1
    assert q["items"][0]["raw_text"] == "garbage" and q["items"][0]["origin"] == "http"
    assert base64.b64decode(q["items"][0]["raw_base64"]) == b"garbage"
    assert q["items"][0]["reason"]
    # base64 payloads with a bad encoding are a 422 naming the payload
    r = a.post("/v1/traffic/reports", "operator",
               json={"format": "beast", "encoding": "base64", "payloads": ["!!"]})  # fmt: skip
    assert r.status_code == 422 and "payloads[0]" in r.json()["detail"]


def test_operator_sees_only_own_fleet(a: Api) -> None:
    a.post("/v1/traffic/reports", "operator", json=[report("uas:mine", T0, 29.5, 106.5)])
    # a second operator with another fleet
    other = a.post("/v1/admin/keys", json={"role": "operator", "owner": "other-fleet"}).json()
    r = a.client.post("/v1/traffic/reports", headers={"X-API-Key": other["key"]},
                      json=[report("uas:theirs", T0, 29.6, 106.6)])  # fmt: skip
    assert r.status_code == 200
    mine = a.get("/v1/traffic/tracks", "operator").json()
    assert [t["object_id"] for t in mine["tracks"]] == ["uas:mine"]
    assert a.get("/v1/traffic/tracks/uas:theirs/history", "operator").json()["count"] == 0
    every = a.get("/v1/traffic/tracks", "regulator").json()
    assert {t["object_id"] for t in every["tracks"]} == {"uas:mine", "uas:theirs"}


def test_tracks_filters(a: Api) -> None:
    a.post("/v1/traffic/reports", "operator", json=[
        report("uas:a", T0, 29.5, 106.5), report("icao24:b00001", T0, 30.5, 107.5),
        report("mmsi:413000001", "2025-01-01T00:10:00Z", 29.6, 106.6, source="ais")])  # fmt: skip
    ids = lambda r: [t["object_id"] for t in r.json()["tracks"]]  # noqa: E731
    assert ids(a.get("/v1/traffic/tracks", params={"bbox": "106,29,107,30"})) == [
        "mmsi:413000001", "uas:a"]  # fmt: skip
    assert ids(a.get("/v1/traffic/tracks", params={"kinds": "icao24"})) == ["icao24:b00001"]
    assert ids(a.get("/v1/traffic/tracks", params={"stale_s": 60})) == ["mmsi:413000001"]
    r = a.get("/v1/traffic/tracks", params={"bbox": "106,29,107"})
    assert r.status_code == 422 and "bbox" in r.json()["detail"]


def test_public_gets_remote_id_operator_data_withheld(a: Api) -> None:
    rid = report("uas:rid1", T0, 29.5, 106.5, source="remoteid-net",
                 operator_id="CHN-OP-7", operator_lat_deg=29.49, self_id="survey")  # fmt: skip
    assert a.post("/v1/traffic/reports", "operator", json=[rid]).status_code == 200
    full = a.get("/v1/traffic/tracks/uas:rid1/history", "regulator").json()["reports"][0]
    assert full["extras"]["operator_id"] == "CHN-OP-7"
    pub = a.get("/v1/traffic/tracks/uas:rid1/history", "public").json()["reports"][0]
    assert pub["lat_deg"] == 29.5
    for f in ("operator_id", "operator_lat_deg", "self_id"):
        assert f not in pub["extras"] and f not in pub


# ------------------------------------------------------------------ zones
def test_zone_crud_with_versions(a: Api) -> None:
    r = a.post("/v1/traffic/zones", "regulator", json=zone_feature("cbd"))
    assert r.status_code == 201 and r.json()["version"] == 1
    assert a.post("/v1/traffic/zones", "regulator", json=zone_feature("cbd")).status_code == 409
    assert a.get("/v1/traffic/zones/cbd", "public").json()["feature"]["properties"]["kind"] == (
        "no-fly"
    )
    upd = zone_feature("cbd", kind="restricted")
    r = a.put("/v1/traffic/zones/cbd", "regulator", json=upd, params={"version": 1})
    assert r.status_code == 200 and r.json()["version"] == 2
    r = a.put("/v1/traffic/zones/cbd", "regulator", json=upd, params={"version": 1})
    assert r.status_code == 409  # stale
    assert a.delete("/v1/traffic/zones/cbd", "regulator", params={"version": 1}).status_code == 409
    assert a.delete("/v1/traffic/zones/cbd", "regulator", params={"version": 2}).status_code == 200
    assert a.get("/v1/traffic/zones/cbd").status_code == 404
    assert a.put("/v1/traffic/zones/nope", "regulator", json=zone_feature("nope"),
                 params={"version": 1}).status_code == 404  # fmt: skip
    assert a.get("/v1/traffic/zones").json()["count"] == 0


@pytest.mark.parametrize(
    ("prop", "value", "named"),
    [
        ("floor_m", "high", "floor_m"),
        ("kind", "forbidden", "kind"),
        ("schedule", {"x": 1}, "schedule"),
    ],
)
def test_bad_zone_is_422_naming_the_field(a: Api, prop: str, value: object, named: str) -> None:
    f = zone_feature("z1")
    f["properties"][prop] = value
    r = a.post("/v1/traffic/zones", "regulator", json=f)
    assert r.status_code == 422
    assert named in r.json()["detail"]


def test_zone_id_must_match_path_and_exist(a: Api) -> None:
    f = zone_feature("z1")
    del f["id"]
    assert a.post("/v1/traffic/zones", "regulator", json=f).status_code == 422
    a.post("/v1/traffic/zones", "regulator", json=zone_feature("z1"))
    r = a.put("/v1/traffic/zones/z1", "regulator", json=zone_feature("z2"), params={"version": 1})
    assert r.status_code == 422 and "id" in r.json()["detail"]


def test_zone_change_reaches_the_pipeline_and_alerts(a: Api) -> None:
    a.post("/v1/traffic/zones", "regulator", json=zone_feature("cbd"))
    r = a.post("/v1/traffic/reports", "operator",
               json=[report("uas:d1", T0, 29.56, 106.55, alt_m=50.0, alt_ref="agl")])  # fmt: skip
    assert r.json()["alerts"] >= 1
    alerts = a.get("/v1/traffic/alerts", "regulator").json()["alerts"]
    (al,) = [x for x in alerts if x["kind"] == "zone_violation"]
    assert al["object_id"] == "uas:d1" and al["other_id"] == "cbd"
    assert al["acked_by"] is None
    # operators see alerts about their fleet, and may not acknowledge
    assert a.get("/v1/traffic/alerts", "operator").json()["count"] == 1
    assert a.post(f"/v1/traffic/alerts/{al['alert_id']}/ack", "operator").status_code == 403
    r = a.post(f"/v1/traffic/alerts/{al['alert_id']}/ack", "regulator")
    assert r.status_code == 200 and r.json()["acked_by"]
    assert a.get("/v1/traffic/alerts", "regulator", params={"acknowledged": False}).json()[
        "count"] == 0  # fmt: skip
    assert a.post("/v1/traffic/alerts/nope/ack", "regulator").status_code == 404
    # another operator does not see this fleet's alert
    other = a.post("/v1/admin/keys", json={"role": "operator", "owner": "other-fleet"}).json()
    r = a.client.get("/v1/traffic/alerts", headers={"X-API-Key": other["key"]})
    assert r.json()["count"] == 0


# ------------------------------------------------------------------ intents
def test_intent_accept_reject_activate_end(a: Api) -> None:
    v1 = volume(106.4, 29.5, "2025-01-01T01:00:00Z", "2025-01-01T02:00:00Z")
    r = a.post("/v1/traffic/intents", "operator", json={"id": "op-1", "volumes": [v1]})
    assert r.status_code == 201
    assert r.json()["intent"]["state"] == "Accepted" and r.json()["conflicts"] == []
    assert r.json()["intent"]["owner"] == FLEET
    v2 = volume(106.4, 29.5, "2025-01-01T01:30:00Z", "2025-01-01T02:30:00Z")
    r = a.post("/v1/traffic/intents", "operator", json={"id": "op-2", "volumes": [v2]})
    assert r.status_code == 409
    assert r.json()["conflicts"] == ["op-1"] and r.json()["intent"]["state"] == "Rejected"
    # same id again: 409 (exists)
    assert a.post("/v1/traffic/intents", "operator",
                  json={"id": "op-1", "volumes": [v1]}).status_code == 409  # fmt: skip
    r = a.post("/v1/traffic/intents/op-1/activate", "operator", json={"version": 1})
    assert r.status_code == 200 and r.json()["state"] == "Activated" and r.json()["version"] == 2
    assert a.post("/v1/traffic/intents/op-1/activate", "operator").status_code == 409
    assert a.post("/v1/traffic/intents/op-1/end", "operator",
                  json={"version": 1}).status_code == 409  # fmt: skip
    assert a.post("/v1/traffic/intents/op-1/end", "operator").json()["state"] == "Ended"
    # airspace freed: the rejected volume now fits
    r = a.post("/v1/traffic/intents", "operator", json={"id": "op-3", "volumes": [v2]})
    assert r.status_code == 201
    states = {i["id"]: i["state"] for i in a.get("/v1/traffic/intents", "public").json()["intents"]}
    assert states == {"op-1": "Ended", "op-2": "Rejected", "op-3": "Accepted"}


def test_intent_ownership(a: Api) -> None:
    v = volume(106.4, 29.5, "2025-01-01T01:00:00Z", "2025-01-01T02:00:00Z")
    a.post("/v1/traffic/intents", "operator", json={"id": "op-1", "volumes": [v]})
    other = a.post("/v1/admin/keys", json={"role": "operator", "owner": "other-fleet"}).json()
    h = {"X-API-Key": other["key"]}
    assert a.client.post("/v1/traffic/intents/op-1/end", headers=h).status_code == 404
    assert a.client.get("/v1/traffic/intents", headers=h).json()["count"] == 0
    assert a.post("/v1/traffic/intents/op-1/end", "public").status_code == 403
    # a regulator may end anyone's intent
    assert a.post("/v1/traffic/intents/op-1/end", "regulator").json()["state"] == "Ended"
    assert a.get("/v1/traffic/intents/nope", "regulator").status_code == 404


def test_bad_intent_is_422(a: Api) -> None:
    v = volume(106.4, 29.5, "2025-01-01T02:00:00Z", "2025-01-01T01:00:00Z")  # ends first
    r = a.post("/v1/traffic/intents", "operator", json={"volumes": [v]})
    assert r.status_code == 422 and "t_start_utc" in r.json()["detail"]
    v = volume(106.4, 29.5, "2025-01-01T01:00:00Z", "2025-01-01T02:00:00Z")
    v["outline"] = {"type": "LineString", "coordinates": [[106, 29], [107, 30]]}
    r = a.post("/v1/traffic/intents", "operator", json={"volumes": [v]})
    assert r.status_code == 422 and "volumes[0]" in r.json()["detail"]


# ------------------------------------------------------------------ admin
def test_admin_keys_and_audit(a: Api) -> None:
    r = a.post("/v1/admin/keys", json={"role": "regulator", "label": "caac"})
    assert r.status_code == 201
    new = r.json()
    assert new["key"].startswith("kt_") and new["role"] == "regulator"
    h = {"X-API-Key": new["key"]}
    assert a.client.get("/v1/traffic/zones", headers=h).status_code == 200
    listed = a.get("/v1/admin/keys").json()["keys"]
    assert new["key_id"] in {k["key_id"] for k in listed}
    assert all("key" not in k and "key_hash" not in k for k in listed)
    assert a.delete(f"/v1/admin/keys/{new['key_id']}").json()["revoked_utc"] is not None
    assert a.client.get("/v1/traffic/zones", headers=h).status_code == 401
    assert a.delete("/v1/admin/keys/key_nope").status_code == 404
    assert a.post("/v1/admin/keys", json={"role": "operator"}).status_code == 422  # no owner
    actions = [x["action"] for x in a.get("/v1/admin/audit").json()["records"]]
    assert actions == ["revoke_key", "create_key"]  # the refused create is not a write
    assert a.get("/v1/admin/audit", "regulator").status_code == 403


def test_retention_endpoint(tmp_path: Path) -> None:
    with api(tmp_path, retention_s={"remoteid-net": 3600.0, "*": 1e12}) as a:
        a.post("/v1/traffic/reports", "operator", json=[
            report("uas:old", "2020-01-01T00:00:00Z", 29.5, 106.5, source="remoteid-net"),
            report("icao24:abc001", "2020-01-01T00:00:00Z", 29.5, 106.5)])  # fmt: skip
        r = a.post("/v1/admin/retention")
        assert r.status_code == 200 and r.json()["deleted"] == {"remoteid-net": 1}
        assert a.get("/health", None).json()["reports"] == 1


def test_errors_are_json_detail(a: Api) -> None:
    for r in (a.get("/v1/traffic/zones/none"), a.get("/v1/jobs/none"),
              a.client.post("/v1/traffic/reports", content=b"{not json",
                            headers={**a.h("operator"), "content-type": "application/json"})):  # fmt: skip
        assert 400 <= r.status_code < 500
        assert "detail" in r.json()
