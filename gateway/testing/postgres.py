"""A throw-away PostgreSQL server on a loopback port, for the tests and the benches.

server = PostgresServer()
server.start()
url = server.create_database()
...
server.stop()
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import sqlalchemy as sa


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found and name != "initdb":
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else found


class PostgresServer:
    """A throw-away PostgreSQL cluster on a loopback port, in a temporary directory."""

    def __init__(self):
        self.initdb = _pg_bin("initdb")
        self.pg_ctl = _pg_bin("pg_ctl")
        if not self.initdb or not self.pg_ctl:
            raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
        self.directory = Path(tempfile.mkdtemp(prefix="gateway-pg-"))
        self.port = free_port()
        # initdb refuses to run as root: run the server as the postgres account then.
        self.prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.prefix:
            shutil.chown(self.directory, "postgres")

    def _run(self, *command: str) -> None:
        subprocess.run([*self.prefix, *command], check=True, capture_output=True)

    def start(self) -> None:
        data = self.directory / "data"
        self._run(self.initdb, "-D", str(data), "-U", "gateway", "--auth=trust", "-E", "UTF8")
        options = (
            f"-h 127.0.0.1 -p {self.port} -k {self.directory} -c fsync=off -c max_connections=200"
        )
        self._run(
            self.pg_ctl,
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(self.directory / "log"),
            "-w",
            "start",
        )

    def stop(self) -> None:
        subprocess.run(
            [
                *self.prefix,
                self.pg_ctl,
                "-D",
                str(self.directory / "data"),
                "-m",
                "immediate",
                "stop",
            ],
            capture_output=True,
        )
        shutil.rmtree(self.directory, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://gateway@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """Create an empty database with a fresh name; return its URL."""
        name = "t_" + uuid.uuid4().hex[:12]
        engine = sa.create_engine(
            self.url().replace("postgresql://", "postgresql+psycopg://"),
            isolation_level="AUTOCOMMIT",
        )
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        return self.url(name)
