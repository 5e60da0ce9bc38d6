"""``/v1/admin`` (admin role only): API keys, the audit log, the quarantine, retention."""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request

from kongtian.platform.api.common import errors, now_utc, service_of
from kongtian.platform.api.models import (
    AuditList,
    AuditRecord,
    KeyCreate,
    KeyCreated,
    KeyInfo,
    KeyList,
    QuarantineItem,
    QuarantineList,
    RetentionResult,
)
from kongtian.platform.auth import Principal, audit, create_key, require

router = APIRouter(prefix="/v1/admin", tags=["admin"])
Admin = Annotated[Principal, Depends(require("admin"))]


def _key_info(rec: dict[str, Any]) -> KeyInfo:
    keep = set(KeyInfo.model_fields)
    return KeyInfo.model_validate({k: v for k, v in rec.items() if k in keep})


@router.post(
    "/keys",
    operation_id="create_key",
    summary="Create an API key; the key text is returned only here",
    status_code=201,
    response_model=KeyCreated,
    responses=errors(),
)
def create_api_key(request: Request, body: KeyCreate, p: Admin) -> KeyCreated:
    store = service_of(request).store
    rec, key = create_key(store, body.role, owner=body.owner, label=body.label)
    audit(request, p, "create_key", f"key:{rec['key_id']}",
          {"role": body.role, "owner": body.owner, "label": body.label})  # fmt: skip
    return KeyCreated(**_key_info(rec).model_dump(), key=key)


@router.get(
    "/keys",
    operation_id="list_keys",
    summary="Every key (hashes are never returned)",
    response_model=KeyList,
    responses=errors(),
)
def list_keys(request: Request, p: Admin) -> KeyList:
    keys = [_key_info(r) for r in service_of(request).store.list_keys()]
    return KeyList(count=len(keys), keys=keys)


@router.delete(
    "/keys/{key_id}",
    operation_id="revoke_key",
    summary="Revoke a key (effective at once on this server)",
    response_model=KeyInfo,
    responses=errors(404),
)
def revoke_key(request: Request, p: Admin, key_id: Annotated[str, Path(max_length=64)]) -> KeyInfo:
    store = service_of(request).store
    store.revoke_key(key_id)
    request.app.state.auth.forget(key_id)
    audit(request, p, "revoke_key", f"key:{key_id}")
    rec = next((r for r in store.list_keys() if r.get("key_id") == key_id), {"key_id": key_id})
    return _key_info({"role": "", **rec})


@router.get(
    "/audit",
    operation_id="list_audit",
    summary="Audit log of writes, newest first",
    response_model=AuditList,
    responses=errors(),
)
def list_audit(
    request: Request, p: Admin, limit: Annotated[int, Query(ge=1, le=10_000)] = 100
) -> AuditList:
    rows = [
        AuditRecord.model_validate(r) for r in service_of(request).store.list_audit(limit=limit)
    ]
    return AuditList(count=len(rows), records=rows)


def _quarantine_item(r: dict[str, Any]) -> QuarantineItem:
    raw = r.get("raw") or b""
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    try:
        text: str | None = bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        text = None
    return QuarantineItem(
        id=r.get("id"),
        received_utc=r.get("received_utc"),
        source=r.get("source"),
        reason=str(r.get("reason", "")),
        origin=r.get("origin"),
        raw_base64=base64.b64encode(bytes(raw)).decode("ascii"),
        raw_text=text,
    )


@router.get(
    "/quarantine",
    operation_id="list_quarantine",
    summary="Quarantined (malformed) messages with the reason, newest first",
    response_model=QuarantineList,
    responses=errors(),
)
def list_quarantine(
    request: Request, p: Admin, limit: Annotated[int, Query(ge=1, le=10_000)] = 100
) -> QuarantineList:
    store = service_of(request).store
    items = [_quarantine_item(r) for r in store.list_quarantine(limit=limit)]
    return QuarantineList(total=store.count_quarantine(), count=len(items), items=items)


@router.post(
    "/retention",
    operation_id="apply_retention",
    summary="Delete reports older than the configured retention per source, now",
    response_model=RetentionResult,
    responses=errors(),
)
def apply_retention(request: Request, p: Admin) -> RetentionResult:
    settings = request.app.state.settings
    deleted = service_of(request).store.apply_retention(now_utc(), dict(settings.retention_s))
    audit(request, p, "apply_retention", "reports", {"deleted": deleted})
    return RetentionResult(deleted=deleted)
