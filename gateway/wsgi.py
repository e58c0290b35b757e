"""WSGI entry point for gunicorn: ``gunicorn gateway.wsgi:app``.

gunicorn preloads this module in its master (conf/gunicorn.conf.py), so that the code,
the plugins and their read-only data are loaded once and shared by the forked web workers;
``after_fork`` then gives each worker its own database connections.
"""

import gc

from gateway.app import create_app
from gateway.config import load_config
from gateway.logs import configure_logging
from gateway.services import build_services

config = load_config()
configure_logging(config.log_format, config.log_level)
config.ensure_secret_key()
services = build_services(config)
app = create_app(config, services)
# What is loaded so far stays put: the collector walking it would copy the shared pages.
gc.freeze()


def after_fork() -> None:
    """Drop the connections the master may hold, without closing them under its feet."""
    services.store.engine.dispose(close=False)
