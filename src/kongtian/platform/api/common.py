"""Helpers shared by the API routers: declared error responses, record conversion, redaction."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi import Request

from kongtian.platform.api.models import ErrorResponse
from kongtian.platform.auth import Principal

if TYPE_CHECKING:
    import pyarrow as pa

    from kongtian.platform.service import Service

_DESCRIPTIONS = {
    400: "Bad request",
    401: "Missing, invalid or revoked API key",
    403: "The key's role may not do this",
    404: "Not found",
    409: "Version conflict (stale version) or already exists",
    422: "Invalid input; the detail names the field",
    429: "Rate limit exceeded; see the Retry-After header",
    503: "Store unreachable",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` of a route: the auth errors (401, 403, 429, 422) plus ``codes``."""
    out: dict[int | str, dict[str, Any]] = {}
    for c in sorted({401, 403, 422, 429, *codes}):
        out[c] = {"model": ErrorResponse, "description": _DESCRIPTIONS.get(c, "Error")}
    return out


def service_of(request: Request) -> Service:
    svc: Service = request.app.state.service
    return svc


def now_utc() -> datetime:
    return datetime.now(UTC)


def clean(value: Any) -> Any:
    """JSON-safe: NaN -> None, numpy scalars -> Python."""
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if hasattr(value, "item") and not isinstance(value, str | bytes | datetime):
        try:
            return clean(value.item())
        except (TypeError, ValueError):
            return value
    return value


def parse_extras(value: Any) -> Any:
    """The store keeps source-specific fields as JSON text; the API returns an object."""
    if isinstance(value, str):
        try:
            obj = json.loads(value)
        except json.JSONDecodeError:
            return {"raw": value}
        return obj if isinstance(obj, dict) else {"value": obj}
    return value


def table_records(table: pa.Table) -> list[dict[str, Any]]:
    """Arrow rows -> dicts with JSON-safe values and ``extras`` parsed."""
    rows = table.to_pylist()
    out = []
    for r in rows:
        d = {k: clean(v) for k, v in r.items()}
        if "extras" in d:
            d["extras"] = parse_extras(d["extras"])
        out.append(d)
    return out


def redact_for(
    request: Request, p: Principal, items: Iterable[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Items as ``p`` may see them: public keys get Remote ID operator data withheld."""
    items = list(items)
    if not p.public:
        return items
    from kongtian.platform.service import redact_public

    return [redact_public(it) for it in items]
