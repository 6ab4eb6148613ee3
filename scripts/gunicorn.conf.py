"""gunicorn settings of scripts/run.sh: start the in-process scheduler of the periodic tasks in
each web worker as soon as it has loaded the app (not only at its first request). Only one
worker at a time holds the scheduler's lock; the others stand by and take over if it dies."""


def post_worker_init(worker):
    from models.maintenance.background import in_process_wanted, start_in_process

    app = worker.wsgi
    if hasattr(app, "config") and in_process_wanted(app):
        start_in_process(app)
