"""API keys, roles, permissions and per-key rate limits of the platform service.

Keys are ``kt_`` followed by 32 random bytes in URL-safe base64 (``secrets``), shown to
their holder once and stored only as the SHA-256 hex digest. A key is a high-entropy
random token, not a password: nobody can guess one, so a slow password hash (bcrypt,
Argon2) would only slow every request without adding protection (decision 0011).

Roles and what they may do (:data:`PERMISSIONS`):

- ``public``: read tracks, zones, alerts, intents and catalogs; Remote ID operator data
  is withheld from what it reads (:func:`kongtian.platform.service.redact_public`);
- ``operator``: ingest reports; read only its own fleet (reports and tracks whose
  ``owner`` is the key's owner); submit, activate and end its own intents; run space jobs;
- ``regulator``: read everything; manage zones; activate or end any intent; acknowledge
  alerts; upload catalogs and run space jobs;
- ``admin``: everything, plus keys, the audit log, the quarantine and retention.

The FastAPI dependency :func:`require` authenticates the request (``X-API-Key`` header
or ``Authorization: Bearer``), applies the key's token bucket (429 + ``Retry-After``)
and checks the permission (401 without a valid key, 403 with a too-weak role).
"""

from __future__ import annotations

import hashlib
import math
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kongtian.errors import ConfigError

if TYPE_CHECKING:  # keep `kongtian keys ...` free of fastapi imports
    from fastapi import Request

    from kongtian.platform.store.base import Store

ROLES = ("public", "operator", "regulator", "admin")
KEY_PREFIX = "kt_"

#: permission -> roles holding it
PERMISSIONS: Mapping[str, frozenset[str]] = {
    "read": frozenset(ROLES),
    "read_all": frozenset({"regulator", "admin"}),
    "ingest": frozenset({"operator", "admin"}),
    "intents_own": frozenset({"operator", "regulator", "admin"}),
    "intents_any": frozenset({"regulator", "admin"}),
    "zones_write": frozenset({"regulator", "admin"}),
    "alerts_ack": frozenset({"regulator", "admin"}),
    "space_jobs": frozenset({"operator", "regulator", "admin"}),
    "catalogs_write": frozenset({"regulator", "admin"}),
    "admin": frozenset({"admin"}),
}


def _now() -> datetime:
    return datetime.now(UTC)


def generate_key() -> str:
    """A new random API key: ``kt_`` + 43 URL-safe characters (256 bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """SHA-256 hex digest of the key text (what the store keeps)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def check_role(role: str, owner: str | None) -> None:
    """ConfigError unless ``role`` is known and an operator key names its owner."""
    if role not in ROLES:
        raise ConfigError(f"must be one of {', '.join(ROLES)}, got {role!r}", option="role")
    if role == "operator" and not owner:
        raise ConfigError("an operator key needs an owner (its fleet)", option="owner")
    if owner is not None and (not owner.strip() or len(owner) > 200):
        raise ConfigError("must be 1..200 characters", option="owner")


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: its key id, role and owner (the operator's fleet)."""

    key_id: str
    role: str
    owner: str | None = None

    def can(self, permission: str) -> bool:
        return self.role in PERMISSIONS[permission]

    @property
    def sees_all(self) -> bool:
        """True when reads are not restricted to the caller's own fleet."""
        return self.role != "operator"

    @property
    def owner_filter(self) -> str | None:
        """The owner to filter reads on: the key's owner for operators, else None (all)."""
        return None if self.sees_all else self.owner

    @property
    def public(self) -> bool:
        """True when Remote ID operator data must be withheld from responses."""
        return self.role == "public"


def create_key(
    store: Store, role: str, *, owner: str | None = None, label: str = ""
) -> tuple[dict[str, Any], str]:
    """Create and store a key; returns (record without hash, the key text shown once)."""
    check_role(role, owner)
    key = generate_key()
    key_id = "key_" + secrets.token_hex(6)
    created = _now()
    store.put_key(
        key_id=key_id,
        key_hash=hash_key(key),
        role=role,
        owner=owner,
        created_utc=created,
        label=label,
    )
    record = {
        "key_id": key_id,
        "role": role,
        "owner": owner,
        "label": label,
        "created_utc": created,
        "revoked_utc": None,
    }
    return record, key


DEV_LABEL = "dev mode "


def revoke_dev_keys(store: Store) -> int:
    """Revoke every key a dev-mode start created (label ``dev mode <role>``); returns how
    many. Called at every server start, so dev keys live only as long as that dev run."""
    n = 0
    for rec in store.list_keys():
        if str(rec.get("label", "")).startswith(DEV_LABEL) and not rec.get("revoked_utc"):
            store.revoke_key(rec["key_id"])
            n += 1
    return n


def create_dev_keys(store: Store, *, owner: str = "dev-fleet") -> dict[str, str]:
    """Dev mode: one fresh key per role (the operator key owns ``owner``); role -> key.

    Keys of earlier dev runs on the same store are revoked first."""
    revoke_dev_keys(store)
    keys: dict[str, str] = {}
    for role in ROLES:
        _, key = create_key(
            store, role, owner=owner if role == "operator" else None, label=DEV_LABEL + role
        )
        keys[role] = key
    return keys


class RateLimiter:
    """Token bucket per key: ``burst`` tokens, refilled at ``rate_per_s``; thread-safe.

    ``rate_per_s <= 0`` disables limiting. Idle buckets are forgotten after they have
    refilled completely, so memory stays bounded by the number of active keys.
    """

    def __init__(self, rate_per_s: float, burst: float) -> None:
        self.rate = float(rate_per_s)
        self.burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at monotonic s)
        self._lock = threading.Lock()

    def take(self, key: str, cost: float = 1.0, now: float | None = None) -> float:
        """Spend ``cost`` tokens; returns 0 if allowed, else the seconds to wait."""
        if self.rate <= 0:
            return 0.0
        t = time.monotonic() if now is None else now
        with self._lock:
            tokens, at = self._buckets.get(key, (self.burst, t))
            tokens = min(self.burst, tokens + (t - at) * self.rate)
            if tokens >= cost:
                self._buckets[key] = (tokens - cost, t)
                if len(self._buckets) > 10_000:
                    self._prune(t)
                return 0.0
            self._buckets[key] = (tokens, t)
            return (cost - tokens) / self.rate

    def _prune(self, t: float) -> None:
        full = [
            k for k, (tok, at) in self._buckets.items() if tok + (t - at) * self.rate >= self.burst
        ]
        for k in full:
            del self._buckets[k]


class Authenticator:
    """Resolves API keys to principals (with a short cache) and applies rate limits.

    The cache holds a resolved key for ``cache_s`` seconds so a busy ingest client does
    not cost a store lookup per request; :meth:`forget` drops it at once when a key is
    revoked through the API (a revocation from another process takes effect within
    ``cache_s``).
    """

    def __init__(self, store: Store, limiter: RateLimiter, *, cache_s: float = 5.0) -> None:
        self.store = store
        self.limiter = limiter
        self.cache_s = cache_s
        self._cache: dict[str, tuple[Principal | None, float]] = {}
        self._lock = threading.Lock()

    def principal(self, key: str) -> Principal | None:
        """The principal of a key text, or None if unknown or revoked."""
        if not key.startswith(KEY_PREFIX) or len(key) > 200:
            return None
        digest = hash_key(key)
        t = time.monotonic()
        with self._lock:
            hit = self._cache.get(digest)
        if hit is not None and t - hit[1] < self.cache_s:
            return hit[0]
        rec = self.store.key_by_hash(digest)
        p = None if rec is None else Principal(rec["key_id"], rec["role"], rec.get("owner"))
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (p, t)
        return p

    def forget(self, key_id: str | None = None) -> None:
        """Drop cached resolutions (of one key id, or all)."""
        with self._lock:
            if key_id is None:
                self._cache.clear()
            else:
                self._cache = {
                    h: v for h, v in self._cache.items() if v[0] is None or v[0].key_id != key_id
                }


def key_from_request(request: Request) -> str | None:
    """The key text from ``X-API-Key``, ``Authorization: Bearer`` (or None)."""
    key = request.headers.get("x-api-key")
    if key:
        return key.strip()
    authz = request.headers.get("authorization", "")
    scheme, _, token = authz.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def authenticate(request: Request, key: str | None) -> Principal:
    """401 without a valid key, 429 when the key's bucket is empty; else the principal."""
    from fastapi import HTTPException

    auth: Authenticator = request.app.state.auth
    if not key:
        raise HTTPException(
            401,
            "missing API key: send header X-API-Key or Authorization: Bearer",
            headers={"WWW-Authenticate": "Bearer"},
        )
    p = auth.principal(key)
    if p is None:
        raise HTTPException(
            401, "invalid or revoked API key", headers={"WWW-Authenticate": "Bearer"}
        )
    wait = auth.limiter.take(p.key_id)
    if wait > 0:
        raise HTTPException(
            429,
            f"rate limit exceeded for key {p.key_id}; retry in {wait:.2f} s",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )
    request.state.principal = p
    return p


def require(permission: str) -> Callable[..., Principal]:
    """FastAPI dependency: the caller's principal if its role holds ``permission`` (else 403)."""
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")
    from fastapi import HTTPException, Request, Security
    from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

    header = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="ApiKey")
    bearer = HTTPBearer(auto_error=False, scheme_name="Bearer")
    allowed = PERMISSIONS[permission]

    def dependency(
        request: Request,
        api_key: str | None = Security(header),
        bearer_cred: HTTPAuthorizationCredentials | None = Security(bearer),
    ) -> Principal:
        key = api_key or (bearer_cred.credentials if bearer_cred is not None else None)
        p = authenticate(request, key)
        if p.role not in allowed:
            raise HTTPException(
                403,
                f"role {p.role!r} may not do this (needs one of: {', '.join(sorted(allowed))})",
            )
        return p

    # This module defers annotations and imports fastapi lazily: give FastAPI real types.
    dependency.__annotations__ = {
        "request": Request,
        "api_key": str | None,
        "bearer_cred": HTTPAuthorizationCredentials | None,
        "return": Principal,
    }
    dependency.__name__ = f"require_{permission}"
    return dependency


def audit(
    request: Request, p: Principal, action: str, target: str, detail: dict[str, Any] | None = None
) -> None:
    """Append one audit record for a write by ``p`` (store.audit)."""
    store: Store = request.app.state.service.store
    store.audit(
        at=_now(), key_id=p.key_id, role=p.role, action=action, target=target, detail=detail
    )
