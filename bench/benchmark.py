"""The speed benchmark (not part of the test run): alembic-ci against plain Alembic on
synthetic histories, and the incremental check with a warm snapshot cache.

    scripts/benchmark [--sizes 10,100,1000] [--repeat 3] [--database-url URL] [--write docs/benchmarks.md]

Every measurement runs the real command in its own process and waits for it with wait4(), which
gives the wall time and the peak resident memory of that process alone. Medians over --repeat runs,
the two tools interleaved so that load from other work on the machine hits both alike.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.metadata
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

import alembic
import pymysql
import sqlalchemy as sa

from alembic_ci import __version__
from alembic_ci.embedded import EmbeddedServer, data_parent

sys.path.insert(0, str(Path(__file__).resolve().parent))
from history import generate  # noqa: E402

BIN = Path(sys.executable).parent
NOTES = "<!-- notes: kept by scripts/benchmark --write -->"


@dataclass
class Run:
    wall: float
    rss_mb: float
    code: int
    first_line: Optional[float] = None  # seconds from start to the first line of output


def run(args: list, cwd: Path, first_line: bool = False, env: Optional[dict] = None) -> Run:
    """Run a command; wall time and peak RSS (wait4 reports the child's own ru_maxrss)."""
    started = time.perf_counter()
    proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE if first_line else subprocess.DEVNULL,
                            stderr=subprocess.STDOUT if first_line else subprocess.PIPE)
    first = None
    if first_line:
        if proc.stdout.readline():
            first = time.perf_counter() - started
        proc.stdout.read()
    else:
        err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0,) and not first_line:
        sys.stderr.write(err.decode(errors="replace")[-2000:])
    return Run(wall=wall, rss_mb=usage.ru_maxrss / 1024, code=proc.returncode, first_line=first)


@dataclass
class Samples:
    runs: list = field(default_factory=list)

    def median(self, key) -> float:
        return statistics.median(key(r) for r in self.runs)


@contextlib.contextmanager
def server(url: Optional[str]) -> Iterator[sa.engine.URL]:
    if url:
        yield sa.engine.make_url(url)
    else:
        with EmbeddedServer() as embedded:
            yield embedded.url(lambda message: None)


def connect(url: sa.engine.URL):
    return pymysql.connect(host=url.host or "localhost", port=url.port or 3306, user=url.username or "root",
                           password=url.password or "", unix_socket=url.query.get("unix_socket"),
                           autocommit=True)


def fresh_checkout(project: Path, **extra: str) -> dict:
    """The environment of a CI job's first command: no compiled revision files (a clone has none),
    and Python's default of writing them, so plain Alembic's second command reads what its first
    compiled."""
    for cache in list(project.rglob("__pycache__")):
        shutil.rmtree(cache)
    skip = ("PYTHONDONTWRITEBYTECODE", "ALEMBIC_CI_DATABASE_URL")
    return {**{k: v for k, v in os.environ.items() if k not in skip}, **extra}


def bot(project: Path, url: Optional[sa.engine.URL], *extra: str) -> tuple[Run, dict]:
    """alembic-ci check on ``url``; None: on its embedded default (a server of its own per run)."""
    report = project / "report.json"
    server = ["--database-url", url.render_as_string(hide_password=False)] if url is not None else []
    result = run([str(BIN / "alembic-ci"), "check", *server, "--format", "json", "--output", str(report), "-q",
                  *extra], project, env=fresh_checkout(project))
    if result.code != 0:
        raise SystemExit(f"alembic-ci check failed on {project} (exit {result.code})")
    data = json.loads(report.read_text())
    return result, data


def plain(project: Path, url: sa.engine.URL, database: str) -> tuple[Run, float]:
    """`alembic upgrade head` then `alembic check` on a fresh database (created and dropped
    outside the timing; the drop time is returned). ``server``: the time the two spent inside
    the driver's execute (the synthetic env.py measures it, as alembic-ci's report does)."""
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")
    seconds = project / "server_seconds.txt"
    seconds.unlink(missing_ok=True)
    env = fresh_checkout(project, BENCH_SERVER_SECONDS=str(seconds))
    try:
        up = run([str(BIN / "alembic"), "upgrade", "head"], project, env=env)
        check = run([str(BIN / "alembic"), "check"], project, env=env)
        if up.code or check.code:
            raise SystemExit(f"plain alembic failed on {project} (exit {up.code}/{check.code})")
    finally:
        started = time.perf_counter()
        with connect(url) as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{database}`")
        dropped = time.perf_counter() - started
    result = Run(wall=up.wall + check.wall, rss_mb=max(up.rss_mb, check.rss_mb), code=0)
    result.server = sum(float(line) for line in seconds.read_text().split())
    return result, dropped


def full_comparison(n: int, repeat: int, url: sa.engine.URL, work: Path) -> dict:
    database = f"bench_plain_{os.getpid()}_{n}"
    project = work / f"full{n}"
    generate(project, n, url.set(database=database).render_as_string(hide_password=False))
    bots, plains, drops, floors = Samples(), Samples(), [], []
    for i in range(repeat):
        print(f"  {n} revisions, run {i + 1}/{repeat}", file=sys.stderr, flush=True)
        result, report = bot(project, url)
        result.total = report["timing"]["total_seconds"]
        result.server = report["timing"]["server_seconds"]
        bots.runs.append(result)
        p, dropped = plain(project, url, database)
        plains.runs.append(p)
        drops.append(dropped)
        # What any check through Alembic pays before its first statement, with no server at all:
        # Python's start, importing Alembic and SQLAlchemy, loading every revision file.
        floor = run([str(BIN / "alembic"), "heads"], project, env=fresh_checkout(project))
        if floor.code:
            raise SystemExit(f"alembic heads failed on {project} (exit {floor.code})")
        floors.append(floor.wall)
    return {
        "floor": statistics.median(floors),
        "statements": sum(len(rev["statements"]) for rev in report["revisions"]),
        "statements_ms": sum(st["duration_ms"] for rev in report["revisions"] for st in rev["statements"]),
        "revisions": n,
        "bot_wall": bots.median(lambda r: r.wall),
        "bot_total": bots.median(lambda r: r.total),
        "bot_server": bots.median(lambda r: r.server),
        "bot_outside_share": bots.median(lambda r: (r.wall - r.server) / r.wall),
        "bot_rss": bots.median(lambda r: r.rss_mb),
        "plain_wall": plains.median(lambda r: r.wall),
        "plain_server": plains.median(lambda r: r.server),
        "plain_outside_share": plains.median(lambda r: (r.wall - r.server) / r.wall),
        "plain_rss": plains.median(lambda r: r.rss_mb),
        "plain_drop": statistics.median(drops),
    }


def incremental(n: int, repeat: int, url: sa.engine.URL, work: Path, tables: int = 0,
                end_to_end: bool = False) -> dict:
    """A pull request adding one revision to an n-revision history (over ``tables`` tables, default
    n/4): --base the old head. ``end_to_end``: the warm check also on alembic-ci's embedded
    default, each run starting its own server."""
    project = work / f"pr{n}_{tables}"
    revs = generate(project, n, "mysql+pymysql://unused/", pr=True, tables=tables)
    base = ["--base", revs[-2]]
    made = len({line for line in (project / "models.py").read_text().splitlines() if "= sa.Table(" in line})
    print(f"  {n}+1 revisions over {made} tables: full replay, then warm cache x{repeat}", file=sys.stderr, flush=True)
    no_cache, _ = bot(project, url, *base)
    cold, _ = bot(project, url, *base, "--cache-dir", str(work / f"cache{n}_{tables}_warm"))
    row = {"revisions": n, "tables": made, "no_cache": no_cache.wall, "cold": cold.wall}
    for key, server in [("warm", url)] + ([("warm_embedded", None)] if end_to_end else []):
        cache = ["--cache-dir", str(work / f"cache{n}_{tables}_{key}")]
        if key != "warm":  # the cold run above filled the other
            bot(project, server, *base, *cache)
        warm = Samples()
        for _ in range(repeat):
            result, report = bot(project, server, *base, *cache)
            if report["replayed"] != 1:
                raise SystemExit(f"the warm cache was not used: {report['replayed']} revisions replayed")
            result.server = report["timing"]["server_seconds"]
            warm.runs.append(result)
        row.update({key: warm.median(lambda r: r.wall), f"{key}_server": warm.median(lambda r: r.server),
                    f"{key}_rss": warm.median(lambda r: r.rss_mb)})
    return row


def container(image: str, repeat: int) -> Optional[dict]:
    """What a job waits for before the action's first line, if the image was built: getting the
    image, then the container's start to its first line of output. Getting it, two ways: building
    the Dockerfile with no layer cache (what `image: Dockerfile` costs every job, GitHub keeping no
    build between jobs) and pulling the compressed image into empty storage (what a release's
    `image: docker://` costs), here from a local OCI layout, so without the network's time."""
    root = Path(__file__).resolve().parent.parent
    # podman here needs the runtime and rlimit settings scripts/build-image uses.
    os.environ.setdefault("CONTAINERS_CONF", str(root / "docker" / "containers.conf"))
    podman = shutil.which("podman")
    if podman is None or subprocess.run([podman, "image", "exists", image]).returncode != 0:
        return None
    result = {"image": image, "build": [], "pull": []}
    for _ in range(repeat):
        build = subprocess.run(["bash", str(root / "scripts" / "build-image"), f"{image}-nocache", "--no-cache"],
                               capture_output=True, text=True, check=True)
        result["build"].append(float(re.search(r"podman build took ([0-9.]+) s", build.stderr).group(1)))
    subprocess.run([podman, "rmi", "--force", f"{image}-nocache"], capture_output=True, check=True)
    with tempfile.TemporaryDirectory(prefix="alembic-ci-bench-image-") as tmp:
        layout = Path(tmp, "layout")  # the registry's copy: gzip layers, as `docker push` uploads them
        subprocess.run([podman, "push", "--quiet", "--compression-format", "gzip", image, f"oci:{layout}:bench"],
                       check=True)
        result["compressed_mb"] = sum(f.stat().st_size for f in (layout / "blobs").rglob("*") if f.is_file()) / 1e6
        for i in range(repeat):
            store = Path(tmp, f"store{i}")
            pull = run([podman, "--root", str(store / "root"), "--runroot", str(store / "run"),
                        "pull", "--quiet", f"oci:{layout}:bench"], Path.cwd())
            assert pull.code == 0, "podman pull from the OCI layout failed"
            result["pull"].append(pull.wall)
            shutil.rmtree(store)
    result["size_mb"] = int(subprocess.run([podman, "image", "inspect", "--format", "{{.Size}}", image],
                                           capture_output=True, text=True, check=True).stdout) / 1e6
    # Start to first line: `--version`, and the demo project's check on the image's embedded server.
    commands = {"version": [podman, "run", "--rm", image, "--version"],
                "check": [podman, "run", "--rm", "-v", f"{root}:/github/workspace:ro", "-w", "/github/workspace",
                          "--entrypoint", "alembic-ci", image, "check"]}
    for key, args in commands.items():
        runs = [run(args, Path.cwd(), first_line=True) for _ in range(repeat)]
        assert all(r.code == 0 for r in runs), f"{' '.join(args)} failed"
        result[key] = {"first_line": statistics.median(r.first_line or r.wall for r in runs),
                       "wall": statistics.median(r.wall for r in runs)}
    for key in ("build", "pull"):
        result[key] = statistics.median(result[key])
    return result


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {
        "when": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": f"{cpu}, {os.cpu_count()} cores", "os": platform.platform(),
        "python": platform.python_version(), "alembic_ci": __version__, "alembic": alembic.__version__,
        # pymysql.__version__ is the MySQLdb version it poses as (2.2.x), not its own
        "sqlalchemy": sa.__version__, "pymysql": importlib.metadata.version("PyMySQL"),
    }


def describe_server(url: sa.engine.URL, embedded: bool) -> str:
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT VERSION(), @@innodb_flush_log_at_trx_commit, @@innodb_file_per_table")
        version, flush, per_table = cur.fetchone()
    where = (f"a throwaway server started like alembic-ci's embedded default (data directory "
             f"{'in memory' if data_parent() else 'on disk'})" if embedded
             else f"the server at {url.render_as_string(hide_password=True)}")
    return (f"{where}: {version}, innodb_flush_log_at_trx_commit={flush}, "
            f"innodb_file_per_table={'ON' if per_table in (1, '1', 'ON') else 'OFF'}")


def targets(full: list, inc: list) -> list:
    """The issue's targets, judged from the numbers above (never edited by hand)."""
    def verdict(ok: bool) -> str:
        return "**met**" if ok else "**not met**"
    lines = []
    for r in full:
        if r["revisions"] >= 100:
            lines.append(f"- No slower than plain Alembic at {r['revisions']} revisions: {r['bot_wall']:.2f} s "
                         f"against {r['plain_wall']:.2f} s, {verdict(r['bot_wall'] <= r['plain_wall'])} "
                         f"(alembic-ci's time includes dropping its scratch database; plain Alembic's DROP "
                         f"DATABASE, {r['plain_drop']:.2f} s, is not counted).")
    big = max(full, key=lambda r: r["revisions"])
    outside = big["bot_wall"] - big["bot_server"]
    lines.append(f"- Time outside the server's statements at most 10% at {big['revisions']} revisions: "
                 f"{big['bot_outside_share']:.0%}, {verdict(big['bot_outside_share'] <= 0.10)} "
                 f"(plain Alembic: {big['plain_outside_share']:.0%}, "
                 f"{big['plain_wall'] - big['plain_server']:.2f} s against alembic-ci's {outside:.2f} s). "
                 f"`alembic heads` alone, which starts Python, imports Alembic and loads the revision files "
                 f"as any check through Alembic must before its first statement, takes {big['floor']:.2f} s: "
                 f"{big['floor'] / big['bot_wall']:.0%} of alembic-ci's total. 10% needs the server's "
                 f"statements to take 9 times the time outside them: {9 * outside:.1f} s, "
                 f"{9 * outside / big['statements'] * 1000:.1f} ms for each of the {big['statements']} "
                 f"statements the migrations send (here {big['statements_ms'] / big['statements']:.1f} ms on average).")
    lines.append(f"- Peak memory under 250 MB at {big['revisions']} revisions: {big['bot_rss']:.0f} MB, "
                 f"{verdict(big['bot_rss'] < 250)}.")
    lines += warm_targets(inc, "warm", "")
    if any("warm_embedded" in r for r in inc):
        lines += warm_targets(inc, "warm_embedded", " (alembic-ci's embedded default, end to end)")
    return lines


def warm_targets(inc: list, key: str, how: str) -> list:
    """Each largest history's warm check against the smallest history's: over the same tables (the
    history grows, the schema does not) and over the fewest (both grow)."""
    def verdict(ok: bool) -> str:
        return "**met**" if ok else "**not met**"
    small_n, big_n = min(r["revisions"] for r in inc), max(r["revisions"] for r in inc)
    small = [r for r in inc if r["revisions"] == small_n]
    fewest = min(small, key=lambda r: r["tables"])
    lines = []
    for big in (r for r in inc if r["revisions"] == big_n):
        same = next((r for r in small if r["tables"] == big["tables"] and r is not fewest), None)
        pairs = ([(same, "the same tables")] if same else []) + [(fewest, f"{fewest['tables']} tables")]
        for against, what in pairs:
            ratio = big[key] / against[key]
            lines.append(f"- Warm cache{how}, one new revision on {big_n} revisions over {big['tables']} tables "
                         f"against {small_n} revisions over {what}, at most 2x: {big[key]:.2f} s against "
                         f"{against[key]:.2f} s = {ratio:.2f}x, {verdict(ratio <= 2)}.")
    return lines


def section(server: dict) -> list:
    full, inc = server["full"], server["incremental"]
    out = [f"## On {server['description']}", "",
           f"Load average when this section finished: {server['load']}.", "",
           "### alembic-ci check against plain Alembic", "",
           "| revisions | alembic-ci wall | plain Alembic wall (its DROP DATABASE) | alembic-ci peak RSS "
           "| plain peak RSS | alembic-ci: server statements | outside the server | of which before/after "
           "`run_check` | plain: server statements | outside the server | `alembic heads` |",
           "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in full:
        out.append(f"| {r['revisions']} | {r['bot_wall']:.2f} s | {r['plain_wall']:.2f} s ({r['plain_drop']:.2f} s) "
                   f"| {r['bot_rss']:.0f} MB "
                   f"| {r['plain_rss']:.0f} MB | {r['bot_server']:.2f} s "
                   f"| {r['bot_wall'] - r['bot_server']:.2f} s ({r['bot_outside_share']:.0%}) "
                   f"| {r['bot_wall'] - r['bot_total']:.2f} s "
                   f"| {r['plain_server']:.2f} s "
                   f"| {r['plain_wall'] - r['plain_server']:.2f} s ({r['plain_outside_share']:.0%}) "
                   f"| {r['floor']:.2f} s |")
    end_to_end = any("warm_embedded" in r for r in inc)
    out += ["", "### Incremental check (snapshot cache)", "",
            "| revisions | tables | no cache | cold cache | warm cache | warm: server statements | warm peak RSS |"
            + (" warm, embedded default end to end |" if end_to_end else ""),
            "|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" if end_to_end else "")]
    for r in inc:
        out.append(f"| {r['revisions']}+1 | {r['tables']} | {r['no_cache']:.2f} s | {r['cold']:.2f} s | {r['warm']:.2f} s "
                   f"| {r['warm_server']:.2f} s | {r['warm_rss']:.0f} MB |"
                   + (f" {r['warm_embedded']:.2f} s |" if end_to_end else ""))
    return out + ["", "### Targets", "", *targets(full, inc), ""]


def markdown(info: dict, servers: list, start: Optional[dict], args) -> str:
    out = ["# Benchmarks", "",
           "Generated by `scripts/benchmark` (bench/benchmark.py); rerun it to refresh this page.", "",
           f"Measured {info['when']} on {info['cpu']} ({info['os']}); Python {info['python']}, "
           f"alembic-ci {info['alembic_ci']}, Alembic {info['alembic']}, SQLAlchemy {info['sqlalchemy']}, "
           f"PyMySQL {info['pymysql']}. Other work shared the machine: each cell is the median of "
           f"{args.repeat} runs, alembic-ci and plain Alembic interleaved.", "",
           "Histories: N revisions over N/4 tables, each table created (with a foreign key to the previous "
           "table and its index), given a column, an index on it, and a column type change; models match head. "
           "Over more tables than revisions, each revision creates several tables.", "",
           "- *alembic-ci*: `alembic-ci check --format json --output FILE -q`, one process; its time includes "
           "creating and dropping the scratch database.",
           "- *plain Alembic*: `alembic upgrade head` then `alembic check` (two processes, the same env.py) on a "
           "database created beforehand; creating and dropping it is not counted (the time of its DROP DATABASE "
           "is shown in brackets).",
           "- Each run starts as a CI job on a fresh clone does: no `__pycache__` in the project, and Python "
           "writing the compiled files (its default), so plain Alembic's `check` reads what its `upgrade` compiled.",
           "- *wall* and *peak RSS*: of each process alone (wait4); for plain Alembic the sum of the two wall "
           "times and the larger peak.",
           "- *server statements*: `timing.server_seconds` of the JSON report: the time inside the driver's "
           "`execute` for every statement the check sends (CREATE/DROP DATABASE, the snapshot restore, the "
           "migrations, Alembic's version-table updates, the comparison's reflection queries).",
           "- *outside the server*: wall time minus that: Python start-up and imports, loading the revision "
           "files, Alembic's and SQLAlchemy's own work per operation, the comparison, rendering.",
           "- *plain: server statements*: the same measure for plain Alembic (the synthetic env.py times the "
           "driver's execute in both processes when the benchmark asks it to).",
           "- *before/after `run_check`*: wall time minus `timing.total_seconds` (interpreter start, imports, "
           "writing the report, exit): the part the report cannot see.",
           "- *`alembic heads`*: plain Alembic's command on the same project, with no server: Python's start, "
           "importing Alembic and SQLAlchemy, loading every revision file. Any check through Alembic pays it "
           "before its first statement, so it is a floor under the time outside the server.",
           "- *Incremental*: a pull request adding one revision (a column) to an N-revision history, "
           "`--base` the old head: the smallest and the largest history over N/4 tables, the smallest also "
           "over the largest's tables (the same schema, a shorter history), the largest also over fewer "
           "tables (more columns per table). *No cache*: full replay; *cold*: full replay that also saves the "
           "snapshot; *warm*: the snapshot restored and verified, one revision replayed, drift checked at head.",
           "- *warm, embedded default end to end*: the same warm check without `--database-url`, as "
           "`alembic-ci check` runs by default: each run starts its own throwaway server, whose start-up "
           "(~0.4 s, overlapping the loading of the project) is included. Its peak RSS would include the "
           "server's, so it is not shown.", ""]
    for server in servers:
        out += section(server)
    out += ["## Container cold start", ""]
    if start:
        out += ["What a job that uses the action waits for before the check's first line: the runner gets the "
                "image, then starts the container. Medians of "
                f"{args.repeat}; the image is {start['size_mb']:.0f} MB, {start['compressed_mb']:.0f} MB compressed.", "",
                "| step | time |", "|---|---:|",
                "| `image: Dockerfile` (main, branches, `uses: ./`): the build with no layer cache that every job "
                "runs (Debian packages from this machine's mirror, wheels from a local folder: GitHub's build "
                f"downloads both, and the base image) | {start['build']:.1f} s |",
                "| `image: docker://…@sha256:…` (a release, .github/workflows/release.yml): pulling the "
                "compressed image into empty storage (from a local copy: GitHub's pull downloads it too) | "
                f"{start['pull']:.1f} s |",
                f"| `podman run --rm IMAGE --version`: first line / exit | {start['version']['first_line']:.2f} s / "
                f"{start['version']['wall']:.2f} s |",
                "| the demo project's `alembic-ci check` in the container, on its embedded server: first line / "
                f"exit | {start['check']['first_line']:.2f} s / {start['check']['wall']:.2f} s |"]
    else:
        out.append(f"Not measured: no image `{args.image}` on this machine (build it with scripts/build-image, "
                   "then rerun).")
    out += ["", "## Rerun", "", "```",
            "scripts/benchmark                                  # 10, 100, 1000 revisions, 3 runs, a throwaway server",
            "scripts/benchmark --sizes 10,100 --repeat 5",
            "scripts/benchmark --database-url embedded --database-url mysql+pymysql://root@127.0.0.1:3306/ \\",
            "                  --write docs/benchmarks.md         # this page: both servers",
            "```", ""]
    return "\n".join(out)


def incremental_cases(sizes: list, few_tables: int) -> list:
    """(revisions, tables; 0: revisions/4): the smallest and the largest history, the smallest
    also over the largest's tables (the same schema), and the largest over only ``few_tables``."""
    small, big = min(sizes), max(sizes)
    cases = [(small, 0), (big, 0)]
    if big // 4 > max(1, small // 4):
        cases.insert(1, (small, big // 4))
    if few_tables:
        cases.append((big, few_tables))
    return list(dict.fromkeys(cases))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database-url", action="append", metavar="URL",
                        help="a MySQL server to measure on (repeatable); `embedded` (the default): a throwaway "
                             "server started like alembic-ci's embedded default")
    parser.add_argument("--few-tables", type=int, default=50, metavar="N",
                        help="also measure the incremental check on the largest history over only N tables "
                             "(0: not)")
    parser.add_argument("--image", default="localhost/alembic-ci:dev")  # scripts/build-image's default
    parser.add_argument("--write", metavar="FILE", help="write the markdown there (e.g. docs/benchmarks.md)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    servers = []
    for target in args.database_url or ["embedded"]:
        embedded = target == "embedded"
        work = Path(tempfile.mkdtemp(prefix="alembic-ci-bench-"))
        try:
            with server(None if embedded else target) as url:
                print(f"on {'a throwaway server' if embedded else target}:", file=sys.stderr, flush=True)
                servers.append({
                    "description": describe_server(url, embedded),
                    "full": [full_comparison(n, args.repeat, url, work) for n in sizes],
                    "incremental": [incremental(n, args.repeat, url, work, tables, end_to_end=embedded)
                                    for n, tables in incremental_cases(sizes, args.few_tables)],
                    "load": " ".join(f"{x:.1f}" for x in os.getloadavg()),
                })
        finally:
            shutil.rmtree(work, ignore_errors=True)
    start = container(args.image, args.repeat)
    info = machine()
    text = markdown(info, servers, start, args)
    print(text)
    print(json.dumps({"machine": info, "servers": servers, "container": start}, indent=1), file=sys.stderr)
    if args.write:
        path = Path(args.write)
        previous = path.read_text() if path.exists() else ""
        if NOTES in previous:  # hand-written notes below the marker survive a rerun
            text += "\n" + previous[previous.index(NOTES):]
        path.write_text(text)


if __name__ == "__main__":
    main()
