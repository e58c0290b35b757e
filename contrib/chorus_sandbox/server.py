"""Serve the sandbox with the standard library's WSGI server, one thread per request.

Threads matter: a time-out fault holds an answer for a while and must not hold the others.
"""

from __future__ import annotations

import json
import logging
import os
import socketserver
import tempfile
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

log = logging.getLogger(__name__)


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request, client_address) -> None:
        # a client that gave up (time-out fault) closed the socket: not an error of ours
        log.debug("connection from %s ended early", client_address)


class QuietHandler(WSGIRequestHandler):
    """Log requests through `logging` instead of stderr."""

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)


def serve(app, host: str, port: int) -> ThreadingWSGIServer:
    """Bind the server (port 0 picks a free one); the caller runs `serve_forever()`."""
    return make_server(
        host, port, app, server_class=ThreadingWSGIServer, handler_class=QuietHandler
    )


def write_credentials(path: str, credentials: dict[str, Any]) -> None:
    """Write the credentials file atomically, readable by its owner only."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".credentials-")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(credentials, out, indent=2, ensure_ascii=False)
        out.write("\n")
    os.chmod(temporary, 0o600)
    os.replace(temporary, target)


def run(app, args, title: str, endpoint: tuple[str, str], control_path: str = "/_sandbox") -> int:
    """Serve ``app`` on ``args.host:args.port`` until interrupted: write its credentials to
    ``args.credentials_out``, then say where it listens, its ``endpoint`` (label, key of the
    credentials) and its control API (at ``control_path``), in the banner's first line once
    it listens."""
    server = serve(app, args.host, args.port)
    host, port = server.server_address[:2]
    base_url = f"http://{host}:{port}"
    credentials = app.sandbox.credentials(base_url)
    if args.credentials_out:
        write_credentials(args.credentials_out, credentials)
    label, key = endpoint
    print(f"{title} on {base_url} (state: {args.state})", flush=True)
    print(f"  {label:<11} {credentials[key]}", flush=True)
    print(f"  control API {base_url}{control_path}", flush=True)
    if args.credentials_out:
        print(f"  credentials {args.credentials_out}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        app.close()
    return 0
