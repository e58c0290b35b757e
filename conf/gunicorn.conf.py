"""gunicorn settings for `facture-gateway serve` (loopback by default; PORT changes the port)."""

import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8080')}"
workers = int(os.environ.get("GATEWAY_WEB_WORKERS", "2"))
# Sync workers, not threads: the schematron run (saxonche) holds the GIL for seconds on a
# large document, so a thread beside it would wait as long. Heavy documents are kept off
# some workers instead ([server] heavy_documents, docs/architecture.md).
worker_class = "sync"
timeout = 60
# The application is loaded once, in the master, and shared by the workers (gateway/wsgi.py).
# Saxon (validation) is not fork-safe: each worker starts its own on first use. A new
# release needs a restart: HUP would fork new workers from the old code.
preload_app = True

# Longer than [server] max_document_seconds (30): a restart lets a large document finish.
graceful_timeout = 40
# The application logs every request itself, with its request id.
accesslog = None
errorlog = "-"


def post_fork(server, worker) -> None:
    from gateway import wsgi

    wsgi.after_fork()
