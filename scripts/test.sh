#!/usr/bin/env bash
# Install everything the tests need (Debian + Python packages, a local PostgreSQL) and run them:
# lint (ruff), types (mypy --strict), import boundaries (import-linter), then pytest.
# Usage: bash scripts/test.sh [pytest arguments], e.g. bash scripts/test.sh -m "not slow"
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

echo "== Debian packages"
export DEBIAN_FRONTEND=noninteractive
as_root apt-get update -qq
as_root apt-get install -y -qq --no-install-recommends swaks opendkim-tools postgresql postgresql-client postfix isync mutt curl haproxy ca-certificates >/dev/null

echo "== Python packages"
python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip >/dev/null
.venv/bin/pip install -q -e '.[test]'

echo "== PostgreSQL"
source scripts/postgres.sh

echo "== ruff, mypy, import contracts"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/lint-imports

echo "== pytest"
.venv/bin/pytest -q "$@"
