#!/usr/bin/env bash
# Set everything up, migrate the SQLite database, load demo data and serve on 127.0.0.1:5000.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

if [ -z "${FLASK_SECRET_KEY:-}" ]; then
  [ -s instance/secret_key ] || .venv/bin/python -c "import secrets; print(secrets.token_hex(32))" > instance/secret_key
  chmod 600 instance/secret_key
  FLASK_SECRET_KEY=$(cat instance/secret_key)
  export FLASK_SECRET_KEY
fi
export FLASK_APP=app

echo "==> 迁移数据库"
.venv/bin/flask db upgrade
echo "==> 载入演示数据"
.venv/bin/flask seed-demo
address="${BIND:-127.0.0.1:5000}"
cat <<TEXT

========================================================
 信访通已启动： http://${address}
 管理员登录：  用户名 admin   密码 demo12345
 其他演示账号（密码相同）：dengji 登记员、xinfangban 信访办、
   lingdao 领导、fuzeren 部门负责人、chengban 承办人、jiandu 监督
 按 Ctrl+C 停止。
========================================================
TEXT
# Background work needs no other process here: without REDIS_URL, registers render in a thread
# of the web worker, and one web worker (whichever holds the scheduler lock) runs the periodic
# tasks -- deadline warnings every minute, stale-job recovery, daily callback planning, monthly
# retention reminders. With REDIS_URL set, start scripts/worker.py as well (see README).
if [ -n "${REDIS_URL:-}" ]; then
  .venv/bin/python scripts/worker.py > instance/worker.log 2>&1 &
  worker=$!
  trap 'kill "$worker" 2>/dev/null' EXIT
fi
.venv/bin/gunicorn --config scripts/gunicorn.conf.py --workers "${WEB_WORKERS:-2}" --threads 4 \
  --bind "$address" --access-logfile - "app:create_app()"
