#!/usr/bin/env bash
# Set everything up and run the whole test suite: lint, then pytest on SQLite and, when a
# PostgreSQL server answers (CI always has one), on PostgreSQL as well.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

echo "==> ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .

echo "==> pip-audit（已安装的全部 Python 包）"
.venv/bin/python scripts/audit_dependencies.py

if [ -z "${TEST_DATABASE_URL:-}" ]; then
  candidate="postgresql://postgres@127.0.0.1:5432/test"
  if .venv/bin/python -c "import psycopg, sys; psycopg.connect(sys.argv[1], connect_timeout=3).close()" "$candidate" 2>/dev/null; then
    export TEST_DATABASE_URL="$candidate"
  fi
fi
if [ -n "${TEST_DATABASE_URL:-}" ]; then
  echo "==> pytest（SQLite 与 PostgreSQL：${TEST_DATABASE_URL}）"
else
  echo "==> pytest（仅 SQLite：未找到可连接的 PostgreSQL）"
fi
# One worker per core (pytest-xdist); each worker has its own SQLite files and its own
# PostgreSQL database (<name>_gw0, <name>_gw1 …), created on first use. A module stays on one
# worker, so populations built once per module are built once. Pass -n 0 to run in one process.
exec .venv/bin/python -m pytest -n "${PYTEST_WORKERS:-auto}" --dist loadscope "$@"
