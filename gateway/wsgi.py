"""WSGI entry point for gunicorn: ``gunicorn gateway.wsgi:app``."""

from gateway.app import create_app
from gateway.config import load_config
from gateway.logs import configure_logging

config = load_config()
configure_logging(config.log_format, config.log_level)
config.ensure_secret_key()
app = create_app(config)
