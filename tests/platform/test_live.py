"""The live hub: filters, bounded drop-oldest queues, thread-safe publish into asyncio.

Expected deliveries are worked out by hand from the items (which are inside the bbox,
of which kind, owned by whom), never by calling the filter code under test.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from kongtian.errors import ConfigError
from kongtian.platform.live import Hub, in_bbox, parse_bbox
from kongtian.platform.service import redact_public

BBOX = (106.0, 29.0, 107.0, 30.0)  # lon_min, lat_min, lon_max, lat_max (Chongqing)


def track(oid: str, lat: float | None, lon: float | None, owner: str | None = None) -> dict:
    return {
        "object_id": oid,
        "kind": oid.split(":", 1)[0],
        "lat_deg": lat,
        "lon_deg": lon,
        "owner": owner,
        "time_utc": "2026-03-01T06:00:00.000Z",
    }


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _collect(sub: Any, n: int, timeout: float = 2.0) -> list[dict]:
    out = []
    for _ in range(n):
        msg = await sub.get(timeout=timeout)
        if msg is None:
            break
        out.append(msg)
    return out


def test_bbox_kind_owner_filters() -> None:
    async def main() -> None:
        hub = Hub()
        by_bbox = hub.subscribe(topics={"tracks"}, bbox=BBOX)
        by_kind = hub.subscribe(kinds=["uas"])
        by_owner = hub.subscribe(owner="fleet-a")
        items = [
            track("uas:a", 29.5, 106.5, "fleet-a"),  # in bbox
            track("icao24:abc", 29.9, 106.9, "fleet-b"),  # in bbox
            track("uas:b", 31.0, 106.5, "fleet-b"),  # north of the bbox
            track("mmsi:1", None, None, "fleet-a"),  # no position
            track("uas:c", 30.0, 107.0),  # on the NE corner: edges are inside
        ]
        hub.publish("tracks", items)
        alert = {"alert_id": "x", "kind": "zone_violation", "object_id": "uas:b"}
        alert |= {"lat_deg": 31.0, "lon_deg": 106.5, "owners": ["fleet-b", "fleet-a"]}
        hub.publish("alerts", [alert])

        got = await _collect(by_bbox, 10, timeout=0.2)
        assert [m["data"]["object_id"] for m in got] == ["uas:a", "icao24:abc", "uas:c"]
        assert {m["topic"] for m in got} == {"tracks"}
        got = await _collect(by_kind, 10, timeout=0.2)
        assert [m["data"]["object_id"] for m in got] == ["uas:a", "uas:b", "uas:c", "uas:b"]
        assert got[-1]["topic"] == "alerts"
        got = await _collect(by_owner, 10, timeout=0.2)
        # the alert involves a fleet-a object as the other party, so fleet-a sees it
        assert [m["data"]["object_id"] for m in got] == ["uas:a", "mmsi:1", "uas:b"]

    run(main())


def test_alert_kind_filter_and_topics() -> None:
    async def main() -> None:
        hub = Hub()
        sub = hub.subscribe(topics=["alerts"], alert_kinds=["loss_of_separation"])
        hub.publish("tracks", [track("uas:a", 29.5, 106.5)])
        hub.publish(
            "alerts",
            [
                {"kind": "zone_violation", "object_id": "uas:a"},
                {"kind": "loss_of_separation", "object_id": "uas:a", "other_id": "uas:b"},
            ],
        )
        got = await _collect(sub, 5, timeout=0.2)
        assert [m["data"]["kind"] for m in got] == ["loss_of_separation"]

    run(main())


def test_overflow_drops_oldest_and_counts() -> None:
    async def main() -> None:
        hub = Hub()
        slow = hub.subscribe(maxsize=3)
        fast = hub.subscribe(maxsize=100)
        for i in range(10):
            hub.publish("tracks", [track(f"uas:{i}", 29.5, 106.5)])
        assert slow.dropped == 7 and fast.dropped == 0
        got = await _collect(slow, 10, timeout=0.1)
        assert [m["data"]["object_id"] for m in got] == ["uas:7", "uas:8", "uas:9"]
        assert len(await _collect(fast, 20, timeout=0.1)) == 10
        assert hub.metrics()["stream_dropped"] == 7

    run(main())


def test_publish_from_other_threads_wakes_subscriber() -> None:
    async def main() -> None:
        hub = Hub()
        sub = hub.subscribe(maxsize=10_000)
        n_threads, per = 4, 250

        def worker(k: int) -> None:
            for i in range(per):
                hub.publish("tracks", [track(f"uas:{k}-{i}", 29.5, 106.5)])

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_threads)]
        for t in threads:
            t.start()
        got = await _collect(sub, n_threads * per, timeout=5.0)
        for t in threads:
            t.join()
        ids = [m["data"]["object_id"] for m in got]
        assert len(ids) == n_threads * per == len(set(ids))
        for k in range(n_threads):  # each publisher's order is kept
            mine = [int(i.split("-")[1]) for i in ids if i.startswith(f"uas:{k}-")]
            assert mine == list(range(per))

    run(main())


def test_public_subscription_is_redacted_and_items_shared_untouched() -> None:
    async def main() -> None:
        hub = Hub()
        public = hub.subscribe(public=True)
        full = hub.subscribe()
        item = track("uas:a", 29.5, 106.5, "fleet-a")
        item |= {"operator_id": "CHN-OP-1", "self_id": "survey"}
        item["operator_lat_deg"], item["operator_lon_deg"] = 29.4, 106.4
        hub.publish("tracks", [item])
        (p,) = await _collect(public, 1)
        (f,) = await _collect(full, 1)
        for k in ("operator_id", "self_id", "operator_lat_deg", "operator_lon_deg", "owner"):
            assert k not in p["data"]
            assert k in f["data"]
        assert p["data"]["object_id"] == "uas:a"

    run(main())


def test_close_ends_async_iteration_and_unsubscribes() -> None:
    async def main() -> None:
        hub = Hub()
        sub = hub.subscribe()
        hub.publish("tracks", [track("uas:a", 29.5, 106.5)])

        async def consume() -> list[str]:
            return [m["data"]["object_id"] async for m in sub]

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.05)
        sub.close()
        assert await asyncio.wait_for(task, 2.0) == ["uas:a"]
        assert hub.subscriptions == []
        hub.publish("tracks", [track("uas:b", 29.5, 106.5)])  # nobody left: no error

    run(main())


def test_get_times_out_with_none() -> None:
    async def main() -> None:
        sub = Hub().subscribe()
        assert await sub.get(timeout=0.05) is None

    run(main())


def test_bad_filters_are_config_errors() -> None:
    async def main() -> None:
        hub = Hub()
        with pytest.raises(ConfigError, match="topics"):
            hub.subscribe(topics=["positions"])
        with pytest.raises(ConfigError, match="bbox"):
            hub.subscribe(bbox=(106.0, 31.0, 107.0, 30.0))
        with pytest.raises(ConfigError, match="maxsize"):
            hub.subscribe(maxsize=0)
        with pytest.raises(ConfigError, match="topic"):
            hub.publish("positions", [{}])

    run(main())


def test_parse_bbox_and_antimeridian() -> None:
    assert parse_bbox("106,29,107,30.5") == (106.0, 29.0, 107.0, 30.5)
    assert parse_bbox(None) is None
    for bad in ("106,29,107", "a,b,c,d", "106,29,200,30"):
        with pytest.raises(ConfigError, match="bbox"):
            parse_bbox(bad)
    wrap = (170.0, -10.0, -170.0, 10.0)
    assert in_bbox(0.0, 175.0, wrap) and in_bbox(0.0, -175.0, wrap)
    assert not in_bbox(0.0, 0.0, wrap)
    assert not in_bbox(float("nan"), 175.0, wrap)


def test_redact_public_inside_extras() -> None:
    row = {"object_id": "uas:a", "extras": '{"operator_id": "OP1", "ua_type": 2}'}
    assert redact_public(row)["extras"] == '{"ua_type": 2}'
    row2 = {"object_id": "uas:a", "extras": {"self_id": "x", "uas_id": "SN1"}}
    assert redact_public(row2)["extras"] == {"uas_id": "SN1"}
    assert row2["extras"] == {"self_id": "x", "uas_id": "SN1"}  # input untouched
