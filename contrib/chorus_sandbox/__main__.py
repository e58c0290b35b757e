"""Run the Chorus Pro sandbox: `python -m contrib.chorus_sandbox --help`."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .app import create_app
from .server import run

DESCRIPTION = """\
A local simulator of the Chorus Pro API (PISTE), for tests, demos and anyone integrating
with Chorus Pro offline.

It serves, on one port:
  POST /api/oauth/token      the PISTE OAuth2 token endpoint (client_credentials, scope openid)
  /cpro/...                  the Chorus Pro operations (Authorization: Bearer + cpro-account)
  /_sandbox/...              the control API, loopback only: play the recipient, edit the
                             directory, inject faults, read counters (GET /_sandbox lists it)

The state (credentials, directory, deposits, invoices, counters) lives in the --state SQLite
file and survives restarts. Demo PISTE and technical-account credentials are generated once per
state file; --credentials-out writes them as JSON for any Chorus Pro client:
  {"client_id", "client_secret", "login", "password", "token_url", "api_url", ...}
"""

EPILOG = """\
example:
  python -m contrib.chorus_sandbox --state var/chorus-sandbox.sqlite3 \\
      --credentials-out var/sandbox-credentials.json
  curl -s -X POST http://127.0.0.1:8081/_sandbox/process    # process pending deposits now
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m contrib.chorus_sandbox",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8081, help="port to listen on (8081)")
    parser.add_argument(
        "--state",
        default="var/chorus-sandbox.sqlite3",
        help="SQLite state file, created and seeded if missing (var/chorus-sandbox.sqlite3)",
    )
    parser.add_argument(
        "--credentials-out",
        metavar="FILE",
        help="write the demo credentials to FILE as JSON (mode 600)",
    )
    parser.add_argument(
        "--processing-delay",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="how long a deposited flux waits before it is processed (2); "
        "a negative value means only POST /_sandbox/process processes flux",
    )
    parser.add_argument(
        "--token-ttl", type=int, default=3600, metavar="SECONDS", help="token lifetime (3600)"
    )
    parser.add_argument(
        "--business-error-status",
        type=int,
        choices=(200, 400),
        default=200,
        help="HTTP status of answers with codeRetour != 0 (200)",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    Path(args.state).parent.mkdir(parents=True, exist_ok=True)
    app = create_app(
        args.state,
        processing_delay=args.processing_delay if args.processing_delay >= 0 else None,
        token_ttl=args.token_ttl,
        business_error_status=args.business_error_status,
        warm_up=True,
    )
    return run(app, args, "Chorus Pro sandbox", ("token URL", "token_url"))


if __name__ == "__main__":
    sys.exit(main())
