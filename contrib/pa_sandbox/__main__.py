"""Run the approved-platform sandbox: `python -m contrib.pa_sandbox --help`."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from contrib.chorus_sandbox.server import run

from .app import create_app

DESCRIPTION = """\
A local approved platform (PA, plateforme agréée) speaking AFNOR XP Z12-013, for tests, demos
and anyone integrating with a PA offline.

It serves, on one port:
  POST /oauth/token           OAuth2 token endpoint (client_credentials)
  /flow-service/v1/...        the Flow Service (Authorization: Bearer)
  /directory-service/v1/...   the Directory Service (Authorization: Bearer)
  /control/...                the control API, loopback only (GET /control lists it)

The state lives in the --state SQLite file and survives restarts. Demo client credentials are
generated once per state file; --credentials-out writes them as JSON:
  {"flow_url", "directory_url", "token_url", "client_id", "client_secret", "siren",
   "electronic_address"}
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m contrib.pa_sandbox",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8083, help="port to listen on (8083)")
    parser.add_argument(
        "--state",
        default="var/pa-sandbox.sqlite3",
        help="SQLite state file, created and seeded if missing (var/pa-sandbox.sqlite3)",
    )
    parser.add_argument(
        "--credentials-out", metavar="FILE", help="write the demo credentials to FILE (mode 600)"
    )
    parser.add_argument(
        "--ack-delay",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="how long a deposited flow stays Pending (2); "
        "negative: only POST /control/step acknowledges flows",
    )
    parser.add_argument(
        "--token-ttl", type=int, default=3600, metavar="SECONDS", help="token lifetime (3600)"
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
        ack_delay=args.ack_delay if args.ack_delay >= 0 else None,
        token_ttl=args.token_ttl,
    )
    return run(app, args, "PA sandbox", ("flow URL", "flow_url"), control_path="/control")


if __name__ == "__main__":
    sys.exit(main())
