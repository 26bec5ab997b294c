"""Faults around the bot: a server that starts late or goes away, signals and crashes
mid-replay, two checks at once. Every time: a clear error, and nothing left behind (no
scratch database, no embedded server process, no temporary directory)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import pytest
import sqlalchemy as sa

from alembic_ci.embedded import data_parent
from conftest import SERVER_URL, scratch_databases, spawn
from tcp_proxy import Proxy

SERVER = sa.engine.make_url(SERVER_URL)


def via(proxy: Proxy) -> str:
    return SERVER.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)


@pytest.fixture
def proxy_factory():
    made = []

    def make(delay: float = 0.0) -> Proxy:
        proxy = Proxy((SERVER.host, SERVER.port or 3306), delay=delay)
        made.append(proxy)
        return proxy

    yield make
    for proxy in made:
        proxy.close()


def test_waits_for_a_server_that_starts_late_printing_progress(demo, proxy_factory):
    proxy = proxy_factory(delay=3)
    result = demo.run("check", "--database-url", via(proxy), "--wait", "30")
    assert result.code == 0, result.err
    assert f"waiting for the MySQL server at 127.0.0.1:{proxy.port}: 0 s of 30 s" in result.err
    assert f"the MySQL server at 127.0.0.1:{proxy.port} answered after" in result.err
    assert proxy.accepted >= 1


def test_gives_up_waiting_clearly(demo, proxy_factory):
    proxy = proxy_factory(delay=60)
    started = time.monotonic()
    result = demo.run("check", "--database-url", via(proxy), "--wait", "2")
    assert 2 <= time.monotonic() - started < 30
    assert result.code == 2
    progress, error = result.err.splitlines()
    assert progress.startswith(f"alembic-ci: waiting for the MySQL server at 127.0.0.1:{proxy.port}")
    assert error.startswith(f"alembic-ci: error: no MySQL server answered at 127.0.0.1:{proxy.port} after 2 s")


def _wait_for(predicate, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_server_going_away_mid_replay_names_the_revision(demo, proxy_factory):
    demo.add_revision("51ee90000003", "ae1027a6acf1", "op.execute('SELECT SLEEP(20)')", message="slow")
    proxy = proxy_factory()
    proc = spawn([sys.executable, "-m", "alembic_ci", "check", "-q", "--database-url", via(proxy)],
                 cwd=demo.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: scratch_databases([proc.pid]))
    time.sleep(1.5)  # inside SLEEP(20)
    assert proxy.cut() >= 1
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, err
    assert len(err.splitlines()) == 1, err
    line = err.strip()
    assert line.startswith(f"alembic-ci: error: the MySQL server at 127.0.0.1:{proxy.port} went away while "
                           "51ee90000003 (alembic/versions/51ee90000003_slow.py")
    assert "rerun the check" in line
    assert not scratch_databases([proc.pid])  # dropped on a new connection


def _server_processes(marker: str) -> list:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if args and args[0].endswith((b"mariadbd", b"mysqld")) and any(marker.encode() in a for a in args):
            found.append(cmdline.parent.name)
    return found


@pytest.mark.parametrize("signum, embedded", [
    (signal.SIGINT, False), (signal.SIGINT, True), (signal.SIGTERM, True), (signal.SIGHUP, False),
    (signal.SIGHUP, True)],
    ids=["sigint-server", "sigint-embedded", "sigterm-embedded", "sighup-server", "sighup-embedded"])
def test_signal_mid_replay_cleans_up_everything(demo, tmp_path, signum, embedded):
    demo.add_revision("51ee90000004", "ae1027a6acf1", "op.execute('SELECT SLEEP(30)')", message="slow")
    scratch_tmp = tmp_path / "tmp"
    scratch_tmp.mkdir()
    args = [sys.executable, "-m", "alembic_ci", "check"] + ([] if embedded else ["--database-url", SERVER_URL])
    proc = spawn(args, cwd=demo.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                 env=_cli_env(TMPDIR=str(scratch_tmp)))
    seen = []
    for line in proc.stderr:  # progress: wait for the replay to start
        seen.append(line)
        if "replaying" in line:
            break
    assert any("replaying" in line for line in seen), seen
    if embedded:
        assert _server_processes(str(scratch_tmp)), "no embedded server running"
    time.sleep(1.5)  # inside SLEEP(30)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert f"interrupted by {signal.Signals(signum).name}; nothing was left behind" in err
    assert "Traceback" not in err
    assert not scratch_databases([proc.pid])
    assert _server_processes(str(scratch_tmp)) == []
    assert list(scratch_tmp.iterdir()) == []


@pytest.mark.parametrize("when", ["initializing", "running"])
def test_embedded_server_does_not_outlive_a_killed_bot(demo, tmp_path, when):
    """SIGKILL (the OOM killer, a CI runner's last resort) leaves the bot no time to clean up: the
    server's own guard sees the bot gone, kills the server and deletes its directory."""
    demo.add_revision("51ee90000007", "ae1027a6acf1", "op.execute('SELECT SLEEP(30)')", message="slow")
    scratch_tmp = tmp_path / "tmp"
    scratch_tmp.mkdir()
    proc = spawn([sys.executable, "-m", "alembic_ci", "check", "-q"], cwd=demo.root, stdout=subprocess.DEVNULL,
                 stderr=subprocess.DEVNULL, env=_cli_env(TMPDIR=str(scratch_tmp)))
    marker = str(scratch_tmp) if when == "initializing" else f"--socket={scratch_tmp}"
    _wait_for(lambda: _server_processes(marker), 30)
    proc.kill()
    proc.wait()
    _wait_for(lambda: _server_processes(str(scratch_tmp)) == [] and list(scratch_tmp.iterdir()) == [], 15)


def test_crash_in_user_code_with_the_embedded_server_leaves_nothing(demo, tmp_path):
    demo.add_revision("c7a500000001", "ae1027a6acf1", "raise RuntimeError('boom')", message="crash")
    scratch_tmp = tmp_path / "tmp"
    scratch_tmp.mkdir()
    result = demo.run("check", "-q", env={"TMPDIR": str(scratch_tmp)})
    assert result.code == 1
    assert "c7a500000001" in result.err and "raised RuntimeError: boom" in result.err
    assert _server_processes(str(scratch_tmp)) == []
    assert list(scratch_tmp.iterdir()) == []


def _cli_env(**extra: str) -> dict:
    """The environment of a CLI run here: never a server URL from the developer's shell."""
    env = {k: v for k, v in os.environ.items() if k != "ALEMBIC_CI_DATABASE_URL"}
    return {**env, **extra}


def _server_child_datadir(pid: int) -> Optional[Path]:
    """The data directory of the embedded server (not the bootstrap one) that process ``pid`` runs."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            args = (stat.parent / "cmdline").read_bytes().decode().split("\0")
        except (OSError, IndexError, ValueError):
            continue
        if parent == pid and any(a.startswith("--socket=") for a in args):
            return next(Path(a.split("=", 1)[1]).parent for a in args if a.startswith("--datadir="))
    return None


@pytest.mark.parametrize("args, slow_graph, said", [
    (["-c", "missing.ini"], False, "no Alembic config at missing.ini"),
    (["--base", "nosuchrev"], False, "--base nosuchrev: not a revision of this project"),
    ([], True, "down_revision 'nosuchparent' names a revision no file defines"),
], ids=["no-config", "bad-base", "bad-graph-after-the-server-is-up"])
def test_embedded_server_started_early_is_killed_when_the_project_is_bad(demo, tmp_path, args, slow_graph, said):
    """The server starts while the project loads: a project that cannot be checked stops it,
    whether it was still initializing its data directory (the fast failures) or already up."""
    if slow_graph:  # a revision file slow to import, so that the server is up when the graph fails
        demo.add_revision("b0b000000001", "nosuchparent", "pass", extra="import time\ntime.sleep(3)")
    scratch_tmp = tmp_path / "tmp"
    scratch_tmp.mkdir()
    proc = spawn([sys.executable, "-m", "alembic_ci", "check", *args], cwd=demo.root, stdout=subprocess.PIPE,
                 stderr=subprocess.PIPE, text=True, env=_cli_env(TMPDIR=str(scratch_tmp)))
    if slow_graph:  # the server itself, with its socket: not the bootstrap mariadb-install-db runs
        _wait_for(lambda: _server_processes(f"--socket={scratch_tmp}"), 10)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and said in err
    assert "embedded server" not in err and "Traceback" not in err
    assert list(scratch_tmp.iterdir()) == []
    # SIGKILL is delivered at once, but a killed bootstrap server may take a moment to be gone.
    _wait_for(lambda: _server_processes(str(scratch_tmp)) == [], 5)


def test_embedded_server_that_cannot_initialize_is_one_line_and_leaves_nothing(demo, tmp_path):
    """An error of the background start reaches the user as the check's one error line."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "mariadbd").write_text("#!/bin/sh\necho 'mariadbd  Ver 10.11.19-MariaDB for debian-linux-gnu'\n")
    (fake / "mariadb-install-db").write_text("#!/bin/sh\necho '[ERROR] fake: cannot write the data directory' >&2\n"
                                             "echo '[ERROR] Aborting' >&2\nexit 1\n")
    for script in fake.iterdir():
        script.chmod(0o755)
    scratch_tmp = tmp_path / "tmp"
    scratch_tmp.mkdir()
    result = demo.run("check", env={"TMPDIR": str(scratch_tmp), "PATH": f"{fake}:{os.environ['PATH']}"})
    assert result.code == 2
    assert result.err.splitlines()[-1] == (
        "alembic-ci: error: the embedded server could not initialize its data directory "
        "([ERROR] fake: cannot write the data directory). Pass --database-url to use a running server instead")
    assert "Traceback" not in result.err
    assert list(scratch_tmp.iterdir()) == []


def test_embedded_server_data_directory_is_in_memory_and_removed(demo):
    if data_parent() != "/dev/shm":
        pytest.skip("/dev/shm has less than 1 GiB free here (or TMPDIR is set)")
    demo.add_revision("51ee90000006", "ae1027a6acf1", "op.execute('SELECT SLEEP(3)')", message="slow")
    env = {k: v for k, v in _cli_env().items() if k != "TMPDIR"}
    proc = spawn([sys.executable, "-m", "alembic_ci", "check", "-q", "--format", "json"], cwd=demo.root,
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    _wait_for(lambda: _server_child_datadir(proc.pid), 30)
    datadir = _server_child_datadir(proc.pid)
    assert datadir.parent == Path("/dev/shm") and datadir.name.startswith("alembic-ci-")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert json.loads(out)["replayed"] == 3
    assert not datadir.exists() and _server_processes(str(datadir)) == []


def test_data_directory_goes_to_a_memory_filesystem_only_with_room(tmp_path, monkeypatch):
    monkeypatch.delenv("TMPDIR", raising=False)
    assert data_parent([str(tmp_path / "missing"), str(tmp_path)], min_free=1) == str(tmp_path)
    assert data_parent([str(tmp_path)], min_free=1 << 60) is None  # no room: the temporary directory
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    assert data_parent([str(tmp_path)], min_free=1) is None  # the user said where temporary files go
    # ... unless the server cannot use it: mariadb-install-db splits a path at spaces, and the
    # socket's path must fit in 107 bytes. Then as without TMPDIR, but never the unusable one.
    for unusable in (tmp_path / "with space", tmp_path / ("x" * 100)):
        unusable.mkdir()
        monkeypatch.setenv("TMPDIR", str(unusable))
        assert data_parent([str(tmp_path)], min_free=1) == str(tmp_path)
        assert data_parent([str(tmp_path)], min_free=1 << 60) == "/tmp"


def test_embedded_server_starts_with_a_space_in_tmpdir(demo, tmp_path):
    spaced = tmp_path / "my temp"
    spaced.mkdir()
    result = demo.run("check", "-q", "--format", "json", env={**_cli_env(), "TMPDIR": str(spaced)})
    assert result.code == 0, result.err
    assert json.loads(result.out)["replayed"] == 2


def test_two_checks_at_once_on_one_server_do_not_collide(demo):
    demo.add_revision("51ee90000005", "ae1027a6acf1", "op.execute('SELECT SLEEP(2)')", message="overlap")
    procs = [spawn([sys.executable, "-m", "alembic_ci", "check", "-q", "--database-url", SERVER_URL,
                    "--format", "json"], cwd=demo.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    _wait_for(lambda: all(scratch_databases([p.pid]) for p in procs), 30)  # both at once
    names = [scratch_databases([p.pid]) for p in procs]
    assert names[0].isdisjoint(names[1])
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        report = json.loads(out)
        assert report["passed"] and report["replayed"] == 3
