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
# Deadline warnings (down to 3-minute clocks) are checked every minute beside the web server;
# the loop ends with this script.
.venv/bin/flask run-escalations --every 60 > instance/escalations.log 2>&1 &
escalations=$!
trap 'kill "$escalations" 2>/dev/null' EXIT
.venv/bin/gunicorn --workers "${WEB_WORKERS:-2}" --threads 4 --bind "$address" \
  --access-logfile - "app:create_app()"
