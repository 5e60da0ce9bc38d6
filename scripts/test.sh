#!/usr/bin/env bash
# Install the project with its test extras into .venv and run every check CI runs:
# ruff (lint + format), mypy, and the whole pytest suite (slow tests included).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[test]"

# The console's browser tests drive Debian's chromium with a CJK font (never a
# browser downloaded by a test tool).
if ! dpkg -s chromium fonts-noto-cjk >/dev/null 2>&1 && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  (apt-get install -y --no-install-recommends chromium fonts-noto-cjk \
    || { apt-get update && apt-get install -y --no-install-recommends chromium fonts-noto-cjk; }) \
    >/dev/null || echo "warning: could not install chromium" >&2
fi

# Services later issues' tests talk to (PostgreSQL, MQTT, NATS, Redis): start any that is down.
bash scripts/services.sh || echo "warning: could not start every service" >&2

echo "== ruff"
.venv/bin/ruff check src tests bench
.venv/bin/ruff format --check src tests bench
echo "== mypy"
.venv/bin/mypy src/kongtian
echo "== pytest"
.venv/bin/python -m pytest -q "$@"
