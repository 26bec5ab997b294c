"""Incremental check: the schema at the base revisions, kept in a cache directory between runs,
so that a pull request's check restores it in one step and replays only the new revisions.

A snapshot is the dump of the scratch database at the moment the replay has applied exactly the
ancestors of the base (of the heads, in a check without a base: the next pull request's base):
SHOW CREATE TABLE of every table, then the rows (Alembic's version table, rows data migrations
inserted) as INSERT statements. Its file name is a key over what decides that schema and is known
before the replay: the revision files up to the base (their content), env.py, alembic.ini, the
server's version and settings and the scratch database's default charset, the versions of Alembic,
SQLAlchemy and alembic-ci; the snapshot keeps those parts, so that a miss can say what changed.
What those revision files import (the project's modules: helpers, models; installed packages: a
column type from sqlalchemy_utils) is known once they ran, wherever they import it: the snapshot
lists those modules with their hashes and the packages with their versions. It is verified before
use: the file's content against its stored hash, those modules and packages against theirs, then the
restored database's own dump against the dump's hash. Anything wrong means a full replay, said in
the progress output.

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
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Optional

import alembic
import sqlalchemy as sa

from . import __version__
from .graph import Graph, package_version
from .project import Project
from .server import execute_text, quote_ident
from .words import plural

FORMAT = 3  # 2: the modules and packages the revisions import, listed; 3: the key's parts
_MAX_ROWS = 10_000
_IN_KEY = {"alembic", "sqlalchemy"}  # packages whose versions every key holds
_KEEP = 5  # snapshots kept in the cache directory (the most recently used)
# EXTRA of a generated column ("VIRTUAL GENERATED", "STORED GENERATED", MariaDB's "PERSISTENT"), not
# MySQL 8's "DEFAULT_GENERATED" of a column with an expression default.
_GENERATED = re.compile(r"\b(VIRTUAL|STORED|PERSISTENT)\b", re.IGNORECASE)
# The scratch database's own defaults too: an existing one (--scratch-database) may have others.
_SERVER_FACTS = ("VERSION()", "@@sql_mode", "@@character_set_server", "@@collation_server", "@@character_set_database",
                 "@@collation_database", "@@lower_case_table_names", "@@default_storage_engine",
                 "@@explicit_defaults_for_timestamp")
_INSERT_BYTES = 1 << 20  # rows per INSERT up to this size, or the server's max_allowed_packet if smaller


class NotCacheable(Exception):
    """The schema at the base cannot be kept as a snapshot (the reason is the message)."""


@dataclass
class Cache:
    directory: Path
    progress: Callable[[str], None]
    attempted: bool = False  # save() was called: the replay reached the base

    def _paths(self, key: Key) -> list:
        """The snapshots of ``key``, the most recently used first: one for each version of the
        modules and packages its revisions import (a pull request changing a helper does not
        replace the main branch's snapshot, which a shared directory keeps serving)."""
        return sorted(self.directory.glob(f"snapshot-{key.digest}-*.json"), key=_mtime, reverse=True)

    def _path(self, key: Key, listed: dict) -> Path:
        variant = hashlib.sha256(json.dumps(listed, sort_keys=True).encode()).hexdigest()[:16]
        return self.directory / f"snapshot-{key.digest}-{variant}.json"

    def restore(self, conn: sa.engine.Connection, key: Key, root: Path) -> Optional[int]:
        """Restore a snapshot of ``key`` into the (empty) scratch database; the number of revisions
        it holds, or None (nothing restored, the database left empty) when none is there or usable.
        ``root``: the directory the module paths it lists are relative to."""
        stale = None
        for path in self._paths(key):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except FileNotFoundError:  # pruned by a parallel run meanwhile
                continue
            except (OSError, ValueError, RecursionError) as exc:
                self._discard(path, f"unreadable ({exc.__class__.__name__})")
                continue
            if not _well_formed(data, key):
                self._discard(path, "corrupt (its content does not match its hash)")
                continue
            changed = [name for name, digest in data["modules"].items() if _digest(root / name) != digest]
            changed += [f"the package {name}" for name, version in data["packages"].items()
                        if package_version(name) != version]
            if not changed:
                return self._restore(conn, path, data)
            stale = stale or f"{path} is stale ({changed[0]}, which a revision up to the base imports, changed)"
        if stale:
            self.progress(f"snapshot cache: {stale}: full replay")
        else:
            why = self._why_missing(key)
            self.progress(f"snapshot cache: no snapshot of this base in {self.directory}"
                          f"{f' (one of the same revisions differs: {why})' if why else ''}: full replay")
        return None

    def _restore(self, conn: sa.engine.Connection, path: Path, data: dict) -> Optional[int]:
        try:
            _run(conn, ["SET SESSION foreign_key_checks = 0", *data["statements"], "SET SESSION foreign_key_checks = 1"])
            restored = _hash(dump(conn))
        except (sa.exc.DBAPIError, NotCacheable) as exc:
            self._discard(path, f"not restorable here ({getattr(exc, 'orig', exc)})")
            _clear(conn)
            return None
        if restored != data["fingerprint"]:
            self._discard(path, "stale (the restored schema differs from the snapshot)")
            _clear(conn)
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # most recently used: kept by the pruning below
        count = data["revisions"]
        self.progress(f"snapshot cache: restored the schema at the base ({count} {plural('revision', count)}) "
                      f"from {path}")
        return int(data["revisions"])

    def _why_missing(self, key: Key) -> Optional[str]:
        """How the newest snapshot of the same revisions differs, if there is one (a miss is rare,
        and a full replay follows: reading up to _KEEP files whole costs little beside it)."""
        for path in sorted(self.directory.glob("snapshot-*.json"), key=_mtime, reverse=True):
            try:
                parts = json.loads(path.read_text(encoding="utf-8"))["parts"]
                if parts["revisions"].keys() == key.parts["revisions"].keys():
                    return key.differences(parts)
            except Exception:  # noqa: BLE001 - another format, damaged, gone: no explanation from it
                continue
        return None

    def save(self, conn: sa.engine.Connection, key: Key, revisions: int, imported: Callable[[], tuple],
             root: Path, where: str = "the base") -> None:
        """Called in the middle of the replay, on its connection: never raises. ``imported()``: the
        project's module files (listed relative to ``root``) and the installed packages those
        revisions import. ``where``: the base or the heads, for the progress lines."""
        self.attempted = True
        try:
            files, packages = imported()
            listed = {"modules": {os.path.relpath(path, root): _digest(path) for path in files},
                      "packages": {name: package_version(name) for name in packages if name not in _IN_KEY}}
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
        except Exception as exc:  # noqa: BLE001 - a value the driver cannot render: the revision is not at fault
            self.progress(f"snapshot cache: the schema at {where} is not saved: writing its rows as SQL failed "
                          f"({exc.__class__.__name__}: {exc})")
            return
        # Module paths relative to ``root``: the same cache serves a checkout at another path.
        data = {"format": FORMAT, "key": key.digest, "parts": key.parts, "revisions": revisions, **listed,
                "fingerprint": _hash(statements), "statements": statements}
        path = self._path(key, listed)
        try:
            self._write(path, data)
        except OSError as exc:
            self.progress(f"snapshot cache: the schema at {where} is not saved: could not write {self.directory} "
                          f"({exc.strerror})")
            return
        self.progress(f"snapshot cache: saved the schema at {where} ({revisions} {plural('revision', revisions)}) "
                      f"to {path}")
        self._prune()

    def _write(self, path: Path, data: dict) -> None:
        """Write the file whole or not at all (a parallel job may read it meanwhile)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        descriptor, name = tempfile.mkstemp(dir=self.directory, prefix="snapshot-", suffix=".tmp")
        temporary = Path(name)
        try:
            with open(descriptor, "w", encoding="utf-8") as handle:
                json.dump(data, handle)
            # mkstemp's 0600 would keep it from actions/cache, which runs as the runner's user
            # while the action's container writes as root.
            os.chmod(temporary, 0o666 & ~_umask())
            os.replace(temporary, path)
        except BaseException:  # a full disk, and an interrupt too: no half-written file left behind
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise

    def _discard(self, path: Path, why: str) -> None:
        self.progress(f"snapshot cache: {path} is {why}: full replay")
        with contextlib.suppress(OSError):
            path.unlink()

    def _prune(self) -> None:
        # Only our own files: the directory may be shared with anything.
        snapshots = sorted(self.directory.glob("snapshot-*.json"), key=_mtime, reverse=True)
        # A temporary file an hour old is a killed run's (a running one writes its file in seconds).
        abandoned = [p for p in self.directory.glob("snapshot-*.tmp") if _mtime(p) < time.time() - 3600]
        for old in snapshots[_KEEP:] + abandoned:
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


def _well_formed(data, key: Key) -> bool:
    return (isinstance(data, dict) and data.get("format") == FORMAT and data.get("key") == key.digest
            and type(data.get("revisions")) is int and data["revisions"] > 0
            and isinstance(data.get("statements"), list)
            and all(isinstance(s, str) for s in data["statements"])
            and all(isinstance(data.get(part), dict) and all(isinstance(v, str) for v in data[part].values())
                    for part in ("modules", "packages"))
            and not any(os.path.isabs(name) or "\0" in name for name in data["modules"])
            and data.get("fingerprint") == _hash(data["statements"]))


@dataclass
class Key:
    """A snapshot's name: a hash of its parts, which the snapshot keeps to say what changed.
    ``paths``: the revision files, for those messages only (a checkout elsewhere has the same key)."""
    parts: dict
    paths: dict = field(default_factory=dict)
    digest: str = field(init=False)

    def __post_init__(self) -> None:
        self.digest = hashlib.sha256(json.dumps(self.parts, sort_keys=True).encode()).hexdigest()

    def differences(self, parts: dict) -> Optional[str]:
        """How another key's parts differ from this one's, for a person: "there" is the other's."""
        new = self.parts
        changed = [name for name in ("alembic.ini", "env.py") if parts[name] != new[name]]
        changed += [self.paths.get(rev, rev) for rev, digest in new["revisions"].items()
                    if parts["revisions"][rev] != digest]
        changed += [f"{name} {parts[part].get(name)} there, {value} here" for part in ("server", "versions")
                    for name, value in new[part].items() if parts[part].get(name) != value]
        if not changed:
            return None
        return "; ".join(changed[:3]) + (f"; and {len(changed) - 3} more" if len(changed) > 3 else "")


def cache_key(project: Project, graph: Graph, base: list, conn: sa.engine.Connection) -> Key:
    """Everything that decides the schema at the base and is known before the replay."""
    facts = conn.exec_driver_sql(f"SELECT {', '.join(_SERVER_FACTS)}").one()
    revisions = sorted(graph.ancestors(base))
    return Key({
        "versions": {"snapshot format": FORMAT, "alembic-ci": __version__, "Alembic": alembic.__version__,
                     "SQLAlchemy": sa.__version__},
        "server": {name: str(value) for name, value in zip(_SERVER_FACTS, facts)},
        "alembic.ini": _digest(project.ini_path),
        "env.py": _digest(project.script.env_py_location),
        "revisions": {rev: _digest(graph.files[rev].path) for rev in revisions},
    }, paths={rev: graph.path(rev) for rev in revisions})


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
        f"SELECT {literal(name)}, COUNT(*) FROM {quote_ident(name)}" for name in names)).all()
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
        packet = execute_text(conn, "SELECT @@max_allowed_packet").scalar()
        for name in filled:
            cols = ", ".join(quote_ident(c) for c in columns[name])
            order = ", ".join(str(i) for i in range(1, len(columns[name]) + 1))
            rows = execute_text(conn, f"SELECT {cols} FROM {quote_ident(name)} ORDER BY {order}").all()
            head = f"INSERT INTO {quote_ident(name)} ({cols}) VALUES\n"
            room = min(_INSERT_BYTES, packet - len(head.encode()))
            for values, size in _batches(("(" + ", ".join(literal(v) for v in row) + ")" for row in rows), room):
                if size > room:  # a single row
                    raise NotCacheable(f"a row of {name} is bigger than the server's max_allowed_packet as SQL text")
                statements.append(head + values)
    return statements


def _batches(rows: Iterator[str], room: int) -> Iterator[tuple]:
    """Rows joined into VALUES lists of up to ``room`` bytes (a bigger row alone), with their size:
    one INSERT of a whole table could pass the server's max_allowed_packet, and not restore."""
    batch: list = []
    size = 0
    for row in rows:
        length = len(row.encode()) + 2 * bool(batch)  # and the ",\n" before it
        if batch and size + length > room:
            yield ",\n".join(batch), size
            batch, size, length = [], 0, length - 2
        batch.append(row)
        size += length
    if batch:
        yield ",\n".join(batch), size


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
    """Empty the scratch database again after a failed restore: on a new connection when the
    server closed this one (killed, or a statement over its max_allowed_packet, which shows only at
    the next statement)."""
    if conn.invalidated:
        _rolled_back(conn)
    try:
        tables = execute_text(conn, "SHOW FULL TABLES").all()
    except sa.exc.DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        _rolled_back(conn)
        tables = execute_text(conn, "SHOW FULL TABLES").all()
    _run(conn, ["SET SESSION foreign_key_checks = 0",
                *(f"DROP {'VIEW' if kind == 'VIEW' else 'TABLE'} {quote_ident(name)}" for name, kind in tables),
                "SET SESSION foreign_key_checks = 1"])


def _rolled_back(conn: sa.engine.Connection) -> None:
    """SQLAlchemy opens a new connection once the failed transaction is rolled back (1.4 has none
    begun, and reconnects by itself)."""
    transaction = conn.get_transaction()
    if transaction is not None:
        transaction.rollback()


def _hash(statements: list) -> str:
    return hashlib.sha256("\0".join(statements).encode()).hexdigest()


def _literal(conn: sa.engine.Connection) -> Callable[[object], str]:
    """A value as SQL text: the driver's own rendering (it knows the connection's escaping rules),
    binary data as a hex literal (exact, and text of any charset)."""
    dbapi = conn.connection.dbapi_connection
    dbapi = getattr(dbapi, "driver_connection", dbapi)  # an async driver's, inside SQLAlchemy's adapter
    if type(dbapi).__module__.startswith(("pymysql", "aiomysql", "asyncmy")):
        render = dbapi.escape
    elif hasattr(dbapi, "literal"):  # mysqlclient: bytes in the connection's encoding
        def render(value) -> str:
            return dbapi.literal(value).decode(dbapi.encoding)
    else:
        raise NotCacheable(f"the driver {type(dbapi).__module__} cannot render the rows as SQL")
    return lambda value: f"X'{bytes(value).hex()}'" if isinstance(value, (bytes, bytearray)) else render(value)
