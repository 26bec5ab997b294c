"""The catalogue of what users really get wrong (docs/errors.md). Each case: the documented
exit code, ONE line on standard error saying what is wrong and what to do, no traceback, no
password, and (the autouse fixture) no scratch database left behind."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import Callable

import pytest

from conftest import SERVER_URL
from server_objects import execute, temp_database, temp_user, url_for

PASSWORD = "Sw0rdfish-Secret"


def check(*extra: str) -> list:
    return ["check", "--database-url", SERVER_URL, "-q", *extra]


def replace_in(path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


def env_py(demo):
    return demo.root / "alembic" / "env.py"


def ini(demo):
    return demo.root / "alembic.ini"


@dataclass
class Case:
    id: str
    setup: Callable  # (demo, stack) -> CLI arguments
    code: int
    says: tuple  # fragments of the one stderr line: what is wrong, what to do


def _no_ini(demo, stack):
    return check("-c", "missing/alembic.ini")


def _ini_is_a_directory(demo, stack):
    return check("-c", "alembic")


def _ini_not_ini(demo, stack):
    ini(demo).write_text("[alembic\nscript_location = alembic\n")
    return check()


def _no_script_location(demo, stack):
    replace_in(ini(demo), "script_location = %(here)s/alembic", "")
    return check()


def _script_location_missing(demo, stack):
    replace_in(ini(demo), "script_location = %(here)s/alembic", "script_location = %(here)s/migrations")
    return check()


def _no_env_py(demo, stack):
    env_py(demo).unlink()
    return check()


def _env_syntax_error(demo, stack):
    replace_in(env_py(demo), "config = context.config", "config = context.config(")
    return check()


def _env_missing_module(demo, stack):
    replace_in(env_py(demo), "from blog.models import Base", "import flask_appbuilder_nowhere\nfrom blog.models import Base")
    return check()


def _env_environment_variable(demo, stack):
    replace_in(env_py(demo), "config = context.config",
               "import os\nconfig = context.config\nDB = os.environ['ACI_TEST_UNSET_DATABASE_URL']")
    return check()


def _env_sys_exit(demo, stack):
    replace_in(env_py(demo), "config = context.config", "import sys\nconfig = context.config\nsys.exit(3)")
    return check()


def _env_raises(demo, stack):
    replace_in(env_py(demo), "config = context.config",
               "config = context.config\nraise RuntimeError('create_app() needs a Flask context')")
    return check()


def _env_hangs(demo, stack):
    replace_in(env_py(demo), "config = context.config", "import time\nconfig = context.config\ntime.sleep(120)")
    return check("--revision-timeout", "1")


def _env_not_utf8(demo, stack):
    path = env_py(demo)
    path.write_bytes(path.read_bytes().replace(b"config = context.config",
                                               b"config = context.config\nAUTHOR = 'Jos\xe9'"))
    return check()


def _env_connects_elsewhere(demo, stack):
    database = stack.enter_context(temp_database("acitest_app"))
    user, password = stack.enter_context(temp_user(f"ALL PRIVILEGES ON `{database}`.*", password=PASSWORD))
    replace_in(env_py(demo), 'connection = config.attributes.get("connection")',
               'connection = None  # the app builds its own engine\n'
               f'    config.set_main_option("sqlalchemy.url", "{url_for(user, password, database)}")')
    stack.callback(lambda: _assert_no_tables(database))
    return check()


def _env_async_without_async_driver(demo, stack):
    demo.use_async_env("mysql+pymysql://root@127.0.0.1:3306/alembic_demo")
    return check()


def _ignore_comment_unknown_code(demo, stack):
    demo.add_revision("1a7e00000009", "ae1027a6acf1",
                      "op.drop_column('article', 'title')  # alembic-ci: ignore[drop-colum]", message="drop")
    return check("--base", "ae1027a6acf1")


def _empty_versions(demo, stack):
    for path in demo.versions.glob("*.py"):
        path.unlink()
    return check()


def _versions_missing(demo, stack):
    shutil.rmtree(demo.versions)
    return check()


def _revision_syntax_error(demo, stack):
    (demo.versions / "3a1b_broken.py").write_text("revision = '3a1b'\ndown_revision = 'ae1027a6acf1'\ndef upgrade(:\n")
    return check()


def _revision_without_revision(demo, stack):
    (demo.versions / "helpers.py").write_text("def shared():\n    pass\n")
    return check()


def _revision_not_utf8(demo, stack):
    path = demo.add_revision("1a7e00000001", "ae1027a6acf1", "pass", message="cafe")
    path.write_bytes(path.read_bytes().replace(b'"""cafe', b'"""caf\xe9'))
    return check()


def _duplicate_ids(demo, stack):
    demo.add_revision("ae1027a6acf1", "1975ea83b712", "pass", message="same id")
    return check()


def _cycle(demo, stack):
    replace_in(demo.versions / "1975ea83b712_create_user.py", "down_revision = None",
               'down_revision = "ae1027a6acf1"')
    return check()


def _dangling_down_revision(demo, stack):
    demo.add_revision("dead00000001", "0000deadbeef", "pass", message="orphan")
    return check()


def _url_unparseable(demo, stack):
    return ["check", "-q", "--database-url", f"mysql+pymysql://root:{PASSWORD}@127.0.0.1:port3306/"]


def _url_not_mysql(demo, stack):
    return ["check", "-q", "--database-url", f"postgresql://root:{PASSWORD}@127.0.0.1/app"]


def _driver_not_installed(demo, stack):
    return ["check", "-q", "--database-url", f"mysql+mysqldb://root:{PASSWORD}@127.0.0.1:3306/"]


def _wrong_password(demo, stack):
    user, _ = stack.enter_context(temp_user("ALL PRIVILEGES ON `acitest\\_%`.*"))
    return ["check", "-q", "--database-url", url_for(user, PASSWORD)]


def _unknown_user(demo, stack):
    # A user MariaDB does not know gets an authentication method picked from a hash of its name
    # (no telling which users exist): for this name, unix_socket's refusal, 1698 instead of 1045.
    return ["check", "-q", "--database-url", url_for("acitest_nobody", PASSWORD)]


def _unknown_host(demo, stack):
    return ["check", "-q", "--wait", "1", "--database-url", f"mysql+pymysql://root:{PASSWORD}@db.invalid:3306/"]


def _connection_refused(demo, stack):
    return ["check", "-q", "--wait", "1", "--database-url", f"mysql+pymysql://root:{PASSWORD}@127.0.0.1:1/"]


def _no_create_database(demo, stack):
    user, password = stack.enter_context(temp_user(password=PASSWORD))  # may log in, nothing more
    return ["check", "-q", "--database-url", url_for(user, password)]


def _scratch_database_missing(demo, stack):
    return check("--scratch-database", "acitest_no_such_database")


def _scratch_database_not_empty(demo, stack):
    database = stack.enter_context(temp_database())
    execute("CREATE TABLE precious (id INT PRIMARY KEY)", "INSERT INTO precious VALUES (1)", database=database)
    stack.callback(lambda: _assert_untouched(database))
    return check("--scratch-database", database)


def _assert_no_tables(database):
    assert execute("SHOW TABLES", database=database) == []


def _assert_untouched(database):
    assert execute("SELECT COUNT(*) FROM precious", database=database) == [(1,)]


def _scratch_database_without_server(demo, stack):
    return ["check", "-q", "--scratch-database", "anything"]


def _unknown_base(demo, stack):
    return check("--base", "0123456789ab")


def _base_ref_not_fetched(demo, stack):
    demo.git("init", "-q", "-b", "main")
    demo.git("add", "-A")
    demo.git("commit", "-qm", "base")
    return check("--base-ref", "origin/main")


def _output_unwritable(demo, stack):
    return check("--output", "no/such/dir/report.json")


def _doctor_url_without_database(demo, stack):
    return ["doctor", "-q", "--database-url", f"mysql+pymysql://root:{PASSWORD}@127.0.0.1:3306/",
            "--scratch-url", SERVER_URL]


def _doctor_scratch_url_not_mysql(demo, stack):
    return ["doctor", "-q", "--database-url", SERVER_URL + "app", "--scratch-url",
            f"postgresql://root:{PASSWORD}@127.0.0.1/app"]


def _doctor_unknown_database(demo, stack):
    return ["doctor", "-q", "--database-url", SERVER_URL + "acitest_no_such_database", "--scratch-url", SERVER_URL]


def _doctor_bad_graph(demo, stack):
    database = stack.enter_context(temp_database())
    demo.add_revision("dead00000001", "0000deadbeef", "pass", message="orphan")
    return ["doctor", "-q", "--database-url", SERVER_URL + database, "--scratch-url", SERVER_URL]


# The check runs, and a finding fails it (exit 1): still one clear line on stderr.

def _migration_raises(demo, stack):
    demo.add_revision("b0000000000e", "ae1027a6acf1", "rows = {}\nop.add_column('user', rows['email'])",
                      message="add email")
    return check()


def _migration_hangs(demo, stack):
    demo.add_revision("51ee90000002", "ae1027a6acf1", "op.execute('SELECT SLEEP(120)')", message="hangs")
    return check("--statement-timeout", "2")


def _migration_sleeps(demo, stack):
    demo.add_revision("51ee90000008", "ae1027a6acf1", "import time\ntime.sleep(120)", message="sleeps")
    return check("--revision-timeout", "1")


def _migration_exits(demo, stack):
    demo.add_revision("e0000000e0e0", "ae1027a6acf1", "import sys\nsys.exit('no tenants configured')",
                      message="per tenant")
    return check()


def _migration_table_typo(demo, stack):
    demo.add_revision("a0000000a002", "ae1027a6acf1", "op.add_column('articles', sa.Column('theme', sa.String(20)))",
                      message="theme")
    return check()


def _migration_expects_app_table(demo, stack):
    demo.add_revision("a0000000a001", "ae1027a6acf1", "op.add_column('settings', sa.Column('theme', sa.String(20)))",
                      message="theme")
    return check()


def _model_string_without_length(demo, stack):
    demo.add_model("Article.slug = Column(String())")
    return check()


# The check passes with a warning (exit 0).

def _no_target_metadata(demo, stack):
    replace_in(env_py(demo), "target_metadata = Base.metadata", "target_metadata = None")
    return check()


CASES = [
    Case("no-alembic-ini", _no_ini, 2, ("no Alembic config at missing/alembic.ini", "-c path/to/alembic.ini")),
    Case("ini-is-a-directory", _ini_is_a_directory, 2, ("-c alembic is a directory", "-c alembic/alembic.ini")),
    Case("ini-not-ini", _ini_not_ini, 2, ("is not a valid ini file", "fix its syntax")),
    Case("no-script-location", _no_script_location, 2, ("has no script_location", "add `script_location")),
    Case("script-location-missing", _script_location_missing, 2, ("cannot be used", "point script_location")),
    Case("no-env-py", _no_env_py, 2, ("has no env.py", "`alembic init`")),
    Case("env-syntax-error", _env_syntax_error, 2, ("env.py:", "SyntaxError", "alembic upgrade head --sql")),
    Case("env-missing-module", _env_missing_module, 2,
         ("imports 'flask_appbuilder_nowhere', which is not installed", "`install` input")),
    Case("env-environment-variable", _env_environment_variable, 2,
         ("reads the environment variable ACI_TEST_UNSET_DATABASE_URL, which is not set", "set it")),
    Case("env-sys-exit", _env_sys_exit, 2, ("called sys.exit(3)", "Make env.py configure the context")),
    Case("env-raises", _env_raises, 2, ("RuntimeError: create_app() needs a Flask context", "alembic upgrade head --sql")),
    Case("env-hangs", _env_hangs, 2, ("env.py:", "was still running after 1 s (--revision-timeout) before any "
                                      "migration ran", "find what it waits for")),
    Case("env-not-utf8", _env_not_utf8, 2, ("env.py is not UTF-8 text", "save it as UTF-8")),
    Case("env-connects-elsewhere", _env_connects_elsewhere, 2,
         ("env.py opened a connection to database 'acitest_app", 'config.attributes["connection"]')),
    Case("env-async-without-async-driver", _env_async_without_async_driver, 2,
         ("runs the migrations on an async engine", "mysql+aiomysql://")),
    Case("ignore-comment-unknown-code", _ignore_comment_unknown_code, 2,
         ("1a7e00000009_drop.py:16: unknown risk code 'drop-colum'", "the codes are")),
    Case("empty-versions", _empty_versions, 2, ("no revision files in alembic/versions", "alembic revision --autogenerate")),
    Case("versions-missing", _versions_missing, 2, ("the versions folder alembic/versions does not exist",
                                                    "alembic revision --autogenerate")),
    Case("revision-syntax-error", _revision_syntax_error, 2, (
        "3a1b_broken.py does not import: SyntaxError: invalid syntax (alembic/versions/3a1b_broken.py:3)",
        "at least imports")),
    Case("revision-without-revision", _revision_without_revision, 2, ("helpers.py has no `revision = ...`",
                                                                      "move other modules out")),
    Case("revision-not-utf8", _revision_not_utf8, 2, ("1a7e00000001_cafe.py is not UTF-8 text", "save it as UTF-8")),
    Case("duplicate-revision-ids", _duplicate_ids, 2, ("revision id ae1027a6acf1 is defined by 2 files",
                                                       "give one of them a new id")),
    Case("revision-cycle", _cycle, 2, ("cycle", "down_revision must point to an older revision")),
    Case("dangling-down-revision", _dangling_down_revision, 2, ("down_revision '0000deadbeef' names a revision no file",
                                                                "set down_revision to an existing revision")),
    Case("url-unparseable", _url_unparseable, 2, ("the database URL does not parse", "mysql+pymysql://USER:PASSWORD@HOST")),
    Case("url-not-mysql", _url_not_mysql, 2, ("is for postgresql, not MySQL", "mysql+pymysql://")),
    Case("driver-not-installed", _driver_not_installed, 2, ("the MySQL driver 'mysqldb' named in the URL is not installed",
                                                            "pip install mysqlclient", "mysql+pymysql://")),
    Case("wrong-password", _wrong_password, 2, ("refused user 'acit_", "access denied", "check the user and password")),
    Case("unknown-user", _unknown_user, 2, ("refused user 'acitest_nobody'", "access denied",
                                            "check the user and password")),
    Case("unknown-host", _unknown_host, 2, ("unknown host 'db.invalid'", "service name")),
    Case("connection-refused", _connection_refused, 2, ("no MySQL server answered at 127.0.0.1:1 after 1 s",
                                                        "raise --wait")),
    Case("no-create-database", _no_create_database, 2, ("may not create a database", "GRANT ALL PRIVILEGES ON `alembic\\_ci\\_%`.*",
                                                        "--scratch-database NAME")),
    Case("scratch-database-missing", _scratch_database_missing, 2, ("--scratch-database acitest_no_such_database: no such database",
                                                                    "create it empty")),
    Case("scratch-database-not-empty", _scratch_database_not_empty, 2, ("is not empty (1 objects: precious)",
                                                                        "name an empty database")),
    Case("scratch-database-without-server", _scratch_database_without_server, 2,
         ("no server URL was given", "--database-url")),
    Case("unknown-base", _unknown_base, 2, ("--base 0123456789ab: not a revision", "alembic history")),
    Case("base-ref-not-fetched", _base_ref_not_fetched, 2, ("'origin/main' is not in this clone", "fetch-depth: 0")),
    Case("output-unwritable", _output_unwritable, 2, ("cannot write the report to no/such/dir/report.json", "writable")),
    Case("doctor-url-without-database", _doctor_url_without_database, 2, ("names no database to inspect", "/DBNAME")),
    Case("doctor-scratch-url-not-mysql", _doctor_scratch_url_not_mysql, 2,
         ("the --scratch-url URL is for postgresql, not MySQL", "Pass a mysql+pymysql://")),
    Case("doctor-unknown-database", _doctor_unknown_database, 2, ("'acitest_no_such_database' does not exist",
                                                                  "SHOW DATABASES")),
    Case("doctor-bad-graph", _doctor_bad_graph, 2, ("down_revision '0000deadbeef' names a revision no file defines",
                                                    "set down_revision")),
    Case("migration-raises", _migration_raises, 1, ("b0000000000e", "raised KeyError: 'email'", "_add_email.py:17")),
    Case("migration-hangs", _migration_hangs, 1, ("51ee90000002", "Query execution was interrupted",
                                                  "--statement-timeout")),
    Case("migration-sleeps", _migration_sleeps, 1, ("51ee90000008", "was still running after 1 s (--revision-timeout)",
                                                    "_sleeps.py:17", "raise --revision-timeout")),
    Case("migration-exits", _migration_exits, 1, ("e0000000e0e0", "raised SystemExit: no tenants configured")),
    Case("migration-expects-app-table", _migration_expects_app_table, 1,
         ("a0000000a001", "doesn't exist", "cannot upgrade from an empty database")),
    Case("migration-table-typo", _migration_table_typo, 1,
         ("a0000000a002", "Table 'articles' doesn't exist", "did you mean `article`?")),
    Case("model-string-without-length", _model_string_without_length, 1,
         ("Article.slug", "VARCHAR requires a length", "String(255)")),
    Case("no-target-metadata", _no_target_metadata, 0, ("no target_metadata", "target_metadata = Base.metadata")),
]


def test_the_catalogue_has_at_least_25_cases_of_exit_2():
    assert len([c for c in CASES if c.code == 2]) >= 25


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(demo, case):
    with contextlib.ExitStack() as stack:
        args = case.setup(demo, stack)
        result = demo.run(*args)
        lines = result.err.splitlines()
        assert result.code == case.code, result.err + result.out
        assert len(lines) == 1, result.err
        label = {2: "error", 1: "failed", 0: "warning"}[case.code]
        assert lines[0].startswith(f"alembic-ci: {label}: "), lines[0]
        for fragment in case.says:
            assert fragment.lower() in lines[0].lower(), f"{fragment!r} not in {lines[0]!r}"
        assert "Traceback" not in result.err + result.out
        assert PASSWORD not in result.err + result.out


def test_debug_shows_the_traceback_and_still_no_password(demo):
    replace_in(env_py(demo), "config = context.config",
               "config = context.config\nraise RuntimeError(config.get_main_option('sqlalchemy.url'))")
    with temp_user("ALL PRIVILEGES ON `alembic\\_ci\\_%`.*", password=PASSWORD) as (user, password):
        result = demo.run("check", "-q", "--debug", "--database-url", url_for(user, password))
    assert result.code == 2
    assert "Traceback (most recent call last)" in result.err
    assert result.err.splitlines()[-1].startswith("alembic-ci: error: alembic/env.py:")
    # env.py put the scratch URL (with the password) in its own error: masked all the same.
    assert PASSWORD not in result.err and "***@" in result.err


def test_a_user_without_create_database_uses_the_named_empty_database(demo):
    demo.add_revision("5c0000000001", "ae1027a6acf1",
                      "op.execute('CREATE VIEW article_titles AS SELECT title FROM article')", message="view")
    with temp_database() as database, \
            temp_user(f"ALL PRIVILEGES ON `{database}`.*", password=PASSWORD) as (user, password):
        result = demo.run("check", "-q", "--database-url", url_for(user, password), "--scratch-database", database,
                          "--format", "json")
        assert result.code == 0, result.err
        assert execute(f"SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{database}'") == []
        assert execute(f"SHOW DATABASES LIKE '{database}'") == [(database,)]  # emptied, not dropped
    assert PASSWORD not in result.out + result.err


@pytest.mark.parametrize("option, value, says", [
    ("--wait", "-5", "argument --wait: '-5': must be more than 0 seconds"),
    ("--statement-timeout", "0", "argument --statement-timeout: '0': must be more than 0 seconds"),
    ("--revision-timeout", "inf", "argument --revision-timeout: 'inf': must be at most 31536000 seconds (a year)"),
    ("--lock-wait-timeout", "1.5", "argument --lock-wait-timeout: '1.5' is not a whole number of seconds"),
])
def test_a_number_of_seconds_must_be_above_zero(demo, option, value, says):
    result = demo.run("check", option, value)
    assert result.code == 2
    assert result.err.splitlines() == [f"alembic-ci: error: {says}. `alembic-ci check --help` lists the options"]


@pytest.mark.parametrize("args, says", [
    (["check", "-o", "report.txt"], "unrecognized arguments: -o report.txt. `alembic-ci check --help`"),
    (["--bogus", "check"], "unrecognized arguments: --bogus. `alembic-ci --help`"),  # the top level's
    (["check", "--base", "a1", "--base-ref", "main"], "argument --base-ref: not allowed with argument --base."),
    (["doctor"], "the following arguments are required: --database-url. `alembic-ci doctor --help`"),
    (["chekc"], "invalid choice: 'chekc'"),  # the choices are quoted or not, by Python version
    # A URL where another value belongs is quoted with its password masked.
    (["--database-url", f"mysql+pymysql://root:{PASSWORD}@db:3306/", "check"],
     "invalid choice: 'mysql+pymysql://root:***@db:3306/'"),
    (["check", "--wait", f"mysql+pymysql://root:{PASSWORD}@db:3306/"],
     "argument --wait: 'mysql+pymysql://root:***@db:3306/' is not a number of seconds"),
])
def test_a_usage_error_is_one_line(demo, args, says):
    result = demo.run(*args)
    assert result.code == 2 and result.out == ""
    [line] = result.err.splitlines()
    assert line.startswith("alembic-ci: error: ") and says in line, line
    assert PASSWORD not in line


def test_the_action_without_pygithub_says_what_to_install():
    """`pip install alembic-ci` without the [action] extra: PyGithub and requests are missing."""
    code = ("import sys; sys.modules['requests'] = sys.modules['github'] = None; "  # None: their import fails
            "from alembic_ci.cli import main; sys.exit(main(['action']))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.splitlines() == ["alembic-ci: error: alembic-ci action needs PyGithub. "
                                          "Install it: pip install 'alembic-ci[action]'"]


def test_quiet_silences_python_warnings_too(demo):
    """Only the verdict line remains with -q: no warnings of SQLAlchemy, Alembic or a migration."""
    demo.add_revision("b1w1", "ae1027a6acf1", 'warnings.warn("old_helper() is deprecated")\n'
                      'op.add_column("article", sa.Column("summary", sa.String(200)))', message="summary",
                      extra="import warnings")
    loud = demo.run("check", "--database-url", SERVER_URL)
    assert loud.code == 1 and "UserWarning: old_helper() is deprecated" in loud.err, loud.err
    quiet = demo.check()
    assert quiet.code == 1 and quiet.err.splitlines() == [
        "alembic-ci: failed: the models differ from the migrations (1 difference): article.summary: created by the "
        "migrations, not in the models. Generate the migration: `alembic revision --autogenerate -m \"...\"`, "
        "review it, commit it."], quiet.err
