"""A platform that answers oddly, for outlet harnesses: a loopback HTTP server answering
every POST with the answer of the moment (``kind``, one of ``answers``: media type and
body), so that a harness provokes the illegible or unexpected answers the outlet suite
asks for (``OutletHarness.odd_answer``)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class OddPlatform:
    def __init__(self, answers: dict[str, tuple[str, bytes]], path: str = "") -> None:
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                media_type, body = platform.answers[platform.kind]
                self.send_response(200)
                self.send_header("Content-Type", media_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args) -> None:
                """Keep the test output quiet."""

        self.answers = answers
        self.kind = next(iter(answers))
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{path}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()
