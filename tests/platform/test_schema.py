"""The OpenAPI contract, checked against the running app (acceptance item of issue 4).

1. schemathesis generates requests for every operation from ``/openapi.json`` and sends
   them with each role's key: no response may be a 5xx, and every response must conform
   to what the schema declares for it (status code, content type, headers, body schema).
   A role lacking the operation's permission must get 403 on every request. The share of
   2xx per operation and role is printed (run with ``pytest -s``).
2. Every write without a key is refused with 401, and with each too-weak role with 403.
3. A valid request for every operation succeeds (2xx) with every role allowed to do it.

The permission of each operation is read from the app's routes (the ``require_<perm>``
dependency), so a route added without the right dependency shows up here.
"""

from __future__ import annotations

import traceback
import uuid
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from kongtian.platform.auth import PERMISSIONS, ROLES
from tests.platform._api_helpers import Api, api, report, volume, zone_feature

MAX_EXAMPLES = 12  # per operation and role: ~1,300 requests in all
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
WRITE_METHODS = ("POST", "PUT", "DELETE", "PATCH")
_SHARES: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])  # (op, role) -> [2xx, n]


@pytest.fixture(scope="module")
def a(tmp_path_factory: pytest.TempPathFactory):
    # Jobs the fuzzer manages to start stay tiny: the limit fails them at once.
    with api(tmp_path_factory.mktemp("schema"), job_max_elements=1000) as x:
        yield x


def _permissions(a: Api) -> dict[str, str | None]:
    """operationId -> the permission its route requires (None: no key needed)."""
    out: dict[str, str | None] = {}
    for route in _routes(a.app.routes):
        op_id = getattr(route, "operation_id", None)
        if op_id is None:
            continue
        perm = None
        for dep in route.dependant.dependencies:  # type: ignore[attr-defined]
            name = getattr(dep.call, "__name__", "")
            if name.startswith("require_"):
                perm = name.removeprefix("require_")
        out[op_id] = perm
    return out


def _routes(routes: Any) -> Any:
    """Every route, descending into included routers (FastAPI keeps them nested)."""
    for r in routes:
        inner = getattr(r, "original_router", None)
        if inner is not None:
            yield from _routes(inner.routes)
        else:
            yield r


def _operations(a: Api) -> list[Any]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", a.app)
    ops = [r.ok() for r in schema.get_all_operations()]
    # The SSE stream never ends by design; the stream tests (H2) cover it.
    return [op for op in ops if "/stream/" not in op.path]


def _op_id(op: Any) -> str:
    return str(op.definition.raw["operationId"])


def test_every_operation_has_an_id_and_a_permission(a: Api) -> None:
    perms = _permissions(a)
    ops = _operations(a)
    assert len(ops) >= 25
    for op in ops:
        op_id = _op_id(op)
        assert op_id in perms, op_id
        if op.path.startswith("/v1/"):
            assert perms[op_id] in PERMISSIONS, f"{op_id} has no require_<permission>"
        else:
            assert op.path in ("/health", "/metrics")


@pytest.mark.parametrize("role", ROLES)
def test_schemathesis_with_each_role(a: Api, role: str) -> None:
    perms = _permissions(a)
    headers = a.h(role)
    problems: list[str] = []
    for op in _operations(a):
        op_id = _op_id(op)
        perm = perms[op_id]
        allowed = perm is None or role in PERMISSIONS[perm]
        share = _SHARES[(op_id, role)]

        check = _checker(op_id, allowed, share, headers)
        # the schema's own examples first (valid requests), then generated ones
        examples = op.get_strategies_from_examples()
        runs = [(op.as_strategy(), MAX_EXAMPLES)]
        if examples:
            runs.insert(0, (st.one_of(examples), len(examples)))
        for strategy, n in runs:
            run = settings(
                max_examples=n,
                deadline=None,
                derandomize=True,
                database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )(given(case=strategy)(check))
            try:
                run()
            except Exception as exc:  # collect every operation's failure, then fail once
                where = "".join(traceback.format_tb(exc.__traceback__)[-4:])
                problems.append(f"{op_id}: {type(exc).__name__}: {exc}\n{where}")
    _print_shares(role)
    assert not problems, "\n\n".join(problems)


def _checker(
    op_id: str, allowed: bool, share: list[int], headers: dict[str, str]
) -> Callable[[Any], None]:
    def check(case: Any) -> None:
        response = case.call(headers=headers)
        case.validate_response(response, checks=CHECKS, headers=headers)
        share[0] += 200 <= response.status_code < 300
        share[1] += 1
        if not allowed:
            assert response.status_code == 403, (op_id, response.status_code, response.text)

    return check


def _print_shares(role: str) -> None:
    print(f"\nschemathesis, role {role}: share of 2xx per operation")
    for (op_id, r), (ok, n) in sorted(_SHARES.items()):
        if r == role and n:
            print(f"  {op_id:<24} {ok:>3}/{n:<3} = {ok / n:5.0%}")


def _fill(path: str) -> str:
    """A concrete path for a template (ids that may or may not exist)."""
    import re

    return re.sub(r"\{[^}]+\}", "x1", path)


def test_every_write_without_key_is_401_and_too_weak_role_403(a: Api) -> None:
    perms = _permissions(a)
    writes = [op for op in _operations(a) if op.method.upper() in WRITE_METHODS]
    assert len(writes) >= 14
    for op in writes:
        op_id, path = _op_id(op), _fill(op.path)
        r = a.client.request(op.method.upper(), path, json={})
        assert r.status_code == 401, (op_id, r.status_code, r.text)
        r = a.client.request(op.method.upper(), path, json={}, headers={"X-API-Key": "kt_nokey"})
        assert r.status_code == 401, (op_id, r.status_code)
        perm = perms[op_id]
        assert perm is not None
        weak = [role for role in ROLES if role not in PERMISSIONS[perm]]
        assert "public" in weak, f"{op_id}: the public role must not write"
        for role in weak:
            r = a.client.request(op.method.upper(), path, json={}, headers=a.h(role))
            assert r.status_code == 403, (op_id, role, r.status_code, r.text)


# ------------------------------------------------------------------ valid requests
def _conforms(op: Any, response: Any) -> None:
    """The response's status and content type are declared and its body fits the schema
    (the fuzzer above rarely reaches success responses of operations on existing ids)."""
    declared = op.definition.raw["responses"]
    assert str(response.status_code) in declared, (_op_id(op), response.status_code)
    media = response.headers.get("content-type", "").split(";")[0].strip()
    content = declared[str(response.status_code)].get("content", {})
    assert not content or media in content, (_op_id(op), media, sorted(content))
    op.validate_response(response)


Step = tuple[str, str, str, dict[str, Any]]  # operationId, method, path, request kwargs


def _valid_requests(a: Api, role: str) -> list[Step | Callable[[], list[Step]]]:
    """One valid request per operation for ``role``, in an order that makes each valid."""
    s = uuid.uuid4().hex[:8]
    zone, intent, t = f"z-{s}", f"op-{s}", "2025-03-01T00:00:00Z"
    vol = volume(100 + int(s[:2], 16) / 10, 20.0, "2025-03-01T01:00:00Z", "2025-03-01T02:00:00Z")
    # an alert to acknowledge: a report inside a fresh no-fly zone, ingested by the role
    # itself when it may (so an operator's alert is about its own fleet)
    feeder = role if role in PERMISSIONS["ingest"] else "admin"
    a.post("/v1/traffic/zones", "admin", json={**zone_feature(f"nf-{s}"),
           "geometry": {"type": "Point", "coordinates": [120.0, 40.0]},
           "properties": {"kind": "no-fly", "radius_m": 500}})  # fmt: skip
    a.post("/v1/traffic/reports", feeder,
           json=[report(f"uas:{s}", t, 40.0, 120.0, source="remoteid-net")])  # fmt: skip
    alert_id = next(x["alert_id"] for x in a.get("/v1/traffic/alerts").json()["alerts"]
                    if x["object_id"] == f"uas:{s}")  # fmt: skip
    # a finished job to download from, started by the role when it may (jobs are private)
    starter = role if role in PERMISSIONS["space_jobs"] else "admin"
    job_id = a.post("/v1/space/jobs/passes", starter, json={
        "catalog": "qianfan", "start_utc": "2026-02-20T00:00:00Z", "hours": 0.05,
        "sites": [{"lat_deg": 29.5, "lon_deg": 106.5}]}).json()["id"]  # fmt: skip
    import time

    deadline = time.monotonic() + 30
    while a.get(f"/v1/jobs/{job_id}").json()["state"] not in ("done", "failed"):
        assert time.monotonic() < deadline, "the seed job did not finish"
        time.sleep(0.05)
    key_id = a.post("/v1/admin/keys", json={"role": "public", "label": s}).json()["key_id"]
    tle = Path(__file__).resolve().parents[1] / "data" / "celestrak_gp_55123_mario.tle"
    job_body = {"catalog": "qianfan", "start_utc": "2026-02-20T00:00:00Z", "hours": 0.01}
    return [
        ("get_health", "GET", "/health", {}),
        ("get_metrics", "GET", "/metrics", {}),
        ("ingest_reports", "POST", "/v1/traffic/reports",
         {"json": [report(f"icao24:{s[:6]}", t, 29.5, 106.5)]}),
        ("list_tracks", "GET", "/v1/traffic/tracks", {"params": {"bbox": "100,20,110,35"}}),
        ("get_track_history", "GET", f"/v1/traffic/tracks/uas:{s}/history", {}),
        ("create_zone", "POST", "/v1/traffic/zones", {"json": zone_feature(zone)}),
        ("list_zones", "GET", "/v1/traffic/zones", {}),
        ("get_zone", "GET", f"/v1/traffic/zones/{zone}", {}),
        ("update_zone", "PUT", f"/v1/traffic/zones/{zone}",
         {"json": zone_feature(zone, kind="restricted"), "params": {"version": 1}}),
        ("delete_zone", "DELETE", f"/v1/traffic/zones/{zone}", {"params": {"version": 2}}),
        ("submit_intent", "POST", "/v1/traffic/intents", {"json": {"id": intent, "volumes": [vol]}}),
        ("list_intents", "GET", "/v1/traffic/intents", {}),
        ("get_intent", "GET", f"/v1/traffic/intents/{intent}", {}),
        ("activate_intent", "POST", f"/v1/traffic/intents/{intent}/activate", {"json": {"version": 1}}),
        ("end_intent", "POST", f"/v1/traffic/intents/{intent}/end", {}),
        ("list_alerts", "GET", "/v1/traffic/alerts", {}),
        ("get_alert", "GET", f"/v1/traffic/alerts/{alert_id}", {}),
        ("ack_alert", "POST", f"/v1/traffic/alerts/{alert_id}/ack", {}),
        ("upload_catalog", "POST", "/v1/space/catalogs",
         {"json": {"name": f"c-{s}", "text": tle.read_text()}}),
        ("list_catalogs", "GET", "/v1/space/catalogs", {}),
        ("start_propagate_job", "POST", "/v1/space/jobs/propagate", {"json": job_body}),
        ("start_passes_job", "POST", "/v1/space/jobs/passes",
         {"json": {**job_body, "sites": [{"lat_deg": 29.5, "lon_deg": 106.5}]}}),
        ("start_coverage_job", "POST", "/v1/space/jobs/coverage", {"json": {**job_body, "grid_deg": 1}}),
        ("list_jobs", "GET", "/v1/jobs", {}),
        ("get_job", "GET", f"/v1/jobs/{job_id}", {}),
        ("get_job_result", "GET", f"/v1/jobs/{job_id}/result/passes.csv", {}),
        ("create_key", "POST", "/v1/admin/keys", {"json": {"role": "operator", "owner": s}}),
        ("list_keys", "GET", "/v1/admin/keys", {}),
        ("revoke_key", "DELETE", f"/v1/admin/keys/{key_id}", {}),
        ("list_audit", "GET", "/v1/admin/audit", {}),
        ("list_quarantine", "GET", "/v1/admin/quarantine", {}),
        ("apply_retention", "POST", "/v1/admin/retention", {}),
    ]  # fmt: skip


@pytest.mark.parametrize("role", ROLES)
def test_valid_requests_with_sufficient_role_succeed(a: Api, role: str) -> None:
    perms = _permissions(a)
    steps = _valid_requests(a, role)
    covered = {s[0] for s in steps}  # type: ignore[index]
    assert covered == {_op_id(op) for op in _operations(a)}, "an operation has no valid example"
    ops = {_op_id(op): op for op in _operations(a)}
    results = []
    for op_id, method, path, kw in steps:  # type: ignore[misc]
        perm = perms[op_id]
        allowed = perm is None or role in PERMISSIONS[perm]
        headers = {**kw.pop("headers", {}), **a.h(role)}
        r = a.client.request(method, path, headers=headers, **kw)
        _conforms(ops[op_id], r)
        results.append((op_id, r.status_code))
        if allowed:
            assert 200 <= r.status_code < 300, (role, op_id, r.status_code, r.text)
        else:
            assert r.status_code == 403, (role, op_id, r.status_code, r.text)
            # do it as admin so the later steps find the state they need
            r = a.client.request(method, path, headers={**headers, **a.h("admin")}, **kw)
            _conforms(ops[op_id], r)
            assert 200 <= r.status_code < 300, ("admin", op_id, r.status_code, r.text)
    print(f"\nvalid requests, role {role}: " + ", ".join(f"{o}={c}" for o, c in results))


def test_conformance_check_catches_a_wrong_response(a: Api) -> None:
    """_conforms is not vacuous: a body that breaks the declared schema fails it."""
    import httpx

    ops = {_op_id(op): op for op in _operations(a)}
    good = a.client.get("/health")
    _conforms(ops["get_health"], good)
    req = httpx.Request("GET", "http://testserver/health")
    bad = httpx.Response(200, json={**good.json(), "status": 5}, request=req)
    undeclared = httpx.Response(418, json={"detail": "teapot"}, request=req)
    for r in (bad, undeclared):
        r.elapsed = good.elapsed  # set on real responses only
    with pytest.raises(BaseException) as e:  # schemathesis raises an exception group
        _conforms(ops["get_health"], bad)
    assert "5 is not one of" in "".join(traceback.format_exception(e.value))
    with pytest.raises(AssertionError):
        _conforms(ops["get_health"], undeclared)


def test_error_responses_conform(a: Api) -> None:
    """Known 404/409/422 answers (which random ids and bodies rarely reach) fit the schema."""
    ops = {_op_id(op): op for op in _operations(a)}
    s = uuid.uuid4().hex[:8]
    zone, vol = zone_feature(f"e-{s}"), volume(90.0, 10.0, "2025-05-01T01:00:00Z",
                                               "2025-05-01T02:00:00Z")  # fmt: skip
    calls = [
        ("create_zone", "POST", "/v1/traffic/zones", {"json": zone}, 201),
        ("create_zone", "POST", "/v1/traffic/zones", {"json": zone}, 409),
        ("update_zone", "PUT", f"/v1/traffic/zones/e-{s}", {"json": zone, "params": {"version": 7}}, 409),
        ("update_zone", "PUT", f"/v1/traffic/zones/none-{s}", {"json": zone, "params": {"version": 1}}, 404),
        ("create_zone", "POST", "/v1/traffic/zones",
         {"json": {**zone, "id": f"f-{s}", "properties": {"kind": "nope"}}}, 422),
        ("submit_intent", "POST", "/v1/traffic/intents", {"json": {"id": f"i-{s}", "volumes": [vol]}}, 201),
        ("submit_intent", "POST", "/v1/traffic/intents", {"json": {"id": f"j-{s}", "volumes": [vol]}}, 409),
        ("submit_intent", "POST", "/v1/traffic/intents", {"json": {"id": f"i-{s}", "volumes": [vol]}}, 409),
        ("end_intent", "POST", f"/v1/traffic/intents/j-{s}/end", {}, 409),
        ("get_job", "GET", f"/v1/jobs/job_{s}", {}, 404),
        ("get_job_result", "GET", f"/v1/jobs/job_{s}/result/x.nc", {}, 404),
        ("ack_alert", "POST", f"/v1/traffic/alerts/a-{s}/ack", {}, 404),
        ("start_propagate_job", "POST", "/v1/space/jobs/propagate",
         {"json": {"catalog": f"c-{s}", "start_utc": "2026-02-20T00:00:00Z", "hours": 1}}, 404),
        ("upload_catalog", "POST", "/v1/space/catalogs", {"json": {"name": f"c-{s}", "text": "1 bad"}}, 422),
        ("list_tracks", "GET", "/v1/traffic/tracks", {"params": {"bbox": "1,2,3"}}, 422),
        ("revoke_key", "DELETE", f"/v1/admin/keys/key_{s}", {}, 404),
    ]  # fmt: skip
    for op_id, method, path, kw, status in calls:
        r = a.client.request(method, path, headers=a.h("admin"), **kw)
        assert r.status_code == status, (op_id, r.status_code, r.text)
        _conforms(ops[op_id], r)
        if r.status_code >= 400:
            assert r.json()["detail"]
