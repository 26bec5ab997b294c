"""The embedded default: a throwaway MariaDB/MySQL server started from the binary on this
machine, in a temporary data directory, on a unix socket only (no TCP), deleted afterwards.

The data directory goes to memory (/dev/shm) when there is room: every CREATE, ALTER and DROP
writes and removes files, and on a disk that costs the server 4-5 times more (docs/benchmarks.md).

Standard library only at import: the CLI starts the server before it loads SQLAlchemy and Alembic,
whose import (~0.3 s) then overlaps the server's start-up.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from typing import TYPE_CHECKING, Callable, ContextManager, Optional, Union

from .errors import ConfigError, ServerError
from .interrupts import cleaning

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

_SEARCH = ["/usr/sbin", "/usr/libexec", "/usr/local/sbin", "/usr/local/mysql/bin", "/opt/homebrew/bin"]
_DATA_PREFIX = "alembic-ci-"  # the data directory, made by mkdtemp: 8 random characters follow
# A memory filesystem is used only with this much free: a data migration filling it would fail
# like a broken migration (the data directory itself takes ~50 MB). Docker's default /dev/shm,
# 64 MB, is too small: inside the action's container the data directory stays on disk.
_MEMORY_DIRS = ("/dev/shm",)
_SYSTEM_TMP = ("/tmp", "/var/tmp")
_MEMORY_MIN_FREE = 1 << 30
# MariaDB's redo log: its 96 MB default would be the biggest file of a data directory in memory.
# (MySQL 8.0.30+ sizes its redo log with another variable; its default is left alone.)
_MARIADB_LOG_FILE_SIZE = "--innodb-log-file-size=32M"
# Runs each of the server's processes: "$@" with the data directory $1. If the bot dies without
# cleaning up (SIGKILL, the OOM killer), the pipe on the guard's stdin reaches end of file: it kills
# the process and deletes the directory (memory, in /dev/shm), deaf to the TERM that ends it when
# the process ends first. A background list's stdin would be /dev/null, hence fd 3.
_ORPHAN_GUARD = """
dir=$1; shift
exec 3<&0
"$@" </dev/null &
child=$!
{ while read -r _; do :; done; trap '' TERM; kill -9 "$child" 2>/dev/null; sleep 2; rm -rf "$dir"; } <&3 &
guard=$!
wait "$child"
status=$?
kill "$guard" 2>/dev/null
exit "$status"
"""
_INSTALL_HINT = ("install a server (Debian/Ubuntu: `sudo apt-get install mariadb-server`; macOS: "
                 "`brew install mysql`) or pass --database-url mysql+pymysql://USER@HOST:3306/")


def find_server_binary() -> Optional[str]:
    path = os.pathsep.join([os.environ.get("PATH", "")] + _SEARCH)
    for name in ("mariadbd", "mysqld"):
        found = shutil.which(name, path=path)
        if found:
            return found
    return None


class GivenServer:
    """A server named by URL: up already."""

    def __init__(self, url: str) -> None:
        from .server import parse_url  # SQLAlchemy: no embedded server to overlap with

        self._url = parse_url(url)

    def url(self, progress: Callable[[str], None]) -> "URL":
        return self._url


def scratch_server(url: Optional[str], scratch_database: Optional[str]) -> ContextManager["ScratchServer"]:
    """The server scratch databases go to: ``url``, else an embedded throwaway server (starting
    from now on, in the background)."""
    if url:
        return contextlib.nullcontext(GivenServer(url))
    if scratch_database:
        raise ConfigError("--scratch-database names a database on a server, and no server URL was given",
                          "pass the server's URL too (--database-url for check, --scratch-url for doctor)")
    return EmbeddedServer()


class _Stopped(Exception):
    """The check ended before the server was needed."""


class EmbeddedServer:
    """``with EmbeddedServer() as server: ... server.url(progress)``. The server starts in the
    background on entering: initializing its data directory and starting it (~0.4 s, other
    processes) overlap importing the bot and loading the project. url() waits for it; leaving
    kills it and deletes its directory, whatever state it reached."""

    def __init__(self, startup_seconds: float = 60):
        self._seconds = startup_seconds
        self._binary = find_server_binary()
        self._parent = data_parent()
        self._datadir: Optional[str] = None
        self._lock = threading.Lock()  # guards _child and _stopping between the two threads
        self._child: Optional[subprocess.Popen] = None  # the initialization, then the server
        self._stopping = False
        self._error: Optional[BaseException] = None
        self._thread: Optional[threading.Thread] = None
        self._lifeline: tuple = ()

    def __enter__(self) -> "EmbeddedServer":
        if self._binary is not None:
            try:
                self._datadir = tempfile.mkdtemp(prefix=_DATA_PREFIX, dir=self._parent)
                self._lifeline = os.pipe()  # open while we live: the guard's end of file
                self._thread = threading.Thread(target=self._start, name="alembic-ci-embedded-server", daemon=True)
                self._thread.start()
            except BaseException:  # a signal right here: `with` will not call __exit__
                self.__exit__(None, None, None)
                raise
        return self

    def url(self, progress: Callable[[str], None]) -> "URL":
        from sqlalchemy.engine import URL

        if self._binary is None:
            raise ServerError("no --database-url was given and no mariadbd/mysqld binary was found", _INSTALL_HINT)
        where = "in memory" if self._parent in _MEMORY_DIRS else "temporary"
        progress(f"starting an embedded server from {self._binary} ({where}, no TCP)...")
        self._thread.join()
        if self._error is not None:
            raise self._error
        return URL.create("mysql+pymysql", username="root", host="localhost", query={"unix_socket": self._socket})

    def __exit__(self, *exc_info) -> None:
        with cleaning():
            with self._lock:
                self._stopping = True
                child = self._child
            if child is not None and child.poll() is None:
                # Its whole process group (mariadb-install-db is a script running a bootstrap
                # server): the data is thrown away, so nothing needs a clean shutdown.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)
                child.wait()
            if self._thread is not None and self._thread.ident is not None:  # started
                self._thread.join()
            if self._datadir is not None:
                _remove(self._datadir)
            for fd in self._lifeline:
                os.close(fd)

    @property
    def _socket(self) -> str:
        return _socket_in(self._datadir)

    def _start(self) -> None:
        """The background thread: its error is raised by url()."""
        try:
            mariadb = "mariadb" in _version(self._binary).lower()
            self._initialize(mariadb)
            args = [
                self._binary, "--no-defaults", f"--datadir={self._datadir}/data", f"--socket={self._socket}",
                "--skip-networking", f"--pid-file={self._datadir}/mysqld.pid",
                f"--log-error={self._datadir}/error.log", f"--tmpdir={self._datadir}",
                "--innodb-buffer-pool-size=64M",
                *([_MARIADB_LOG_FILE_SIZE] if mariadb else []), "--skip-log-bin", "--character-set-server=utf8mb4",
                # A scratch server: durability is worth nothing, speed is.
                "--innodb-flush-log-at-trx-commit=0", "--sync-binlog=0",
                # One shared tablespace: creating and dropping a table touches no file of its own.
                "--innodb-file-per-table=0", *_as_root(),
            ]
            self._wait_for_socket(self._spawn(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        except BaseException as exc:  # noqa: B902 - handed to the main thread as it is
            self._error = exc

    def _spawn(self, args: list, **kwargs) -> subprocess.Popen:
        with self._lock:
            if self._stopping:
                raise _Stopped()
            # Its own session: a Ctrl-C in the terminal is ours to handle, and __exit__ kills the group.
            self._child = subprocess.Popen(["/bin/sh", "-c", _ORPHAN_GUARD, "sh", self._datadir, *args],
                                           stdin=self._lifeline[0], start_new_session=True, **kwargs)
            return self._child

    def _initialize(self, mariadb: bool) -> None:
        data = os.path.join(self._datadir, "data")
        if mariadb:
            install = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
            if install is None:
                raise ServerError("mariadb-install-db was not found next to mariadbd", _INSTALL_HINT)
            command = [install, "--no-defaults", f"--datadir={data}", "--auth-root-authentication-method=normal",
                       "--skip-test-db", f"--tmpdir={self._datadir}", _MARIADB_LOG_FILE_SIZE, *_as_root()]
            if not self._binary.startswith("/usr/"):
                command.append(f"--basedir={os.path.dirname(os.path.dirname(self._binary))}")
        else:
            command = [self._binary, "--no-defaults", "--initialize-insecure", f"--datadir={data}",
                       f"--tmpdir={self._datadir}", *_as_root()]
        process = self._spawn(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = process.communicate()
        if process.returncode != 0:
            reason = _cause((err or out).strip().splitlines()) or "no output"
            raise ServerError(f"the embedded server could not initialize its data directory ({reason})",
                              "pass --database-url to use a running server instead")

    def _wait_for_socket(self, process: subprocess.Popen) -> None:
        import pymysql

        deadline = time.monotonic() + self._seconds
        while time.monotonic() < deadline and not self._stopping:
            if process.poll() is not None:
                raise ServerError(f"the embedded server exited at start ({_log_tail(self._datadir)})",
                                  "pass --database-url to use a running server instead")
            if os.path.exists(self._socket):
                try:
                    pymysql.connect(unix_socket=self._socket, user="root").close()
                    return
                except pymysql.err.OperationalError:
                    pass
            time.sleep(0.02)
        raise ServerError(f"the embedded server did not start within {self._seconds:g} s "
                          f"({_log_tail(self._datadir)})", "pass --database-url to use a running server instead")


ScratchServer = Union[GivenServer, EmbeddedServer]  # url(progress): the server, once it is up


def data_parent(candidates=_MEMORY_DIRS, min_free: int = _MEMORY_MIN_FREE) -> Optional[str]:
    """Where the data directory goes: a memory filesystem with room, unless TMPDIR says where
    temporary files go; None: the system's temporary directory."""
    tmpdir = os.path.abspath(os.environ["TMPDIR"]) if os.environ.get("TMPDIR") else ""  # as tempfile takes it
    if tmpdir and _usable(tmpdir):
        return None
    for candidate in candidates:
        try:
            stats = os.statvfs(candidate)
        except OSError:
            continue
        if stats.f_bavail * stats.f_frsize >= min_free and os.access(candidate, os.W_OK | os.X_OK):
            return candidate
    if tmpdir:  # not usable: the system's own, as if TMPDIR were unset
        return next((d for d in _SYSTEM_TMP if _usable(d) and os.access(d, os.W_OK | os.X_OK)), None)
    return None


def _usable(directory: str) -> bool:
    # mariadb-install-db, a shell script, splits paths on spaces; a unix socket's path (inside the
    # data directory mkdtemp makes there) has at most 107 bytes.
    socket = _socket_in(os.path.join(directory, _DATA_PREFIX + "x" * 8))
    return not any(c.isspace() for c in directory) and len(os.fsencode(socket)) <= 107


def _socket_in(datadir: str) -> str:
    return os.path.join(datadir, "mysqld.sock")


def _version(binary: str) -> str:
    try:
        return subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def _log_tail(datadir: str) -> str:
    try:
        with open(os.path.join(datadir, "error.log"), errors="replace") as log:
            return _cause([line.strip() for line in log]) or "no error in its log"
    except OSError:
        return "no log"


def _cause(lines: list) -> Optional[str]:
    """The error that made the server give up: the last [ERROR] line that is not the final
    "[ERROR] Aborting" (else the last line)."""
    causes = [line for line in lines if "[ERROR]" in line and not line.rstrip(".").endswith("Aborting")]
    return (causes or lines[-1:] or [None])[-1]


def _remove(directory: str, seconds: float = 2.0) -> None:
    """Delete ``directory``, again while something still writes in it: the bootstrap server
    that mariadb-install-db runs is its child, killed but not waited for (a zombie's reaping is
    its new parent's business, and may take a while)."""
    deadline = time.monotonic() + seconds
    while True:
        shutil.rmtree(directory, ignore_errors=True)
        if not os.path.exists(directory) or time.monotonic() > deadline:
            return
        time.sleep(0.05)


def _as_root() -> list:
    return ["--user=root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
