"""Run the Dilifac sandbox: `python -m contrib.dilifac_sandbox --help`."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from contrib.chorus_sandbox.server import run

from .app import create_app

DESCRIPTION = """\
A local Dilifac web service (SOAP 1.1, the WSDL of this folder), for tests and demos.

It serves, on one port:
  GET  /dilifac?wsdl    the WSDL
  POST /dilifac         deposit an invoice (CII or EDIFACT INVOIC), statuses, archive
                        receipt, find a deposit (WS-Security UsernameToken on every call)
  /_sandbox/...         the control API, loopback only (GET /_sandbox lists it)

The state lives in the --state SQLite file and survives restarts. Demo subscribers' logins
and passwords are generated once per state file; --credentials-out writes them as JSON:
  {"url", "login", "password", "siret", "wsdl_url", "control_url", "accounts"}
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m contrib.dilifac_sandbox",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8082, help="port to listen on (8082)")
    parser.add_argument(
        "--state",
        default="var/dilifac-sandbox.sqlite3",
        help="SQLite state file, created if missing (var/dilifac-sandbox.sqlite3)",
    )
    parser.add_argument(
        "--credentials-out", metavar="FILE", help="write the demo credentials to FILE (mode 600)"
    )
    parser.add_argument(
        "--pace",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="seconds between two steps of a deposit left alone (10); "
        "negative: deposits move only through the control API",
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
    app = create_app(args.state, pace=args.pace if args.pace >= 0 else None)
    return run(app, args, "Dilifac sandbox", ("WSDL", "wsdl_url"))


if __name__ == "__main__":
    sys.exit(main())
