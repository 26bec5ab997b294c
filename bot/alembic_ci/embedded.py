"""The embedded default: a throwaway MariaDB/MySQL server started from the binary on this
machine, in a temporary data directory, on a unix socket only (no TCP), deleted afterwards.

The data directory goes to memory (/dev/shm) when there is room: every CREATE, ALTER and DROP
writes and removes files, and on a disk that costs the server 4-5 times more (docs/benchmarks.md).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from typing import Callable, Iterator, Optional

from sqlalchemy.engine import URL

from .errors import ServerError
from .sandbox import cleaning

_SEARCH = ["/usr/sbin", "/usr/libexec", "/usr/local/sbin", "/usr/local/mysql/bin", "/opt/homebrew/bin"]
# A memory filesystem is used only with this much free: a data migration filling it would fail
# like a broken migration (the data directory itself takes ~60 MB). Docker's default /dev/shm,
# 64 MB, is too small: inside the action's container the data directory stays on disk.
_MEMORY_DIRS = ("/dev/shm",)
_MEMORY_MIN_FREE = 1 << 30
# Redo log size: the 96 MB default would be the biggest file in a data directory held in memory.
_LOG_FILE_SIZE = "--innodb-log-file-size=32M"
_INSTALL_HINT = ("install a server (Debian/Ubuntu: `sudo apt-get install mariadb-server`; macOS: "
                 "`brew install mysql`) or pass --database-url mysql+pymysql://USER@HOST:3306/")


def find_server_binary() -> Optional[str]:
    path = os.pathsep.join([os.environ.get("PATH", "")] + _SEARCH)
    for name in ("mariadbd", "mysqld"):
        found = shutil.which(name, path=path)
        if found:
            return found
    return None


@contextlib.contextmanager
def embedded_server(progress: Callable[[str], None], startup_seconds: float = 60) -> Iterator[URL]:
    binary = find_server_binary()
    if binary is None:
        raise ServerError("no --database-url was given and no mariadbd/mysqld binary was found", _INSTALL_HINT)
    parent = data_parent()
    datadir = tempfile.mkdtemp(prefix="alembic-ci-", dir=parent)
    process = None
    try:
        where = "in memory" if parent else "temporary"
        progress(f"starting an embedded server from {binary} ({where}, no TCP)...")
        mariadb = "mariadb" in _version(binary).lower()
        _initialize(binary, datadir, mariadb)
        socket = os.path.join(datadir, "mysqld.sock")
        args = [
            binary, "--no-defaults", f"--datadir={datadir}/data", f"--socket={socket}",
            "--skip-networking", f"--pid-file={datadir}/mysqld.pid", f"--log-error={datadir}/error.log",
            "--innodb-buffer-pool-size=64M", _LOG_FILE_SIZE, "--skip-log-bin", "--character-set-server=utf8mb4",
            # A scratch server: durability is worth nothing, speed is.
            "--innodb-flush-log-at-trx-commit=0", "--sync-binlog=0",
            # One shared tablespace: creating and dropping a table touches no file of its own.
            "--innodb-file-per-table=0",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            args.append("--user=root")
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True)  # a Ctrl-C in the terminal is ours to handle
        _wait_for_socket(process, socket, datadir, startup_seconds)
        yield URL.create("mysql+pymysql", username="root", host="localhost", query={"unix_socket": socket})
    finally:
        with cleaning():
            try:
                if process is not None:
                    _stop(process)
            finally:
                shutil.rmtree(datadir, ignore_errors=True)


def data_parent(candidates=_MEMORY_DIRS, min_free: int = _MEMORY_MIN_FREE) -> Optional[str]:
    """Where the data directory goes: a memory filesystem with room, unless TMPDIR says where
    temporary files go; None: the system's temporary directory."""
    if os.environ.get("TMPDIR"):
        return None
    for candidate in candidates:
        try:
            stats = os.statvfs(candidate)
        except OSError:
            continue
        if stats.f_bavail * stats.f_frsize >= min_free and os.access(candidate, os.W_OK | os.X_OK):
            return candidate
    return None


def _version(binary: str) -> str:
    try:
        return subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def _initialize(binary: str, datadir: str, mariadb: bool) -> None:
    data = os.path.join(datadir, "data")
    user = ["--user=root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    if mariadb:
        install = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
        if install is None:
            raise ServerError("mariadb-install-db was not found next to mariadbd", _INSTALL_HINT)
        command = [install, "--no-defaults", f"--datadir={data}", "--auth-root-authentication-method=normal",
                   "--skip-test-db", _LOG_FILE_SIZE, *user]
        basedir = os.path.dirname(os.path.dirname(binary))
        if not binary.startswith("/usr/"):
            command.append(f"--basedir={basedir}")
    else:
        command = [binary, "--no-defaults", "--initialize-insecure", f"--datadir={data}", _LOG_FILE_SIZE, *user]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        # The cause, not the final "[ERROR] Aborting".
        causes = [line for line in lines if "[ERROR]" in line and not line.endswith("Aborting")]
        reason = (causes or lines[-1:] or ["no output"])[-1]
        raise ServerError(f"the embedded server could not initialize its data directory ({reason})",
                          "pass --database-url to use a running server instead")


def _wait_for_socket(process: subprocess.Popen, socket: str, datadir: str, seconds: float) -> None:
    import pymysql

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerError(f"the embedded server exited at start ({_log_tail(datadir)})",
                              "pass --database-url to use a running server instead")
        if os.path.exists(socket):
            try:
                pymysql.connect(unix_socket=socket, user="root").close()
                return
            except pymysql.err.OperationalError:
                pass
        time.sleep(0.05)
    raise ServerError(f"the embedded server did not start within {seconds:g} s ({_log_tail(datadir)})",
                      "pass --database-url to use a running server instead")


def _log_tail(datadir: str) -> str:
    try:
        with open(os.path.join(datadir, "error.log"), errors="replace") as log:
            lines = [line.strip() for line in log if "[ERROR]" in line]
        return lines[-1] if lines else "no error in its log"
    except OSError:
        return "no log"


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
