"""信访通: application factory, configuration, extensions and CLI commands."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

import click
import sqlalchemy as sa
from flask import (
    Flask,
    current_app,
    has_request_context,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import Babel, get_locale
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFError, CSRFProtect

from models import User, db, pg_connections
from models.texts import lazy_gettext as _l

#: Known to everyone, so create_app refuses it outside debug and testing.
DEFAULT_SECRET_KEY = "dev-only-insecure-secret-key"  # noqa: S105
SUPPORTED_LOCALES = ("zh_Hans_CN", "en")

babel = Babel()
csrf = CSRFProtect()
login_manager = LoginManager()
migrate = Migrate()
logger = logging.getLogger(__name__)


def database_url_from_env(variable: str = "DATABASE_URL") -> str | None:
    """Read a database URL; ``postgres://`` and ``postgresql://`` get the psycopg 3 driver."""
    url = os.environ.get(variable)
    if not url:
        return None
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def create_app(overrides: Mapping | None = None) -> Flask:
    """Build the application: defaults, then ``FLASK_*`` environment variables, then overrides."""
    app = Flask(__name__, instance_relative_config=True)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.from_mapping(
        SECRET_KEY=DEFAULT_SECRET_KEY,
        SQLALCHEMY_DATABASE_URI="sqlite:///" + os.path.join(app.instance_path, "xinfang.db"),
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True},
        BABEL_DEFAULT_LOCALE="zh_Hans_CN",
        BABEL_DEFAULT_TIMEZONE="Asia/Shanghai",
        #: Where staff work: times are stored in UTC and shown and entered in this zone.
        TIMEZONE="Asia/Shanghai",
        ATTACHMENT_FOLDER=os.path.join(app.instance_path, "attachments"),
        # Uploads are checked again against the (smaller) attachment limit setting.
        MAX_CONTENT_LENGTH=64 * 1024 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=12 * 3600,
        REMEMBER_COOKIE_DURATION=0,
        #: Log out after 30 minutes without a request, and 12 hours after logging in regardless.
        SESSION_IDLE_TIMEOUT=30 * 60,
        SESSION_ABSOLUTE_TIMEOUT=12 * 3600,
        #: Failed logins allowed per account and client address pair within the window, and
        #: from one address whatever the accounts.
        LOGIN_MAX_FAILURES=10,
        LOGIN_FAILURE_WINDOW=15 * 60,
        LOGIN_MAX_FAILURES_PER_ADDRESS=50,
        #: Shared failed-login counters and the queue for large registers (RQ). Unset: counters
        #: in the login_failures table, registers rendered in a local thread.
        REDIS_URL=os.environ.get("REDIS_URL") or None,
        #: Seconds every Redis client waits to connect and for an answer (no retries), and how
        #: long the login counters leave a Redis alone that did not answer.
        REDIS_CONNECT_TIMEOUT=0.5,
        REDIS_SOCKET_TIMEOUT=0.5,
        REDIS_RETRY_AFTER=30,
        #: Signs backup manifests; unset: derived from SECRET_KEY (see README, Backups).
        BACKUP_KEY=None,
        #: Retry-After of the 503 page while the database is unreachable.
        RETRY_AFTER_SECONDS=30,
        #: Reverse proxies in front of the app whose X-Forwarded-* headers are trusted.
        TRUSTED_PROXIES=0,
        # Argon2id, 64 MiB and 3 passes: above the OWASP minimum, about 0.2 s on two cores.
        ARGON2_PARAMS={"time_cost": 3, "memory_cost": 65536, "parallelism": 2},
        FLASK_ADMIN_SWATCH="flatly",
        LIST_PAGE_LIMIT=500,
        #: Limits of one PDF render (registers get more time in proportion to their rows).
        DOCUMENT_RENDER_TIMEOUT=60,
        DOCUMENT_RENDER_MEMORY_MB=1536,
        #: A register's render limit is DOCUMENT_RENDER_TIMEOUT plus this many seconds per row.
        REGISTER_SECONDS_PER_ROW=0.025,
        #: Periodic tasks (warnings, callback planning, job recovery, retention reminders):
        #: "auto" runs them in a thread of the web process unless REDIS_URL is set (then
        #: scripts/worker.py runs them); "in-process" or "off" (see background.py).
        BACKGROUND_SCHEDULER="auto",
        SCHEDULER_TICK_SECONDS=5,
        SCHEDULER_LEADER_TTL=30,
        #: Running jobs write a heartbeat this often; one silent for JOB_STALE_SECONDS lost its
        #: worker and is marked failed. A job queued on RQ that long without a worker, too.
        JOB_HEARTBEAT_SECONDS=5,
        JOB_STALE_SECONDS=30,
        JOB_QUEUE_TIMEOUT=1800,
    )
    database_url = database_url_from_env()
    if database_url:
        app.config["SQLALCHEMY_DATABASE_URI"] = database_url
    app.config.from_prefixed_env()
    if overrides:
        app.config.update(overrides)

    if app.config["SECRET_KEY"] == DEFAULT_SECRET_KEY and not (app.debug or app.testing):
        raise RuntimeError(
            "FLASK_SECRET_KEY is not set: refusing to start with the built-in development key "
            "outside debug or testing mode."
        )

    from admin_views.security import SessionInterface, install_security
    from models.operations.audit_log import install_audit_listeners

    if app.config["TRUSTED_PROXIES"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = int(app.config["TRUSTED_PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    app.session_interface = SessionInterface()
    db.init_app(app)
    install_audit_listeners()
    migrate.init_app(app, db, directory=os.path.join(app.root_path, "migrations"))
    csrf.init_app(app)
    from admin_views.translations import compiled_app_translations

    # Chinese is the msgids themselves; other locales are compiled from translations/*.po.
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = compiled_app_translations(app)
    babel.init_app(app, locale_selector=select_locale)
    from models.vocabulary import install_vocabulary

    # The organisation's words (客户 / 业主 / 患者及家属 …) on every translated string.
    install_vocabulary(app, babel)
    login_manager.init_app(app)
    login_manager.login_view = "admin.login_view"
    login_manager.login_message = "请先登录"
    login_manager.login_message_category = "warning"
    install_security(app)

    with app.app_context():
        _configure_engine()

    from admin_views import init_admin
    from admin_views.html_attributes import install as install_html_attributes

    install_html_attributes()  # same markup as WTForms', without its Python-level formatter
    init_admin(app)
    from admin_views.public import init_public

    init_public(app)
    from admin_views.api import init_api

    # The JSON API for other systems, on the portal's rate limiter (after init_public).
    init_api(app)
    from models.base import format_chinese_date, format_local

    app.jinja_env.filters["local_time"] = format_local
    app.jinja_env.filters["chinese_date"] = format_chinese_date
    app.jinja_env.globals["get_locale"] = get_locale
    _register_error_pages(app)
    from admin_views.failures import install_failure_handling

    # 500 and 503 pages that need no database, request ids and logs, /healthz and /readyz.
    install_failure_handling(app)
    from models.maintenance.background import install_background

    # Periodic tasks in a thread of the web process (one-desk default, no cron needed).
    install_background(app)
    _register_cli(app)

    @app.route("/")
    def home():
        return redirect(url_for("admin.index"))

    @app.route("/lang/<code>")
    def switch_language(code: str):
        if code in SUPPORTED_LOCALES:
            session["locale"] = code
        target = request.referrer or url_for("admin.index")
        if not target.startswith(request.host_url):
            target = url_for("admin.index")
        return redirect(target)

    return app


def select_locale() -> str:
    if not has_request_context():
        return "zh_Hans_CN"
    chosen = session.get("locale")
    return chosen if chosen in SUPPORTED_LOCALES else "zh_Hans_CN"


@login_manager.user_loader
def load_user(token: str) -> User | None:
    from admin_views.case_records import request_plan_settings
    from models.vocabulary import remember_vocabulary

    # One query: roles, unit and the organisation's words come with the user, so list pages
    # stay within their budget; so do the planner settings of a page that reads by key.
    plan_settings = request_plan_settings()
    row = (
        db.session.execute(_user_statement(plan_settings), {"token": token}).unique().one_or_none()
    )
    if row is None:
        return None
    remember_vocabulary(row[1])
    return row[0]


_user_statements: dict[bool, sa.Select] = {}


def _user_statement(plan_settings: tuple) -> sa.Select:
    """``load_user``'s statement, with the token as the bound parameter ``token``: built once
    per process (with and without the planner settings, which are constant columns), as every
    request runs it and building it (two joined loads, the vocabulary subquery) cost more
    than running it."""
    with_plan_settings = bool(plan_settings)
    statement = _user_statements.get(with_plan_settings)
    if statement is None:
        from models.vocabulary import vocabulary_subquery

        statement = (
            sa.select(User, vocabulary_subquery(), *plan_settings)
            .options(
                sa.orm.joinedload(User.roles),
                sa.orm.joinedload(User.unit),
                sa.orm.undefer(User.unread_notification_count),
            )
            .where(
                User.session_token == sa.bindparam("token"),
                User.is_active_user.is_(True),
            )
        )
        _user_statements[with_plan_settings] = statement
    return statement


def _configure_engine() -> None:
    engine = db.engine
    if engine.dialect.name == "sqlite":

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.close()

    if engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg":
        # Read-only requests keep the statements psycopg prepared (models/pg_connections.py).
        sa.event.listen(engine, "do_connect", pg_connections.connect)

    @sa.event.listens_for(db.metadata, "before_create")
    def _pg_extensions(_target, connection, **_kw):
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))


def _register_error_pages(app: Flask) -> None:
    messages = {
        400: _l("请求有误，请检查填写的内容后重试。"),
        403: _l("您没有权限访问此页面。"),
        404: _l("您要找的页面或记录不存在。"),
        405: _l("不支持此操作方式。"),
        413: _l("上传的文件太大。"),
    }

    def render_error(code: int, message: str | None = None):
        return (
            render_template("error.html", code=code, message=message or messages[code]),
            code,
        )

    for code in messages:
        app.register_error_handler(code, lambda error, code=code: render_error(code))

    @app.errorhandler(403)
    def forbidden(error):
        _record_denied()
        return render_error(403)

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return render_error(400, _l("页面已过期或来源无法验证，请返回刷新页面后重新提交。"))


def _record_denied() -> None:
    """Refused requests of signed-in users go to the audit log (who tried to open what)."""
    from flask_login import current_user

    from models.audit import AuditAction
    from models.operations.audit_log import record_audit

    if not current_user.is_authenticated:
        return
    try:
        db.session.rollback()
        record_audit(
            AuditAction.denied,
            by=current_user,
            target_type="request",
            summary=f"{request.method} {request.path}"[:300],
            data={"endpoint": request.endpoint},
        )
        db.session.commit()
    except sa.exc.SQLAlchemyError:
        db.session.rollback()
        logger.exception("could not record a refused request")


def _register_cli(app: Flask) -> None:
    @app.cli.command("create-user")
    @click.option("--username", prompt="用户名")
    @click.option("--full-name", prompt="姓名")
    @click.option("--role", "role_codes", multiple=True, default=["admin"], show_default=True)
    @click.option("--unit", "unit_name", default=None, help="所属单位名称")
    @click.password_option(prompt="密码")
    def create_user_command(username, full_name, role_codes, unit_name, password):
        """Create a staff account (roles by code: admin, registrar, handler, ...)."""
        from models.maintenance.presets import ensure_roles, ensure_settings
        from models.operations import WorkflowError
        from models.operations.users import create_user

        # On a database just migrated, the first administrator comes before any preset (the
        # set-up wizard chooses one at their first login): the roles must exist already.
        ensure_roles()
        ensure_settings()
        try:
            user = create_user(
                username=username,
                full_name=full_name,
                password=password,
                role_codes=role_codes,
                unit_name=unit_name,
            )
        except WorkflowError as error:
            raise click.ClickException(str(error)) from error
        db.session.commit()
        click.echo(f"已创建用户 {user.username}（{user.role_names}）")

    @app.cli.command("seed-demo")
    @click.option("--cases", default=300, show_default=True, help="生成的信访事项数")
    @click.option("--password", default="demo12345", show_default=True)
    def seed_demo_command(cases, password):
        """Load the government preset and realistic demo cases (idempotent)."""
        from models.maintenance.demo import seed_demo

        logins = seed_demo(case_count=cases, password=password)
        db.session.commit()
        if logins:
            click.echo("演示账号（用户名 / 密码 / 角色）：")
            for username, role_name in logins:
                click.echo(f"  {username:<12} {password}  {role_name}")
        else:
            click.echo("演示数据已存在，未重复生成。")

    @app.cli.command("rebuild-stats")
    def rebuild_stats_command():
        """Recompute the statistics rollup (case_daily_stats) from the cases."""
        from models.case_stats import rebuild

        groups = rebuild()
        db.session.commit()
        click.echo(f"统计汇总已重建：{groups} 组。")

    @app.cli.command("refresh-retention")
    def refresh_retention_command():
        """Recompute every finished case's retention date from the current rules."""
        from models.operations.retention import refresh_retention

        changed = refresh_retention()
        db.session.commit()
        click.echo(f"保存期限已重新计算：{changed} 件事项有变化")

    @app.cli.command("run-escalations")
    @click.option(
        "--every",
        type=click.IntRange(min=1),
        default=None,
        help="keep running, once every this many seconds (60 for minute clocks)",
    )
    def run_escalations_command(every):
        """Fire due escalation warnings (cron every minute, or --every 60 as a service)."""
        import time

        from models.operations.deadlines import run_escalations

        while True:
            try:
                fired = run_escalations()
                db.session.commit()
                click.echo(f"已发出预警：{fired} 条")
            except Exception:
                # A failed run (database restart) must not end the loop; the next one retries.
                db.session.rollback()
                if every is None:
                    raise
                app.logger.exception("run-escalations failed")
            finally:
                db.session.remove()
            if every is None:
                return
            time.sleep(every)

    @app.cli.command("run-periodic")
    def run_periodic_command():
        """Run every periodic task that is due now (warnings, job recovery, callback planning,
        retention reminders) once; a task some scheduler already ran for this slot is skipped."""
        from models.maintenance.background import Scheduler

        outcomes = Scheduler(app).tick()
        for task, outcome in outcomes.items():
            state = {True: "已运行", False: "本时段已由其他进程运行", None: "失败（见日志）"}
            click.echo(f"{task}: {state[outcome]}")

    @app.cli.command("plan-callbacks")
    @click.option("--user", "username", required=True, help="account the tasks are created by")
    def plan_callbacks_command(username):
        """Create the callback tasks of routine schedules due within 7 days (run daily)."""
        import sqlalchemy as sa

        from models import User
        from models.base import local_zone, utcnow
        from models.operations import WorkflowError
        from models.operations.callbacks import plan_scheduled_callbacks

        user = db.session.scalar(sa.select(User).where(User.username == username))
        if user is None or not user.is_active:
            raise click.ClickException(f"用户 {username} 不存在或已停用")
        try:
            created = plan_scheduled_callbacks(utcnow().astimezone(local_zone()).date(), by=user)
        except WorkflowError as error:
            raise click.ClickException(str(error)) from error
        db.session.commit()
        click.echo(f"已生成定期回访任务：{len(created)} 个")

    @app.cli.command("load-deadline-preset")
    @click.argument("name")
    def load_deadline_preset_command(name):
        """Replace the deadline and escalation rules with a preset's (government, enterprise,
        property, hospital)."""
        from models.maintenance.presets import load_deadline_preset

        rules, escalations = load_deadline_preset(name)
        db.session.commit()
        click.echo(f"已载入时限规则 {rules} 条、预警规则 {escalations} 条")

    @app.cli.command("load-preset")
    @click.argument("name", default="government")
    def load_preset_command(name):
        """Load a preset's roles, units, categories and settings (idempotent)."""
        from models.maintenance.presets import load_preset

        load_preset(name)
        db.session.commit()
        click.echo(f"已载入预设：{name}")

    @app.cli.command("export-config")
    @click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
    def export_config_command(path):
        """Write the whole configuration (units, roles, categories, rules, settings, wording)
        to a JSON file."""
        from models.maintenance.configuration import configuration_text

        path.write_text(configuration_text(), encoding="utf-8")
        click.echo(f"已导出配置：{path}")

    @app.cli.command("import-config")
    @click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--yes", is_flag=True, help="不再询问，直接导入")
    def import_config_command(path, yes):
        """Show what a configuration file changes, then apply it (all or nothing)."""
        from models.maintenance.configuration import (
            apply_configuration,
            diff_configuration,
            parse_configuration,
        )
        from models.operations import ValidationFailed

        try:
            data = parse_configuration(path.read_bytes())
            changes = diff_configuration(data)
        except ValidationFailed as error:
            raise click.ClickException(str(error)) from error
        for change in changes:
            click.echo(
                f"{change['title']}：新增 {len(change['added'])}，修改 {len(change['changed'])}，"
                f"移除 {len(change['removed'])}"
            )
        if not yes:
            click.confirm("确定导入吗？", abort=True)
        try:
            apply_configuration(data)
        except ValidationFailed as error:
            db.session.rollback()
            raise click.ClickException(str(error)) from error
        db.session.commit()
        click.echo("已导入配置。")

    @app.cli.command("backup")
    @click.option(
        "--output-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=lambda: Path(current_app.instance_path) / "backups",
        help="备份文件存放目录（默认 instance/backups）",
    )
    def backup_command(output_dir):
        """Write a consistent backup of the database and stored files to one archive."""
        from models.maintenance.backup import BackupError, create_backup

        try:
            result = create_backup(output_dir)
        except BackupError as error:
            raise click.ClickException(str(error)) from error
        rows = sum(result.tables.values())
        click.echo(f"已备份：{result.archive}")
        click.echo(f"  数据表 {len(result.tables)} 张、共 {rows} 行；文件 {result.file_count} 个")

    @app.cli.command("restore")
    @click.argument("archive", type=click.Path(dir_okay=False, path_type=Path))
    @click.option("--yes", is_flag=True, help="不再询问，直接恢复")
    def restore_command(archive, yes):
        """Replace the database and stored files with those in a backup archive (after proving
        the whole archive in scratch space)."""
        from models.maintenance.backup import BackupError, restore_backup

        if not yes:
            click.confirm(
                f"恢复将用 {archive.name} 替换当前数据库的全部内容和已存文件，确定继续吗？",
                abort=True,
            )
        try:
            result = restore_backup(archive)
        except BackupError as error:
            raise click.ClickException(str(error)) from error
        rows = sum(result.tables.values())
        click.echo(
            f"已恢复：数据表 {len(result.tables)} 张、共 {rows} 行；文件 {result.file_count} 个"
        )
        for folder in result.replaced_folders:
            click.echo(f"  原有文件已保留在：{folder}")
        click.echo("如备份来自较旧的版本，请接着运行 flask db upgrade。")

    @app.cli.command("restore-drill")
    @click.argument("archive", required=False, type=click.Path(dir_okay=False, path_type=Path))
    @click.option(
        "--backup-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=lambda: Path(current_app.instance_path) / "backups",
        help="不指定备份文件时，取此目录中最新的一份（默认 instance/backups）",
    )
    def restore_drill_command(archive, backup_dir):
        """Restore a backup (the newest by default) into a scratch database and report what
        differs; the live data is not touched. Run it weekly."""
        from models.maintenance.backup import BackupError, newest_archive, restore_drill

        try:
            report = restore_drill(archive or newest_archive(backup_dir))
        except BackupError as error:
            raise click.ClickException(f"恢复演练失败：{error}") from error
        for line in report.lines():
            click.echo(line)
        if not report.ok:
            raise click.exceptions.Exit(1)
