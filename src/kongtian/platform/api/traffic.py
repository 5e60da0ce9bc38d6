"""``/v1/traffic``: report ingest, tracks, history, zones, operational intents, alerts.

Ingest (``POST /v1/traffic/reports``) takes either a JSON list of normalised reports or
raw feed messages ``{"format": ..., "payloads": [...]}``. A list is validated as a whole
first (422 naming the index and field of the first bad report, nothing stored): an HTTP
client is there to fix it. Raw messages are decoded one by one; malformed ones go to the
quarantine with their reason and are counted in ``rejected``, the good ones are stored.
The response comes after the commit, so a 200 means stored.

Operators see only their own fleet (reports and tracks ingested with their key's owner,
alerts about those objects, their own intents); the public role gets Remote ID operator
data withheld. Zones and intents are versioned: updates name the version they replace
and get 409 when it is stale.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import numpy as np
import pyarrow as pa
from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse

from kongtian.errors import ConfigError, FormatError, NotFound
from kongtian.platform.api.common import (
    errors,
    now_utc,
    redact_for,
    service_of,
    table_records,
)
from kongtian.platform.api.models import (
    NAME_PATTERN,
    Alert,
    AlertList,
    ErrorResponse,
    IngestResponse,
    Intent,
    IntentIn,
    IntentList,
    IntentRejected,
    IntentResult,
    IntentStateIn,
    RawBatchIn,
    ReportIn,
    Track,
    TrackHistory,
    TrackList,
    Zone,
    ZoneFeature,
    ZoneList,
)
from kongtian.platform.auth import Principal, audit, require
from kongtian.platform.live import parse_bbox, parse_names

router = APIRouter(prefix="/v1/traffic", tags=["traffic"])

Reader = Annotated[Principal, Depends(require("read"))]
BBoxQ = Annotated[
    str | None,
    Query(description="lon_min,lat_min,lon_max,lat_max (WGS84 degrees)", max_length=200),
]
KindsQ = Annotated[
    str | None, Query(description="object kinds, comma-separated (icao24,mmsi,uas ...)")
]
# Path examples name the resources the request-body examples create, so a client
# generator (or schemathesis) following the examples reaches existing ones.
ZoneId = Annotated[str, Path(max_length=64, examples=["example-zone"])]
IntentId = Annotated[str, Path(max_length=64, examples=["example-intent"])]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: columns the store adds itself; a client may not send them as extras
_RESERVED = frozenset({"owner", "received_utc", "extras"})
_EXTRA_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_US = timedelta(microseconds=1)


# --------------------------------------------------------------------------- ingest
def _reports_table(reports: list[ReportIn]) -> pa.Table:
    """Validated reports -> an Arrow batch (core columns + extras as columns)."""
    from kongtian.model.report import CORE_FIELDS, report_table

    # attribute access, not model_dump: this runs per report on the ingest path
    cols: dict[str, list[Any]] = {f: [getattr(r, f) for r in reports] for f in CORE_FIELDS}
    extra_names: dict[str, None] = {}
    for r in reports:
        if r.__pydantic_extra__:
            extra_names.update(dict.fromkeys(r.__pydantic_extra__))
    rows = [r.__pydantic_extra__ or {} for r in reports]
    # int64 ns since 1970 (pydantic has already required a zone on every time)
    cols["time_utc"] = np.array(  # type: ignore[assignment]
        [(t - _EPOCH) // _US * 1000 for t in cols["time_utc"]], dtype=np.int64
    )
    extras: dict[str, Any] = {}
    for name in extra_names:
        if name in _RESERVED or not _EXTRA_NAME.match(name):
            raise ConfigError(
                f"extra field {name!r} is reserved or not a lower-case identifier",
                option=name,
            )
        values = [r.get(name) for r in rows]
        scalar = all(v is None or isinstance(v, bool | int | float | str) for v in values)
        try:
            if not scalar:
                raise TypeError(name)
            extras[name] = pa.array(values, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError):
            # objects, mixed types or integers beyond int64: keep the values as JSON text
            extras[name] = pa.array(
                [None if v is None else json.dumps(v, ensure_ascii=False) for v in values]
            )
    try:
        return report_table(cols, extras)
    except (ValueError, OverflowError, pa.ArrowException) as exc:
        raise FormatError(f"reports: {exc}") from None


def _payload_bytes(batch: RawBatchIn) -> list[bytes]:
    out = []
    for i, p in enumerate(batch.payloads):
        try:
            if batch.encoding == "text":
                out.append(p.encode("utf-8"))
            elif batch.encoding == "base64":
                out.append(base64.b64decode(p, validate=True))
            else:
                out.append(bytes.fromhex(p))
        except (ValueError, binascii.Error):
            raise HTTPException(422, f"payloads[{i}]: not valid {batch.encoding}") from None
    return out


@router.post(
    "/reports",
    operation_id="ingest_reports",
    summary="Ingest a batch of normalised reports or raw feed messages",
    response_model=IngestResponse,
    responses=errors(),
)
def ingest_reports(
    request: Request,
    body: Annotated[list[ReportIn] | RawBatchIn, Body()],
    p: Annotated[Principal, Depends(require("ingest"))],
) -> IngestResponse:
    svc = service_of(request)
    limit = request.app.state.settings.max_batch_reports
    if isinstance(body, list):
        if len(body) > limit:
            raise HTTPException(422, f"batch of {len(body)} reports exceeds {limit}")
        res = svc.ingest_reports(_reports_table(body), owner=p.owner, origin="http")
        what: dict[str, Any] = {"reports": len(body)}
    else:
        if len(body.payloads) > limit:
            raise HTTPException(422, f"batch of {len(body.payloads)} payloads exceeds {limit}")
        ref = None
        if body.ref_lat_deg is not None and body.ref_lon_deg is not None:
            ref = (body.ref_lat_deg, body.ref_lon_deg)
        res = svc.ingest_raw(
            body.format, _payload_bytes(body), owner=p.owner, origin="http", ref=ref
        )
        what = {"format": body.format, "payloads": len(body.payloads)}
    out = IngestResponse(
        accepted=res.accepted, duplicates=res.duplicates, rejected=res.rejected, alerts=res.alerts
    )
    audit(request, p, "ingest_reports", "reports", {**what, **out.model_dump()})
    return out


# --------------------------------------------------------------------------- tracks
@router.get(
    "/tracks",
    operation_id="list_tracks",
    summary="Live fused tracks, filtered by bbox, kinds and staleness",
    response_model=TrackList,
    responses=errors(),
)
def list_tracks(
    request: Request,
    p: Reader,
    bbox: BBoxQ = None,
    kinds: KindsQ = None,
    stale_s: Annotated[
        float | None, Query(gt=0, le=1e7, description="leave out tracks silent for longer (s)")
    ] = None,
) -> TrackList:
    svc = service_of(request)
    items = svc.tracks(
        bbox=parse_bbox(bbox),
        kinds=parse_names(kinds, "kinds"),
        owner=p.owner_filter,
        stale_s=stale_s,
    )
    tracks = [Track.model_validate(it) for it in redact_for(request, p, items)]
    return TrackList(count=len(tracks), tracks=tracks)


@router.get(
    "/tracks/{object_id}/history",
    operation_id="get_track_history",
    summary="Stored reports of one object, by time",
    response_model=TrackHistory,
    responses=errors(),
)
def get_track_history(
    request: Request,
    p: Reader,
    object_id: Annotated[str, Path(max_length=200)],
    start: Annotated[datetime | None, Query(description="inclusive, ISO 8601 UTC")] = None,
    end: Annotated[datetime | None, Query(description="exclusive, ISO 8601 UTC")] = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
) -> TrackHistory:
    svc = service_of(request)
    start, end = _aware(start, "start"), _aware(end, "end")
    table = svc.track_history(object_id, start=start, end=end, owner=p.owner_filter, limit=limit)
    rows = redact_for(request, p, table_records(table))
    return TrackHistory(object_id=object_id, count=len(rows), reports=rows)  # type: ignore[arg-type]


def _aware(t: datetime | None, option: str) -> datetime | None:
    """A query time as aware UTC (naive = UTC), in the storable range (else 422)."""
    from kongtian.platform.api.models import check_time_range

    if t is None:
        return None
    t = t if t.tzinfo is not None else t.replace(tzinfo=UTC)
    try:
        return check_time_range(t)
    except ValueError as exc:
        raise ConfigError(str(exc), option=option) from None


# --------------------------------------------------------------------------- zones
def _zone_out(feature: dict[str, Any], version: int) -> Zone:
    return Zone(id=str(feature.get("id")), version=version, feature=feature)


def _validated_feature(body: ZoneFeature, zone_id: str | None) -> dict[str, Any]:
    """A GeoJSON zone feature checked by :mod:`kongtian.traffic.zones` (422 naming the field)."""
    from kongtian.traffic.zones import ZoneSet

    feature = body.model_dump(exclude_none=False)
    props = dict(feature.get("properties") or {})
    fid = feature.get("id") or props.get("id")
    if zone_id is not None:
        if fid is not None and str(fid) != zone_id:
            raise ConfigError(
                f"feature id {fid!r} differs from the path's {zone_id!r}", option="id"
            )
        fid = zone_id
    if fid is None:
        raise ConfigError("a zone needs an id (feature id or properties.id)", option="id")
    fid = str(fid)
    if not re.match(NAME_PATTERN, fid):
        raise ConfigError(f"zone id {fid!r} must match {NAME_PATTERN}", option="id")
    feature["id"] = fid
    props["id"] = fid
    feature["properties"] = props
    try:
        ZoneSet.from_geojson(feature)
    except FormatError as exc:
        # The zones module says "feature 0: property 'x': ..."; the index means nothing here.
        msg = str(exc).removeprefix("feature 0: ")
        raise FormatError(f"zone {fid!r}: {msg}") from None
    return feature


@router.get(
    "/zones",
    operation_id="list_zones",
    summary="Every zone with its version",
    response_model=ZoneList,
    responses=errors(),
)
def list_zones(request: Request, p: Reader) -> ZoneList:
    zones = [_zone_out(f, v) for f, v in service_of(request).store.list_zones()]
    return ZoneList(count=len(zones), zones=zones)


@router.post(
    "/zones",
    operation_id="create_zone",
    summary="Create a zone (GeoJSON Feature); 409 if the id exists",
    status_code=201,
    response_model=Zone,
    responses=errors(409),
)
def create_zone(
    request: Request,
    body: ZoneFeature,
    p: Annotated[Principal, Depends(require("zones_write"))],
) -> Zone:
    svc = service_of(request)
    feature = _validated_feature(body, None)
    version = svc.store.put_zone(feature, expected_version=0)
    svc.reload_zones()
    audit(request, p, "create_zone", f"zone:{feature['id']}", {"version": version})
    return _zone_out(feature, version)


@router.get(
    "/zones/{zone_id}",
    operation_id="get_zone",
    summary="One zone with its version",
    response_model=Zone,
    responses=errors(404),
)
def get_zone(request: Request, p: Reader, zone_id: ZoneId) -> Zone:
    feature, version = service_of(request).store.get_zone(zone_id)
    return _zone_out(feature, version)


@router.put(
    "/zones/{zone_id}",
    operation_id="update_zone",
    summary="Replace a zone; `version` must be the current one (409 if stale)",
    response_model=Zone,
    responses=errors(404, 409),
)
def update_zone(
    request: Request,
    body: ZoneFeature,
    p: Annotated[Principal, Depends(require("zones_write"))],
    zone_id: ZoneId,
    version: Annotated[int, Query(ge=1, description="the version being replaced", examples=[1])],
) -> Zone:
    svc = service_of(request)
    svc.store.get_zone(zone_id)  # 404 before 409 for an unknown zone
    feature = _validated_feature(body, zone_id)
    new_version = svc.store.put_zone(feature, expected_version=version)
    svc.reload_zones()
    audit(request, p, "update_zone", f"zone:{zone_id}", {"version": new_version})
    return _zone_out(feature, new_version)


@router.delete(
    "/zones/{zone_id}",
    operation_id="delete_zone",
    summary="Delete a zone; `version` must be the current one (409 if stale)",
    response_model=Zone,
    responses=errors(404, 409),
)
def delete_zone(
    request: Request,
    p: Annotated[Principal, Depends(require("zones_write"))],
    zone_id: ZoneId,
    version: Annotated[int, Query(ge=1, description="the version being deleted")],
) -> Zone:
    svc = service_of(request)
    feature, _ = svc.store.get_zone(zone_id)
    svc.store.delete_zone(zone_id, expected_version=version)
    svc.reload_zones()
    audit(request, p, "delete_zone", f"zone:{zone_id}", {"version": version})
    return _zone_out(feature, version)


# --------------------------------------------------------------------------- intents
def _intent_out(d: dict[str, Any], version: int | None = None) -> Intent:
    d = dict(d)
    if version is not None:
        d["version"] = version
    d.setdefault("version", 0)
    return Intent.model_validate(d)


def _intent_for(request: Request, p: Principal, intent_id: str) -> tuple[dict[str, Any], int]:
    d, version = service_of(request).store.get_intent(intent_id)
    if not p.sees_all and d.get("owner") != p.owner:
        raise NotFound(f"no intent {intent_id!r}")  # other fleets' intents are invisible
    return d, version


@router.post(
    "/intents",
    operation_id="submit_intent",
    summary="Submit an operational intent: 201 Accepted, or 409 with the conflicting intents",
    status_code=201,
    response_model=IntentResult,
    responses={
        **errors(),
        409: {
            "model": IntentRejected | ErrorResponse,
            "description": "Rejected (with the conflicting intents), or the id exists",
        },
    },
)
def submit_intent(
    request: Request,
    body: IntentIn,
    p: Annotated[Principal, Depends(require("intents_own"))],
) -> Any:
    svc = service_of(request)
    d = body.model_dump(mode="json", exclude_none=True)
    owner = p.owner or p.key_id
    stored, conflicts = svc.submit_intent(d, owner=owner)
    audit(request, p, "submit_intent", f"intent:{stored['id']}",
          {"state": stored.get("state"), "conflicts": conflicts})  # fmt: skip
    intent = _intent_out(stored)
    if conflicts:
        rejected = IntentRejected(
            detail=f"intent {stored['id']!r} conflicts with {', '.join(conflicts)}",
            intent=intent,
            conflicts=conflicts,
        )
        return JSONResponse(rejected.model_dump(mode="json"), status_code=409)
    return IntentResult(intent=intent, conflicts=[])


@router.get(
    "/intents",
    operation_id="list_intents",
    summary="Operational intents (operators: their own)",
    response_model=IntentList,
    responses=errors(),
)
def list_intents(
    request: Request,
    p: Reader,
    states: Annotated[str | None, Query(description="comma-separated states")] = None,
) -> IntentList:
    st = sorted({s.strip() for s in states.split(",") if s.strip()}) if states else None
    rows = service_of(request).store.list_intents(states=st or None, owner=p.owner_filter)
    intents = [_intent_out(d, v) for d, v in rows]
    return IntentList(count=len(intents), intents=intents)


@router.get(
    "/intents/{intent_id}",
    operation_id="get_intent",
    summary="One operational intent",
    response_model=Intent,
    responses=errors(404),
)
def get_intent(request: Request, p: Reader, intent_id: IntentId) -> Intent:
    d, version = _intent_for(request, p, intent_id)
    return _intent_out(d, version)


def _change_state(
    request: Request, p: Principal, intent_id: str, state: str, body: IntentStateIn | None
) -> Intent:
    d, _ = _intent_for(request, p, intent_id)
    if not p.can("intents_any") and d.get("owner") != p.owner:
        raise HTTPException(403, "operators may change only their own intents")
    try:
        new = service_of(request).set_intent_state(
            intent_id, state, expected_version=body.version if body else None, by=p.key_id
        )
    except ConfigError as exc:
        if exc.option == "state":  # a transition the life cycle does not allow
            raise HTTPException(409, str(exc)) from None
        raise
    audit(request, p, f"intent_{state.lower()}", f"intent:{intent_id}",
          {"version": new.get("version")})  # fmt: skip
    return _intent_out(new)


@router.post(
    "/intents/{intent_id}/activate",
    operation_id="activate_intent",
    summary="Activate an accepted intent (the flight starts)",
    response_model=Intent,
    responses=errors(404, 409),
)
def activate_intent(
    request: Request,
    p: Annotated[Principal, Depends(require("intents_own"))],
    intent_id: IntentId,
    body: Annotated[IntentStateIn | None, Body()] = None,
) -> Intent:
    return _change_state(request, p, intent_id, "Activated", body)


@router.post(
    "/intents/{intent_id}/end",
    operation_id="end_intent",
    summary="End an intent (frees its airspace)",
    response_model=Intent,
    responses=errors(404, 409),
)
def end_intent(
    request: Request,
    p: Annotated[Principal, Depends(require("intents_own"))],
    intent_id: IntentId,
    body: Annotated[IntentStateIn | None, Body()] = None,
) -> Intent:
    return _change_state(request, p, intent_id, "Ended", body)


# --------------------------------------------------------------------------- alerts
def _own_objects(request: Request, p: Principal) -> set[str] | None:
    """Object ids of an operator's fleet (None = no restriction)."""
    if p.sees_all:
        return None
    table = service_of(request).store.latest_reports(owner=p.owner, limit=100_000)
    return set(table.column("object_id").to_pylist())


def _alert_visible(a: dict[str, Any], own: set[str] | None) -> bool:
    return own is None or a.get("object_id") in own or a.get("other_id") in own


def _alert_out(a: dict[str, Any], p: Principal) -> Alert:
    from kongtian.platform.api.common import clean, parse_extras

    d = {k: clean(v) for k, v in a.items()}
    if isinstance(d.get("details"), str):
        d["details"] = parse_extras(d["details"])
    if p.public:
        from kongtian.platform.service import REDACTED_FIELDS, redact_public

        d = redact_public(d)
        if isinstance(d.get("details"), dict):  # details may quote the report's fields
            d["details"] = {k: v for k, v in d["details"].items() if k not in REDACTED_FIELDS}
    return Alert.model_validate(d)


@router.get(
    "/alerts",
    operation_id="list_alerts",
    summary="Alerts, newest first (operators: those about their fleet)",
    response_model=AlertList,
    responses=errors(),
)
def list_alerts(
    request: Request,
    p: Reader,
    states: Annotated[str | None, Query(description="comma-separated alert states")] = None,
    kinds: Annotated[str | None, Query(description="comma-separated alert kinds")] = None,
    since: Annotated[datetime | None, Query(description="last_time_utc >= since")] = None,
    acknowledged: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> AlertList:
    st = sorted({s.strip() for s in states.split(",") if s.strip()}) if states else None
    kd = sorted({s.strip() for s in kinds.split(",") if s.strip()}) if kinds else None
    rows = service_of(request).store.list_alerts(
        states=st or None,
        kinds=kd or None,
        since=_aware(since, "since"),
        acknowledged=acknowledged,
        limit=limit,
    )
    own = _own_objects(request, p)
    alerts = [_alert_out(a, p) for a in rows if _alert_visible(a, own)]
    return AlertList(count=len(alerts), alerts=alerts)


@router.get(
    "/alerts/{alert_id}",
    operation_id="get_alert",
    summary="One alert",
    response_model=Alert,
    responses=errors(404),
)
def get_alert(request: Request, p: Reader, alert_id: Annotated[str, Path(max_length=200)]) -> Alert:
    a = service_of(request).store.get_alert(alert_id)
    if not _alert_visible(a, _own_objects(request, p)):
        raise NotFound(f"no alert {alert_id!r}")
    return _alert_out(a, p)


@router.post(
    "/alerts/{alert_id}/ack",
    operation_id="ack_alert",
    summary="Acknowledge an alert",
    response_model=Alert,
    responses=errors(404),
)
def ack_alert(
    request: Request,
    p: Annotated[Principal, Depends(require("alerts_ack"))],
    alert_id: Annotated[str, Path(max_length=200)],
) -> Alert:
    a = service_of(request).store.ack_alert(alert_id, by=p.key_id, at=now_utc())
    audit(request, p, "ack_alert", f"alert:{alert_id}")
    return _alert_out(a, p)
