"""Incremental check: the schema at the base revisions, kept in a cache directory between runs,
so that a pull request's check restores it in one step and replays only the new revisions.

A snapshot is the dump of the scratch database at the moment the replay has applied exactly the
ancestors of the base (of the heads, in a check without a base: the next pull request's base):
SHOW CREATE TABLE of every table, then the rows (Alembic's version table, rows data migrations
inserted) as INSERT statements. Its file name is a key over what decides that schema and is known
before the replay: the revision files up to the base, env.py, alembic.ini, the server's version and
settings, the versions of Alembic, SQLAlchemy and alembic-ci. What those revision files import (the
project's modules: helpers, models; installed packages: a column type from sqlalchemy_utils) is known
once they ran, wherever they import it: the snapshot lists those modules with their hashes and the
packages with their versions. It is verified before use: the file's content against its stored
hash, those modules and packages against theirs, then the restored database's own dump against the
dump's hash. Anything wrong means a full replay, said in the progress output.

Not cached (full replay every time): schemas with views, triggers, routines, events or sequences
(their definitions name the database they were created in), system-versioned tables, and more than
_MAX_ROWS data rows.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import alembic
import sqlalchemy as sa

from . import __version__
from .graph import Graph, package_version
from .project import Project
from .server import execute_text, quote_ident
from .words import plural

FORMAT = 2  # 2: the modules and packages the revisions import, listed
_MAX_ROWS = 10_000
_IN_KEY = {"alembic", "sqlalchemy"}  # packages whose versions every key holds
_KEEP = 5  # snapshots kept in the cache directory (the most recently used)
# EXTRA of a generated column ("VIRTUAL GENERATED", "STORED GENERATED", MariaDB's "PERSISTENT"), not
# MySQL 8's "DEFAULT_GENERATED" of a column with an expression default.
_GENERATED = re.compile(r"\b(VIRTUAL|STORED|PERSISTENT)\b", re.IGNORECASE)
_SERVER_FACTS = ("SELECT VERSION(), @@sql_mode, @@character_set_server, @@collation_server, "
                 "@@lower_case_table_names, @@default_storage_engine, @@explicit_defaults_for_timestamp")


class NotCacheable(Exception):
    """The schema at the base cannot be kept as a snapshot (the reason is the message)."""


@dataclass
class Cache:
    directory: Path
    progress: Callable[[str], None]
    attempted: bool = False  # save() was called: the replay reached the base

    def path(self, key: str) -> Path:
        return self.directory / f"snapshot-{key}.json"

    def restore(self, conn: sa.engine.Connection, key: str, root: Path) -> Optional[int]:
        """Restore the snapshot ``key`` into the (empty) scratch database; the number of revisions
        it holds, or None (nothing restored, the database left empty) when it is missing or bad.
        ``root``: the directory the module paths it lists are relative to."""
        path = self.path(key)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            self.progress(f"snapshot cache: no snapshot of this base in {self.directory}: full replay")
            return None
        except (OSError, ValueError) as exc:
            return self._discard(path, f"unreadable ({exc.__class__.__name__})")
        if not _well_formed(data, key):
            return self._discard(path, "corrupt (its content does not match its hash)")
        changed = [name for name, digest in data["modules"].items() if _digest(root / name) != digest]
        changed += [f"the package {name}" for name, version in data["packages"].items()
                    if package_version(name) != version]
        if changed:
            return self._discard(path, f"stale ({changed[0]}, which a revision up to the base imports, changed)")
        try:
            _run(conn, ["SET SESSION foreign_key_checks = 0", *data["statements"], "SET SESSION foreign_key_checks = 1"])
            restored = _hash(dump(conn))
        except (sa.exc.DBAPIError, NotCacheable) as exc:
            _clear(conn)
            return self._discard(path, f"not restorable here ({getattr(exc, 'orig', exc)})")
        if restored != data["fingerprint"]:
            _clear(conn)
            return self._discard(path, "stale (the restored schema differs from the snapshot)")
        with contextlib.suppress(OSError):
            os.utime(path)  # most recently used: kept by the pruning below
        self.progress(f"snapshot cache: restored the schema at the base ({data['revisions']} {plural('revision', data['revisions'])}) "
                      f"from {path}")
        return int(data["revisions"])

    def save(self, conn: sa.engine.Connection, key: str, revisions: int, imported: Callable[[], tuple],
             root: Path, where: str = "the base") -> None:
        """Called in the middle of the replay, on its connection: never raises. ``imported()``: the
        project's module files (listed relative to ``root``) and the installed packages those
        revisions import. ``where``: the base or the heads, for the progress lines."""
        self.attempted = True
        try:
            files, packages = imported()
        except Exception as exc:  # noqa: BLE001 - reading the project's sources: the cache is an extra
            self.progress(f"snapshot cache: the schema at {where} is not saved: listing the modules its "
                          f"revisions import failed ({exc.__class__.__name__}: {exc})")
            return
        try:
            statements = dump(conn)
        except NotCacheable as exc:
            self.progress(f"snapshot cache: the schema at {where} is not saved: {exc}")
            return
        except sa.exc.DBAPIError as exc:
            self.progress(f"snapshot cache: the schema at {where} is not saved: reading it failed ({exc.orig})")
            return
        data = {"format": FORMAT, "key": key, "revisions": revisions,
                # Relative: the same cache serves a checkout at another path.
                "modules": {os.path.relpath(path, root): _digest(path) for path in files},
                "packages": {name: package_version(name) for name in packages if name not in _IN_KEY},
                "fingerprint": _hash(statements), "statements": statements}
        temporary = None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=self.directory, prefix="snapshot-",
                                             suffix=".tmp", delete=False) as handle:
                temporary = Path(handle.name)
                json.dump(data, handle)
            # mkstemp's 0600 would keep it from actions/cache, which runs as the runner's user
            # while the action's container writes as root.
            os.chmod(temporary, 0o666 & ~_umask())
            os.replace(temporary, self.path(key))
        except OSError as exc:
            if temporary is not None:
                with contextlib.suppress(OSError):
                    temporary.unlink()
            self.progress(f"snapshot cache: the schema at {where} is not saved: could not write {self.directory} "
                          f"({exc.strerror})")
            return
        self.progress(f"snapshot cache: saved the schema at {where} ({revisions} {plural('revision', revisions)}) to {self.path(key)}")
        self._prune()

    def _discard(self, path: Path, why: str) -> None:
        self.progress(f"snapshot cache: {path} is {why}: full replay")
        with contextlib.suppress(OSError):
            path.unlink()

    def _prune(self) -> None:
        # Only our own files: the directory may be shared with anything.
        snapshots = sorted(self.directory.glob("snapshot-*.json"), key=_mtime, reverse=True)
        for old in snapshots[_KEEP:]:
            with contextlib.suppress(OSError):
                old.unlink()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:  # removed meanwhile (a parallel job sharing the directory)
        return 0.0


def _well_formed(data, key: str) -> bool:
    return (isinstance(data, dict) and data.get("format") == FORMAT and data.get("key") == key
            and isinstance(data.get("revisions"), int) and isinstance(data.get("statements"), list)
            and all(isinstance(s, str) for s in data["statements"])
            and all(isinstance(data.get(part), dict) and all(isinstance(v, str) for v in data[part].values())
                    for part in ("modules", "packages"))
            and not any(os.path.isabs(name) or "\0" in name for name in data["modules"])
            and data.get("fingerprint") == _hash(data["statements"]))


def cache_key(project: Project, graph: Graph, base: list, conn: sa.engine.Connection) -> str:
    """A hash of everything that decides the schema at the base."""
    digest = hashlib.sha256()
    facts = conn.exec_driver_sql(_SERVER_FACTS).one()
    digest.update(json.dumps([FORMAT, __version__, alembic.__version__, sa.__version__,
                              [str(f) for f in facts]]).encode())
    revisions = sorted(graph.ancestors(base))
    for path in (project.ini_path, project.script.env_py_location):
        digest.update(bytes.fromhex(_digest(path)))
    for rev in revisions:
        digest.update(rev.encode() + b"\0" + hashlib.sha256(Path(graph.files[rev].path).read_bytes()).digest())
    return digest.hexdigest()


def _digest(path) -> str:
    """The hash of a file's content; one sentinel for whatever is not a readable file (gone since,
    inside a zip, a device a damaged cache file names)."""
    try:
        content = Path(path).read_bytes() if Path(path).is_file() else b"\0unreadable"
    except (OSError, ValueError):
        content = b"\0unreadable"
    return hashlib.sha256(content).hexdigest()


def dump(conn: sa.engine.Connection) -> list[str]:
    """The scratch database as statements that recreate it: tables, then rows."""
    tables = execute_text(conn, "SHOW FULL TABLES").all()
    other = [f"{name} ({kind.lower()})" for name, kind in tables if kind != "BASE TABLE"]
    other += [f"{name} ({kind.lower()})" for name, kind in execute_text(conn,
        "SELECT TRIGGER_NAME, 'TRIGGER' FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() "
        "UNION ALL SELECT ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE() "
        "UNION ALL SELECT EVENT_NAME, 'EVENT' FROM information_schema.EVENTS WHERE EVENT_SCHEMA = DATABASE()").all()]
    if other:
        raise NotCacheable(f"it has more than tables: {', '.join(sorted(other)[:3])}")
    names = sorted(name for name, _ in tables)
    statements = [execute_text(conn, f"SHOW CREATE TABLE {quote_ident(name)}").one()[1] for name in names]
    if not names:
        return statements
    literal = _literal(conn)
    counts = execute_text(conn, " UNION ALL ".join(
        f"SELECT {_text(literal(name))}, COUNT(*) FROM {quote_ident(name)}" for name in names)).all()
    filled = [name for name, count in counts if count]
    if sum(count for _, count in counts) > _MAX_ROWS:
        raise NotCacheable(f"its tables hold more than {_MAX_ROWS} rows")
    if filled:
        columns: dict = {}
        for table, column, extra in execute_text(conn,
                "SELECT TABLE_NAME, COLUMN_NAME, EXTRA FROM information_schema.COLUMNS "
                "WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, ORDINAL_POSITION").all():
            if not _GENERATED.search(extra):  # computed by the server, cannot be inserted
                columns.setdefault(table, []).append(column)
        for name in filled:
            cols = ", ".join(quote_ident(c) for c in columns[name])
            order = ", ".join(str(i) for i in range(1, len(columns[name]) + 1))
            rows = execute_text(conn, f"SELECT {cols} FROM {quote_ident(name)} ORDER BY {order}").all()
            values = ",\n".join("(" + ", ".join(_text(literal(v)) for v in row) + ")" for row in rows)
            statements.append(f"INSERT INTO {quote_ident(name)} ({cols}) VALUES\n{values}")
    return statements


def _run(conn: sa.engine.Connection, statements: list) -> None:
    for statement in statements:
        execute_text(conn, statement)
    commit(conn)


def commit(conn: sa.engine.Connection) -> None:
    """Commit what runs on the connection: SQLAlchemy 2.x begins a transaction implicitly; 1.4
    leaves the driver's own open after a read, holding the metadata locks of what it read."""
    transaction = conn.get_transaction()
    if transaction is not None and transaction.is_active:
        transaction.commit()
    elif not conn.in_transaction():
        conn.connection.commit()


def _clear(conn: sa.engine.Connection) -> None:
    """Empty the scratch database again after a failed restore."""
    tables = execute_text(conn, "SHOW FULL TABLES").all()
    _run(conn, ["SET SESSION foreign_key_checks = 0",
                *(f"DROP {'VIEW' if kind == 'VIEW' else 'TABLE'} {quote_ident(name)}" for name, kind in tables),
                "SET SESSION foreign_key_checks = 1"])


def _hash(statements: list) -> str:
    return hashlib.sha256("\0".join(statements).encode()).hexdigest()


def _literal(conn: sa.engine.Connection) -> Callable:
    """The driver's own rendering of a value as SQL (it knows the connection's escaping rules)."""
    dbapi = conn.connection.dbapi_connection
    dbapi = getattr(dbapi, "driver_connection", dbapi)  # an async driver's, inside SQLAlchemy's adapter
    if type(dbapi).__module__.startswith(("pymysql", "aiomysql", "asyncmy")):
        return dbapi.escape
    if hasattr(dbapi, "literal"):  # mysqlclient
        return dbapi.literal
    raise NotCacheable(f"the driver {type(dbapi).__module__} cannot render the rows as SQL")


def _text(value) -> str:
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value
