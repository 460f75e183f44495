"""A throwaway PostgreSQL server for the test session.

PostgreSQL refuses to run as root, so when the tests run as root the server is started as
user `postgres` in a temporary directory, listening on a loopback port only.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def _bindir() -> Path | None:
    for candidate in [os.environ.get("PG_BINDIR"), *sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]:
        if candidate and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    found = shutil.which("pg_ctl")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    def __init__(self):
        # Not under pytest's tmp dir: its parents are private to root and postgres could not enter.
        self.workdir = Path(tempfile.mkdtemp(prefix="sanwei-pg-"))
        self.bindir = _bindir()
        self.port = _free_port()
        self.datadir = self.workdir / "data"
        self.as_root = os.geteuid() == 0

    def unavailable_reason(self) -> str | None:
        if self.bindir is None:
            return "PostgreSQL server binaries (initdb, pg_ctl) not found"
        if self.as_root:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                return "running as root but there is no 'postgres' user to run the server"
        return None

    def _run(self, *args: str) -> None:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, cwd="/tmp")
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {done.stderr.strip() or done.stdout.strip()}")

    def start(self) -> str:
        if self.as_root:
            shutil.chown(self.workdir, "postgres", "postgres")
            self.workdir.chmod(0o700)
        self._run("initdb", "-D", str(self.datadir), "-U", "postgres", "-A", "trust",
                  "-E", "UTF8", "--locale=C", "--no-sync")
        options = (f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run("pg_ctl", "-D", str(self.datadir), "-o", options, "-l", str(self.workdir / "server.log"),
                  "-w", "-t", "60", "start")
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}"

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError):
            self._run("pg_ctl", "-D", str(self.datadir), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.workdir, ignore_errors=True)
