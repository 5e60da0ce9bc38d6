"""Pydantic models of every request body and response of the HTTP API (the OpenAPI contract).

Units follow the normalised report (:mod:`kongtian.model.report`): WGS84 degrees,
metres, m/s, degrees clockwise from true north; times are UTC, ISO 8601 with ``Z``.
Response models of records that carry source-specific fields allow extra properties.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from kongtian.model.report import ALT_REFS

TIME_MIN = datetime(1900, 1, 1, tzinfo=UTC)
TIME_MAX = datetime(2200, 1, 1, tzinfo=UTC)


def check_time_range(t: datetime) -> datetime:
    """Times are stored as int64 nanoseconds: keep them well inside 1677..2262."""
    if t.tzinfo is not None and not TIME_MIN <= t < TIME_MAX:
        raise ValueError("time must be between 1900-01-01 and 2200-01-01 UTC")
    return t


UtcTime = Annotated[AwareDatetime, AfterValidator(check_time_range)]
"""An ISO 8601 time with a zone, in 1900..2200."""

AltRef = Literal["baro", "wgs84", "msl", "agl"]
assert set(AltRef.__args__) == set(ALT_REFS)  # type: ignore[attr-defined]

RAW_FORMATS = (
    "avr",
    "beast",
    "modes-csv",
    "ais",
    "remoteid",
    "remoteid-net",
    "jt808",
    "reports-json",
)
RawFormat = Literal[
    "avr", "beast", "modes-csv", "ais", "remoteid", "remoteid-net", "jt808", "reports-json"
]
Role = Literal["public", "operator", "regulator", "admin"]
JobState = Literal["queued", "running", "done", "failed"]
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"


EXAMPLE_REPORT: dict[str, Any] = {
    "object_id": "icao24:780a3f", "source": "adsb", "time_utc": "2025-01-01T00:00:00Z",
    "lat_deg": 29.72, "lon_deg": 106.64, "alt_m": 1200.0, "alt_ref": "baro",
    "speed_m_s": 120.0, "track_deg": 45.0, "vrate_m_s": -3.0,
}  # fmt: skip
_SQUARE = [[[106.5, 29.5], [106.6, 29.5], [106.6, 29.6], [106.5, 29.6], [106.5, 29.5]]]
EXAMPLE_ZONE: dict[str, Any] = {
    "type": "Feature", "id": "example-zone", "geometry": {"type": "Polygon", "coordinates": _SQUARE},
    "properties": {"kind": "no-fly", "name": "Example", "floor_m": 0, "ceiling_m": 300},
}  # fmt: skip
EXAMPLE_INTENT: dict[str, Any] = {
    "id": "example-intent",
    "priority": 0,
    "volumes": [{"outline": {"type": "Polygon", "coordinates": _SQUARE}, "alt_lower_m": 0,
                 "alt_upper_m": 120, "alt_ref": "wgs84", "t_start_utc": "2025-01-01T01:00:00Z",
                 "t_end_utc": "2025-01-01T02:00:00Z"}],
}  # fmt: skip


class ErrorResponse(BaseModel):
    """Every 4xx (and 503) body: ``detail`` is a message, or the list of validation errors."""

    detail: str | list[dict[str, Any]] | dict[str, Any]


# --------------------------------------------------------------------------- traffic
class ReportIn(BaseModel):
    """One normalised report; source-specific fields may follow as extra properties."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [EXAMPLE_REPORT]})

    object_id: str = Field(min_length=3, max_length=200, pattern=r"^[a-z0-9\-]+:\S+$",
                           description="kind:id in lower case, e.g. icao24:3c6444")  # fmt: skip
    source: str = Field(min_length=1, max_length=40, description="feed, e.g. adsb, ais")
    time_utc: UtcTime = Field(description="UTC, ISO 8601 with a zone (Z)")
    lat_deg: float | None = Field(None, ge=-90, le=90)
    lon_deg: float | None = Field(None, ge=-180, le=180)
    alt_m: float | None = Field(None, ge=-1e4, le=1e6)
    alt_ref: AltRef | None = None
    speed_m_s: float | None = Field(None, ge=0, le=1e4)
    track_deg: float | None = Field(None, ge=0, lt=360)
    vrate_m_s: float | None = Field(None, ge=-1e3, le=1e3)


class RawBatchIn(BaseModel):
    """Raw feed messages to decode: one payload per message (AVR line, NMEA sentence ...)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"format": "ais", "payloads": ["!AIVDM,1,1,,A,15N1u<PP1FJuvSRHOE6QIwwh0HQ6,0*30"]}]})  # fmt: skip

    format: RawFormat
    payloads: list[str] = Field(max_length=100_000)
    encoding: Literal["text", "base64", "hex"] = Field(
        "text", description="how each payload string encodes its bytes"
    )
    ref_lat_deg: float | None = Field(None, ge=-90, le=90, description="receiver, for ADS-B CPR")
    ref_lon_deg: float | None = Field(None, ge=-180, le=180)


class IngestResponse(BaseModel):
    accepted: int = Field(description="reports newly stored")
    duplicates: int = Field(description="reports already stored (same object, source, time)")
    rejected: int = Field(description="messages quarantined as malformed")
    alerts: int = Field(description="alert events raised by this batch")


class Track(BaseModel):
    """Latest fused state of one object."""

    model_config = ConfigDict(extra="allow")

    object_id: str
    time_utc: datetime | None = None
    lat_deg: float | None = None
    lon_deg: float | None = None
    alt_m: float | None = None
    alt_ref: str | None = None
    speed_m_s: float | None = None
    track_deg: float | None = None
    vrate_m_s: float | None = None


class TrackList(BaseModel):
    count: int
    tracks: list[Track]


class StoredReport(BaseModel):
    """A stored report: core fields, ``owner``, ``received_utc`` and ``extras``."""

    model_config = ConfigDict(extra="allow")

    object_id: str
    source: str
    time_utc: datetime
    lat_deg: float | None = None
    lon_deg: float | None = None
    alt_m: float | None = None
    alt_ref: str | None = None
    speed_m_s: float | None = None
    track_deg: float | None = None
    vrate_m_s: float | None = None
    owner: str | None = None
    received_utc: datetime | None = None
    extras: dict[str, Any] | None = None


class TrackHistory(BaseModel):
    object_id: str
    count: int
    reports: list[StoredReport]


class ZoneFeature(BaseModel):
    """A zone as a GeoJSON Feature (properties as in :mod:`kongtian.traffic.zones`:
    ``kind``, ``name``, ``floor_m``, ``ceiling_m``, ``alt_ref``, ``schedule``,
    ``speed_limit_m_s``; ``radius_m`` for a Point circle)."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [EXAMPLE_ZONE]})

    type: Literal["Feature"]
    id: str | None = Field(None, pattern=NAME_PATTERN)
    geometry: dict[str, Any]
    properties: dict[str, Any] = Field(default_factory=dict)


class Zone(BaseModel):
    id: str
    version: int
    feature: dict[str, Any]


class ZoneList(BaseModel):
    count: int
    zones: list[Zone]


class VolumeIn(BaseModel):
    """One 4D volume: an outline (GeoJSON Polygon in lon/lat degrees, or Point with
    ``radius_m`` for a geodesic circle), an altitude band (m) and a UTC time window."""

    outline: dict[str, Any] = Field(description="GeoJSON Polygon or Point (lon, lat degrees)")
    radius_m: float | None = Field(None, gt=0, le=1e6, description="circle radius for a Point")
    alt_lower_m: float = Field(ge=-1e4, le=1e5)
    alt_upper_m: float = Field(ge=-1e4, le=1e5)
    alt_ref: AltRef = "wgs84"
    t_start_utc: UtcTime
    t_end_utc: UtcTime


class IntentIn(BaseModel):
    """An operational intent to submit (ASTM F3548 strategic deconfliction)."""

    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_INTENT]})

    id: str | None = Field(None, pattern=NAME_PATTERN, description="default: generated")
    priority: int = Field(0, ge=0, le=100, description="higher number = higher priority")
    object_id: str | None = Field(
        None, max_length=200, description="the aircraft flying it (conformance monitoring)"
    )
    volumes: list[VolumeIn] = Field(min_length=1, max_length=100)


class IntentStateIn(BaseModel):
    version: int | None = Field(
        None, ge=0, description="the version you last read (409 if no longer current)"
    )


class Intent(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    state: str
    owner: str | None = None
    version: int
    priority: int = 0
    volumes: list[dict[str, Any]] = Field(default_factory=list)


class IntentResult(BaseModel):
    """Outcome of a submission: the stored intent and the intents it conflicts with."""

    intent: Intent
    conflicts: list[str]


class IntentRejected(BaseModel):
    """409 body when the submitted intent conflicts with accepted or activated ones."""

    detail: str
    intent: Intent
    conflicts: list[str]


class IntentList(BaseModel):
    count: int
    intents: list[Intent]


class Alert(BaseModel):
    model_config = ConfigDict(extra="allow")

    alert_id: str
    kind: str
    object_id: str | None = None
    other_id: str | None = None
    severity: str | None = None
    state: str | None = None
    first_time_utc: datetime | None = None
    last_time_utc: datetime | None = None
    count: int | None = None
    details: Any = None
    acked_by: str | None = None
    acked_utc: datetime | None = None


class AlertList(BaseModel):
    count: int
    alerts: list[Alert]


# --------------------------------------------------------------------------- space
class CatalogUpload(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "qianfan-1", "text": (
        "QIANFAN-1\n"
        "1 60379U 24140A   26051.68310030  .00000111  00000+0  15272-3 0  9993\n"
        "2 60379  88.9738 292.0503 0018304  18.1161 342.0638 13.50997234 76793\n")}]})  # fmt: skip

    name: str = Field(pattern=NAME_PATTERN)
    text: str = Field(min_length=1, max_length=50_000_000, description="TLE or OMM text")
    lenient: bool = Field(False, description="ignore TLE checksums and columns past 69")


class CatalogInfo(BaseModel):
    name: str
    fmt: str
    origin: Literal["uploaded", "shipped"]
    size: int | None = None
    satellites: int | None = None
    updated_utc: datetime | None = None


class CatalogList(BaseModel):
    count: int
    catalogs: list[CatalogInfo]


class _JobBase(BaseModel):
    catalog: str = Field(pattern=NAME_PATTERN, description="uploaded or shipped catalog name")
    norad_ids: list[int] | None = Field(None, max_length=10_000, description="keep only these")
    start_utc: UtcTime
    hours: float = Field(gt=0, le=24 * 31)


class PropagateJobIn(_JobBase):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "catalog": "qianfan", "start_utc": "2026-02-20T00:00:00Z", "hours": 0.1}]})  # fmt: skip

    step_s: float = Field(60.0, ge=1, le=86_400)
    frame: Literal["itrf", "teme"] = "itrf"
    format: Literal["nc", "csv", "parquet"] = "nc"
    czml: bool = Field(False, description="also write a CZML file (ITRF only)")


class SiteIn(BaseModel):
    lat_deg: float = Field(ge=-90, le=90)
    lon_deg: float = Field(ge=-180, le=180)
    alt_m: float = Field(0.0, ge=-500, le=9000)


class PassesJobIn(_JobBase):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "catalog": "qianfan", "start_utc": "2026-02-20T00:00:00Z", "hours": 0.1,
        "sites": [{"lat_deg": 29.56, "lon_deg": 106.55, "alt_m": 300}]}]})  # fmt: skip

    sites: list[SiteIn] = Field(min_length=1, max_length=100)
    min_elev_deg: float = Field(10.0, ge=-5, le=89)


class CoverageJobIn(_JobBase):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "catalog": "qianfan", "start_utc": "2026-02-20T00:00:00Z", "hours": 0.05,
        "region": "chongqing", "grid_deg": 1.0}]})  # fmt: skip

    region: str = Field(
        "chongqing", max_length=100, description="a named region or a box W,S,E,N (degrees)"
    )
    step_s: float = Field(60.0, ge=1, le=3600)
    grid_deg: float = Field(0.1, ge=0.01, le=10)
    min_elev_deg: float = Field(25.0, ge=0, le=89)
    k: int = Field(1, ge=1, le=100)
    plot: bool = True
    czml: bool = False


class Job(BaseModel):
    id: str
    kind: str
    state: JobState
    progress: float = Field(ge=0, le=1)
    error: str | None = None
    files: list[str] = Field(default_factory=list)
    summary: dict[str, Any] | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    owner: str | None = None
    created_utc: datetime | None = None
    started_utc: datetime | None = None
    finished_utc: datetime | None = None


class JobList(BaseModel):
    count: int
    jobs: list[Job]


# --------------------------------------------------------------------------- admin
class KeyCreate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"role": "operator", "owner": "fleet-a", "label": "delivery drones"}]})  # fmt: skip

    role: Role
    owner: str | None = Field(None, min_length=1, max_length=200, description="operator fleet")
    label: str = Field("", max_length=200)


class KeyInfo(BaseModel):
    key_id: str
    role: str
    owner: str | None = None
    label: str = ""
    created_utc: datetime | None = None
    revoked_utc: datetime | None = None


class KeyCreated(KeyInfo):
    key: str = Field(description="the key text; shown only in this response")


class KeyList(BaseModel):
    count: int
    keys: list[KeyInfo]


class AuditRecord(BaseModel):
    model_config = ConfigDict(extra="allow")

    at: datetime | None = None
    key_id: str | None = None
    role: str | None = None
    action: str
    target: str
    detail: Any = None


class AuditList(BaseModel):
    count: int
    records: list[AuditRecord]


class QuarantineItem(BaseModel):
    id: Any = None
    received_utc: datetime | None = None
    source: str | None = None
    reason: str
    origin: str | None = None
    raw_base64: str
    raw_text: str | None = Field(None, description="the raw bytes as text, when valid UTF-8")


class QuarantineList(BaseModel):
    total: int
    count: int
    items: list[QuarantineItem]


class RetentionResult(BaseModel):
    deleted: dict[str, int]


# --------------------------------------------------------------------------- health
class Health(BaseModel):
    status: Literal["ok", "degraded"]
    version: str
    store: str
    reports: int | None = None
    quarantined: int | None = None
    ingest: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, float] = Field(default_factory=dict)
