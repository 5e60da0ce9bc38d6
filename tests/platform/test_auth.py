"""API keys, roles, rate limits, audit, settings and the ``kongtian keys`` commands."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from kongtian.errors import ConfigError
from kongtian.platform.auth import (
    PERMISSIONS,
    ROLES,
    Authenticator,
    RateLimiter,
    create_key,
    generate_key,
    hash_key,
)
from kongtian.platform.config import Settings, parse_retention
from kongtian.platform.store import open_store
from tests.platform._api_helpers import api, report

T0 = "2025-01-01T00:00:00Z"


# ------------------------------------------------------------------ keys
def test_keys_are_random_and_stored_as_sha256_only() -> None:
    k1, k2 = generate_key(), generate_key()
    assert k1 != k2 and k1.startswith("kt_") and len(k1) == 3 + 43
    assert hash_key(k1) == hashlib.sha256(k1.encode()).hexdigest()
    with open_store("duckdb://:memory:") as store:
        rec, key = create_key(store, "operator", owner="fleet-a", label="x")
        stored = store.key_by_hash(hash_key(key))
        assert stored is not None and stored["key_id"] == rec["key_id"]
        assert stored["role"] == "operator" and stored["owner"] == "fleet-a"
        # the key text itself is nowhere in the store's key records
        assert key not in json.dumps(store.list_keys(), default=str)


def test_create_key_checks_role_and_owner() -> None:
    with open_store("duckdb://:memory:") as store:
        with pytest.raises(ConfigError, match="role"):
            create_key(store, "root")
        with pytest.raises(ConfigError, match="owner"):
            create_key(store, "operator")
        assert store.list_keys() == []


def test_authenticator_forgets_revoked_keys() -> None:
    with open_store("duckdb://:memory:") as store:
        rec, key = create_key(store, "regulator")
        auth = Authenticator(store, RateLimiter(0, 1), cache_s=60)
        p = auth.principal(key)
        assert p is not None and p.role == "regulator" and p.sees_all
        store.revoke_key(rec["key_id"])
        assert auth.principal(key) is not None  # still cached ...
        auth.forget(rec["key_id"])
        assert auth.principal(key) is None  # ... until forgotten
        assert auth.principal("kt_" + "x" * 43) is None
        assert auth.principal("not-a-key") is None


def test_permissions_table() -> None:
    assert set(PERMISSIONS["read"]) == set(ROLES)
    assert "regulator" not in PERMISSIONS["ingest"]  # regulators supervise, they do not feed
    assert PERMISSIONS["admin"] == {"admin"}
    assert all("admin" in roles for roles in PERMISSIONS.values())
    assert all("public" not in roles for name, roles in PERMISSIONS.items() if name != "read")


# ------------------------------------------------------------------ rate limit
def test_token_bucket_refills_at_rate() -> None:
    rl = RateLimiter(rate_per_s=2.0, burst=3)
    assert [rl.take("k", now=100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert rl.take("k", now=100.0) == pytest.approx(0.5)  # one token comes in 0.5 s
    assert rl.take("other", now=100.0) == 0.0  # buckets are per key
    assert rl.take("k", now=100.5) == 0.0
    assert rl.take("k", now=100.5) == pytest.approx(0.5)
    assert rl.take("k", now=110.0) == 0.0  # refilled, capped at burst
    assert [rl.take("k", now=110.0) for _ in range(3)][-1] == pytest.approx(0.5)
    assert RateLimiter(0, 1).take("k", now=0.0) == 0.0  # disabled


def test_rate_limit_is_429_with_retry_after(tmp_path: Path) -> None:
    with api(tmp_path, rate_per_s=0.01, rate_burst=2) as a:
        codes = [a.get("/v1/traffic/zones", "public").status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        r = a.get("/v1/traffic/zones", "public")
        assert r.status_code == 429
        assert int(r.headers["Retry-After"]) >= 1
        assert "rate limit" in r.json()["detail"]
        # another key has its own bucket; /health is not limited
        assert a.get("/v1/traffic/zones", "regulator").status_code == 200
        assert all(a.get("/health", None).status_code == 200 for _ in range(5))


# ------------------------------------------------------------------ HTTP auth
def test_missing_invalid_and_bearer_keys(tmp_path: Path) -> None:
    with api(tmp_path) as a:
        r = a.get("/v1/traffic/tracks", None)
        assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"
        assert "X-API-Key" in r.json()["detail"]
        r = a.client.get("/v1/traffic/tracks", headers={"X-API-Key": "kt_wrong"})
        assert r.status_code == 401 and "invalid" in r.json()["detail"]
        bearer = {"Authorization": f"Bearer {a.keys['public']}"}
        assert a.client.get("/v1/traffic/tracks", headers=bearer).status_code == 200
        r = a.client.post("/v1/traffic/zones", headers=bearer, json={})
        assert r.status_code == 403 and "public" in r.json()["detail"]


def test_every_write_is_audited_with_its_key(tmp_path: Path) -> None:
    with api(tmp_path) as a:
        a.post("/v1/traffic/reports", "operator", json=[report("uas:a", T0, 29.5, 106.5)])
        from tests.platform._api_helpers import zone_feature

        a.post("/v1/traffic/zones", "regulator", json=zone_feature("z1"))
        a.get("/v1/traffic/zones", "regulator")  # a read: not audited
        recs = a.get("/v1/admin/audit").json()["records"]
        assert [(r["action"], r["role"], r["target"]) for r in recs] == [
            ("create_zone", "regulator", "zone:z1"),
            ("ingest_reports", "operator", "reports"),
        ]
        keys = {k["key_id"]: k["role"] for k in a.get("/v1/admin/keys").json()["keys"]}
        assert all(keys[r["key_id"]] == r["role"] for r in recs)


# ------------------------------------------------------------------ settings
def test_settings_from_env_and_options(tmp_path: Path) -> None:
    env = {"KONGTIAN_PORT": "9000", "KONGTIAN_DEV": "1", "KONGTIAN_RETENTION": "remoteid=24h,*=30d",
           "KONGTIAN_DATA_DIR": str(tmp_path)}  # fmt: skip
    s = Settings.load(env, port=9100)
    assert s.port == 9100 and s.dev is True and s.data_dir == tmp_path
    assert s.retention_s == {"remoteid": 86400.0, "*": 30 * 86400.0}
    assert s.resolved_store_url == f"duckdb://{(tmp_path / 'kongtian.duckdb').resolve()}"
    assert Settings.load({}).dev is False  # no dev mode unless asked


@pytest.mark.parametrize(
    ("env", "named"),
    [({"KONGTIAN_PORT": "http"}, "KONGTIAN_PORT"), ({"KONGTIAN_PORT": "70000"}, "--port"),
     ({"KONGTIAN_DEV": "maybe"}, "KONGTIAN_DEV"), ({"KONGTIAN_RETENTION": "ais"}, "KONGTIAN_RETENTION"),
     ({"KONGTIAN_STORE_URL": "sqlite:///x"}, "--store"), ({"KONGTIAN_MQTT_URL": "x://y"}, "--mqtt")],
)  # fmt: skip
def test_bad_settings_name_the_option(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError) as e:
        Settings.load(env)
    assert named in str(e.value)


def test_parse_retention_units() -> None:
    assert parse_retention("a=90m, b=2d ,c=5") == {"a": 5400.0, "b": 172800.0, "c": 5.0}
    with pytest.raises(ConfigError, match="> 0"):
        parse_retention("a=0")


# ------------------------------------------------------------------ CLI
def _kongtian(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kongtian", *args], capture_output=True,
                          text=True, timeout=120)  # fmt: skip


def test_keys_cli_create_list_revoke(tmp_path: Path) -> None:
    r = _kongtian("keys", "create", "--role", "admin", "--data-dir", str(tmp_path))
    assert r.returncode == 0, r.stderr
    made = json.loads(r.stdout)
    assert made["key"].startswith("kt_") and made["role"] == "admin"
    assert "cannot be shown again" in r.stderr
    r = _kongtian("keys", "list", "--data-dir", str(tmp_path))
    (listed,) = [json.loads(line) for line in r.stdout.splitlines()]
    assert listed["key_id"] == made["key_id"] and "key" not in listed
    assert made["key"] not in r.stdout
    assert _kongtian("keys", "revoke", made["key_id"], "--data-dir", str(tmp_path)).returncode == 0
    with open_store(f"duckdb://{tmp_path / 'kongtian.duckdb'}") as store:
        assert store.key_by_hash(hash_key(made["key"])) is None


@pytest.mark.parametrize(
    ("args", "named"),
    [(["--role", "boss"], "role"), (["--role", "operator"], "owner")],
)
def test_keys_cli_bad_options_exit_2(tmp_path: Path, args: list[str], named: str) -> None:
    r = _kongtian("keys", "create", *args, "--data-dir", str(tmp_path))
    assert r.returncode == 2
    assert named in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_dev_keys_live_only_for_their_run() -> None:
    from kongtian.platform.auth import create_dev_keys, revoke_dev_keys

    with open_store("duckdb://:memory:") as store:
        first = create_dev_keys(store)
        assert set(first) == set(ROLES)
        second = create_dev_keys(store)
        assert all(store.key_by_hash(hash_key(k)) is None for k in first.values())
        assert all(store.key_by_hash(hash_key(k)) is not None for k in second.values())
        _, kept = create_key(store, "admin", label="ops")
        assert revoke_dev_keys(store) == 4
        assert store.key_by_hash(hash_key(kept)) is not None


def _wait_health(base: str, proc: subprocess.Popen[str]) -> None:
    import time
    import urllib.request

    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(base + "/health", timeout=2) as r:
                assert r.status == 200
                return
        except OSError:
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "server did not come up"
            time.sleep(0.2)


def _get(url: str, key: str) -> int:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url, headers={"X-API-Key": key})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_serve_dev_then_production_revokes_dev_keys(tmp_path: Path) -> None:
    from tests.platform._ingest_helpers import free_port

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    args = [sys.executable, "-m", "kongtian", "serve", "--data-dir", str(tmp_path),
            "--port", str(port), "--log-level", "warning"]  # fmt: skip
    proc = subprocess.Popen([*args, "--dev"], stderr=subprocess.PIPE, text=True)
    try:
        _wait_health(base, proc)
        keys = json.loads((tmp_path / "dev-keys.json").read_text())
        assert (tmp_path / "dev-keys.json").stat().st_mode & 0o077 == 0  # owner only
        assert _get(base + "/v1/traffic/zones", keys["public"]) == 200
        assert _get(base + "/v1/admin/keys", keys["public"]) == 403
        assert _get(base + "/v1/admin/keys", keys["admin"]) == 200
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert "DEV MODE" in err and keys["admin"] in err
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
    try:
        _wait_health(base, proc)
        assert _get(base + "/v1/traffic/zones", keys["public"]) == 401
        assert not (tmp_path / "dev-keys.json").exists()
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert "revoked 4 key(s)" in err and "no admin key yet" in err
