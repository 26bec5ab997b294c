"""The snapshot cache (--cache-dir): a check that restores the base's schema and replays only
the new revisions reports exactly what a full replay reports; a missing, stale or corrupt snapshot
means a full replay. On the real MariaDB server."""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
import shutil
import sys

import pytest

from conftest import SERVER_URL


@pytest.fixture
def history(demo):
    """The demo blog grown into a history with foreign keys, a unique index, a many-to-many table,
    a generated column, an enum column and a data migration (rows with quotes, a percent sign, a backslash, NULL, non-ASCII);
    its base is the fifth revision, and a pull request adds a sixth that relies on those rows."""
    demo.add_revision("c3a1", "ae1027a6acf1", """
        op.create_table("tag", sa.Column("id", sa.Integer(), primary_key=True),
                        sa.Column("name", sa.String(40), nullable=False),
                        sa.Column("note", sa.Text(), nullable=True),
                        sa.Column("slug", sa.String(40), sa.Computed("LOWER(name)")))
        op.create_index("ix_tag_name", "tag", ["name"], unique=True)
        op.create_table("article_tag",
                        sa.Column("article_id", sa.Integer(), sa.ForeignKey("article.id"), primary_key=True),
                        sa.Column("tag_id", sa.Integer(), sa.ForeignKey("tag.id", ondelete="CASCADE"), primary_key=True))
    """, message="tags")
    demo.add_revision("d4b2", "c3a1", """
        op.add_column("user", sa.Column("role", sa.Enum("admin", "member"), nullable=False, server_default="member"))
        user = sa.table("user", sa.column("id"), sa.column("username"), sa.column("role"))
        op.bulk_insert(user, [{"id": 1, "username": "system", "role": "admin"},
                              {"id": 2, "username": "O'Brien 100% \\\\ é", "role": "member"}])
        tag = sa.table("tag", sa.column("id"), sa.column("name"), sa.column("note"))
        op.bulk_insert(tag, [{"id": 1, "name": "news", "note": None}, {"id": 2, "name": "it's", "note": "a\\nb"}])
    """, message="roles and seed rows")
    demo.add_revision("e5c3", "d4b2", """
        op.create_index("ix_article_title", "article", ["title"])
    """, message="article title index")
    demo.add_model('''
        from sqlalchemy import Computed, Index, Table, Text

        User.role = Column(Enum("admin", "member"), nullable=False, server_default="member")
        Index("ix_article_title", Article.title)
        Tag = Table("tag", Base.metadata, Column("id", Integer, primary_key=True),
                    Column("name", String(40), nullable=False, unique=True, index=True),
                    Column("note", Text, nullable=True), Column("slug", String(40), Computed("LOWER(name)")))
        ArticleTag = Table("article_tag", Base.metadata,
                           Column("article_id", Integer, ForeignKey("article.id"), primary_key=True),
                           Column("tag_id", Integer, ForeignKey("tag.id", ondelete="CASCADE"), primary_key=True))
    ''')
    # The pull request: a column, and rows that need the seeded user (id 1) through the foreign key.
    demo.add_revision("f6d4", "e5c3", """
        op.add_column("article", sa.Column("summary", sa.String(200), nullable=True))
        article = sa.table("article", sa.column("title"), sa.column("uid"), sa.column("summary"))
        op.bulk_insert(article, [{"title": "welcome", "uid": 1, "summary": "100% new"}])
        op.execute("INSERT INTO article_tag (article_id, tag_id) SELECT a.id, t.id FROM article a, tag t "
                   "WHERE t.name = 'news'")
    """, message="article summary")
    # ... which forgets a model column: the comparison at head has something to report.
    demo.add_model('''
        Article.summary = Column(String(200), nullable=True)
        User.email = Column(String(120), nullable=True)
    ''')
    return demo


def check(demo, cache=None):
    args = ["check", "--database-url", SERVER_URL, "--format", "json", "--base", "e5c3"]
    if cache is not None:
        args += ["--cache-dir", str(cache)]
    result = demo.run(*args)
    assert result.code in (0, 1), result.err
    return result, json.loads(result.out)


def comparable(report: dict) -> dict:
    """The report minus what measures this run (timings) or says how the schema was reached."""
    report = {k: copy.deepcopy(v) for k, v in report.items() if k not in ("timing", "replayed", "restored")}
    for revision in report["revisions"]:
        for statement in revision["statements"]:
            statement.pop("duration_ms")
    return report


def snapshot_files(cache):
    return sorted(cache.glob("snapshot-*.json"))


def test_warm_cache_gives_the_report_of_a_full_replay(history, tmp_path):
    cache = tmp_path / "cache"
    full, full_report = check(history)
    assert full_report["replayed"] == 6 and full_report["restored"] == 0
    assert full_report["missing_migration"]["differences"] == ["user.email: in the models, no migration creates it"]
    assert [r["revision"] for r in full_report["revisions"]] == ["f6d4"]
    assert any("100% new" in s["sql"] for s in full_report["revisions"][0]["statements"])

    umask = os.umask(0o022)  # the check inherits it
    try:
        cold, cold_report = check(history, cache)
    finally:
        os.umask(umask)
    assert "no snapshot of this base" in cold.err and "saved the schema at the base (5 revisions)" in cold.err
    assert comparable(cold_report) == comparable(full_report) and cold_report["replayed"] == 6
    [saved] = snapshot_files(cache)
    # Readable by others, as a checkout is: actions/cache reads it as another user than the action's root.
    assert saved.stat().st_mode & 0o777 == 0o644
    statements = json.loads(saved.read_text())["statements"]
    assert any(s.startswith("CREATE TABLE `article_tag`") and "FOREIGN KEY" in s for s in statements)
    assert any(s.startswith("INSERT INTO `user`") and "O\\'Brien 100% \\\\ é" in s for s in statements)
    assert any(s.startswith("INSERT INTO `alembic_version`") and "e5c3" in s for s in statements)

    warm, warm_report = check(history, cache)
    assert "restored the schema at the base (5 revisions)" in warm.err
    assert warm_report["restored"] == 5 and warm_report["replayed"] == 1
    assert comparable(warm_report) == comparable(full_report)
    assert warm.code == full.code == 1
    # The pull request's comment is the same whether the cache was warm or not: a hit edits nothing.
    comments = [history.run("check", "--database-url", SERVER_URL, "--format", "markdown", "--base", "e5c3",
                            *cached).out for cached in ([], ["--cache-dir", str(cache)])]
    assert comments[0] == comments[1] and "· 6 revisions applied" in comments[0]


def test_changed_base_revision_misses_the_cache(history, tmp_path):
    cache = tmp_path / "cache"
    check(history, cache)
    old = history.versions / "c3a1_tags.py"
    old.write_text(old.read_text() + "\n# edited\n")
    result, report = check(history, cache)
    assert (f"no snapshot of this base in {cache} (one of the same revisions differs: "
            "alembic/versions/c3a1_tags.py): full replay") in result.err, result.err
    assert report["replayed"] == 6 and report["restored"] == 0
    assert len(snapshot_files(cache)) == 2  # the new key's snapshot beside the old one


def _rewrite(path, change):
    data = json.loads(path.read_text())
    data["statements"] = change(data["statements"])
    data["fingerprint"] = hashlib.sha256("\0".join(data["statements"]).encode()).hexdigest()
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("damage, message", [
    (lambda p: p.write_text(p.read_text().replace("varchar(40)", "varchar(41)")), "is corrupt"),
    (lambda p: p.write_text(p.read_text()[:100]), "is unreadable"),
    (lambda p: p.write_text("[" * 100_000 + "]" * 100_000), "is unreadable (RecursionError)"),
    (lambda p: _rewrite(p, lambda s: [x.replace("CREATE TABLE `tag`", "CREATE TABLE IF NOT EXISTS `tag`")
                                      .replace("varchar(40)", "VARCHAR(40)") for x in s]), "is stale"),
    (lambda p: _rewrite(p, lambda s: s + ["INSERT INTO `no_such_table` VALUES (1)"]), "not restorable here"),
], ids=["content-hash", "truncated", "nested", "restores-differently", "fails-to-restore"])
def test_bad_snapshot_falls_back_to_a_full_replay(history, tmp_path, damage, message):
    cache = tmp_path / "cache"
    _, full_report = check(history)
    check(history, cache)
    [path] = snapshot_files(cache)
    damage(path)
    (cache / "unrelated.json").write_text("{}")  # someone else's file in the directory

    result, report = check(history, cache)
    assert message in result.err and "full replay" in result.err
    assert report["replayed"] == 6 and report["restored"] == 0
    assert comparable(report) == comparable(full_report)
    # The full replay wrote a good snapshot again, which the next check uses.
    assert "saved the schema at the base" in result.err
    again, again_report = check(history, cache)
    assert "restored the schema" in again.err and again_report["restored"] == 5
    assert (cache / "unrelated.json").read_text() == "{}"


def test_a_check_without_base_warms_the_cache_for_the_next_pull_request(history, tmp_path):
    """The main branch's run (no base: every revision reported) saves the schema at its heads; the
    first check of a pull request on that branch restores it, with the report of a full replay."""
    cache = tmp_path / "cache"
    _, full_report = check(history)
    [pr_file] = history.versions.glob("f6d4_*.py")
    moved = tmp_path / pr_file.name
    pr_file.rename(moved)  # main before the pull request: heads e5c3
    main = history.run("check", "--database-url", SERVER_URL, "--cache-dir", str(cache),
                       env={"ALEMBIC_CI_CACHE_DIR": ""})
    assert main.code == 1, main.err  # the models are the pull request's: main's check sees drift
    assert "saved the schema at the heads (5 revisions)" in main.err and "restored" not in main.err
    [saved] = snapshot_files(cache)
    assert any("e5c3" in s for s in json.loads(saved.read_text())["statements"])

    moved.rename(pr_file)
    pr, pr_report = check(history, cache)
    assert "restored the schema at the base (5 revisions)" in pr.err
    assert pr_report["restored"] == 5 and pr_report["replayed"] == 1
    assert comparable(pr_report) == comparable(full_report)
    assert snapshot_files(cache) == [saved]  # restored, not saved again


def test_what_the_base_revisions_import_is_verified_before_a_restore(demo, tmp_path):
    """A helper of the project's own, imported by a base revision, decides the base's schema
    too: so does the project's package installed from its directory (`pip install .`, as the
    action's install: auto does), and the version of an installed package. A module only the
    new revisions import does not."""
    helpers = demo.root / "migration_helpers.py"
    helpers.write_text("import sqlalchemy as sa\n\n\n"
                       "def name_column():\n    return sa.Column('name', sa.String(20), nullable=True)\n")
    site = tmp_path / "lib" / "site-packages"
    # The project's own package, installed from its directory ...
    _install(site, "shop_app", "1.0", "NOTE_LENGTH = 10\n", from_directory=demo.root)
    # ... and a package from an index, whose version is what counts.
    _install(site, "color_types", "1.0", "LENGTH = 7\n")
    (demo.root / "pr_helpers.py").write_text("SUMMARY_LENGTH = 200\n")
    demo.add_revision("c0h1", "ae1027a6acf1", """
        op.create_table("tag", sa.Column("id", sa.Integer(), primary_key=True), name_column(),
                        sa.Column("note", sa.String(shop_app.NOTE_LENGTH)),
                        sa.Column("color", sa.String(color_types.LENGTH)))
    """, message="tags", extra="import color_types\nimport shop_app\nfrom migration_helpers import name_column")
    demo.add_revision("c1h2", "c0h1", 'op.add_column("tag", sa.Column("summary", sa.String(SUMMARY_LENGTH)))',
                      message="summary", extra="from pr_helpers import SUMMARY_LENGTH")
    demo.add_model("""
        from sqlalchemy import Table

        Tag = Table("tag", Base.metadata, Column("id", Integer, primary_key=True),
                    Column("name", String(20), nullable=False), Column("note", String(10)),
                    Column("color", String(7)), Column("summary", String(200)))
    """)
    cache = tmp_path / "cache"

    def run():
        result = demo.run("check", "--database-url", SERVER_URL, "--format", "json", "--base", "c0h1",
                          "--cache-dir", str(cache), env={"PYTHONPATH": os.pathsep.join([str(site), *sys.path])})
        return result, json.loads(result.out)["restored"]

    cold, restored = run()
    assert cold.code == 1 and "saved the schema at the base (3 revisions)" in cold.err, cold.err
    assert "tag.name: nullable is NULL in the migrations" in cold.out  # (Alembic 1.9 compares no types)
    (demo.root / "pr_helpers.py").write_text("SUMMARY_LENGTH = 200  # the pull request's own helper\n")
    assert run()[1] == 3  # the same base: restored

    helpers.write_text(helpers.read_text().replace("nullable=True", "nullable=False"))
    changed, restored = run()
    assert "is stale (migration_helpers.py, which a revision up to the base imports, changed): full replay" \
        in changed.err, changed.err  # not the nullable column's snapshot
    assert changed.code == 0 and restored == 0
    assert run()[1] == 3

    (site / "shop_app" / "__init__.py").write_text("NOTE_LENGTH = 12\n")
    changed, restored = run()
    assert restored == 0 and "shop_app/__init__.py, which a revision up to the base imports" in changed.err
    assert run()[1] == 3

    _install(site, "color_types", "1.1", "LENGTH = 7\n")
    changed, restored = run()
    assert restored == 0 and "is stale (the package color_types, which" in changed.err, changed.err


def _install(site, package: str, version: str, init: str, from_directory=None) -> None:
    """A package as pip leaves it in site-packages: the code, its dist-info (with the directory
    it was installed from, if any)."""
    (site / package).mkdir(parents=True, exist_ok=True)
    (site / package / "__init__.py").write_text(init)
    for old in site.glob(f"{package}-*.dist-info"):
        shutil.rmtree(old)
    info = site / f"{package}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package.replace('_', '-')}\nVersion: {version}\n")
    (info / "top_level.txt").write_text(f"{package}\n")
    if from_directory is not None:
        (info / "direct_url.json").write_text(json.dumps({"url": from_directory.as_uri(), "dir_info": {}}))


def test_the_embedded_default_restores_what_it_saved(history, tmp_path):
    """alembic-ci's default: each run starts a server of its own (in a thread, while the revision
    files load), and finds the snapshot the run before saved."""
    runs = [history.run("check", "--format", "json", "--base", "e5c3", "--cache-dir", str(tmp_path))
            for _ in range(3)]
    assert [json.loads(r.out)["restored"] for r in runs] == [0, 5, 5], runs[-1].err
    assert len(snapshot_files(tmp_path)) == 1


def test_modules_a_base_revision_imports_when_it_runs_are_verified(demo, tmp_path):
    """An `import` inside upgrade(), or inside a helper's function, counts too: the snapshot lists
    the project's modules imported so, and a change to one means a full replay."""
    (demo.root / "sizes.py").write_text("NOTE = 10\n")
    (demo.root / "lazy_helpers.py").write_text("import sqlalchemy as sa\n\n\ndef note_column():\n"
                                               "    from sizes import NOTE\n"
                                               "    return sa.Column('note', sa.String(NOTE))\n")
    site = tmp_path / "site-packages"
    _install(site, "color_types", "1.0", "LENGTH = 7\n")
    demo.add_revision("c0l1", "ae1027a6acf1", """
        import color_types
        from lazy_helpers import note_column
        op.create_table("tag", sa.Column("id", sa.Integer(), primary_key=True), note_column(),
                        sa.Column("color", sa.String(color_types.LENGTH)))
    """, message="tags")
    # The pull request's revision, loaded first (its file sorts first), imports a constant of sizes too.
    demo.add_revision("a1l2", "c0l1", 'op.add_column("tag", sa.Column("name", sa.String(NOTE * 2)))', message="name",
                      extra="from sizes import NOTE")
    demo.add_model("""
        from sqlalchemy import Table

        Tag = Table("tag", Base.metadata, Column("id", Integer, primary_key=True), Column("note", String(10)),
                    Column("color", String(7)), Column("name", String(20)))
    """)
    cache = tmp_path / "cache"

    def run():
        result = demo.run("check", "--database-url", SERVER_URL, "--format", "json", "--base", "c0l1",
                          "--cache-dir", str(cache), env={"PYTHONPATH": os.pathsep.join([str(site), *sys.path])})
        return result, json.loads(result.out)

    cold, _ = run()
    assert cold.code == 0 and "saved the schema at the base (3 revisions)" in cold.err, cold.err
    [saved] = snapshot_files(cache)
    listed = json.loads(saved.read_text())
    assert sorted(listed["modules"]) == ["lazy_helpers.py", "sizes.py"]
    assert listed["packages"] == {"color_types": "color-types 1.0"}
    assert run()[1]["restored"] == 3

    (demo.root / "sizes.py").write_text("NOTE = 12\n")
    stale, report = run()
    assert "is stale (sizes.py, which a revision up to the base imports, changed): full replay" in stale.err, stale.err
    assert report["restored"] == 0 and report["replayed"] == 4
    assert "VARCHAR(24)" in json.dumps(report["revisions"])  # the pull request's NOTE * 2, from the new sizes.py
    assert run()[1]["restored"] == 3, "the full replay saved the snapshot again"
    # Each version of what the base's revisions import has its own snapshot: a branch changing a
    # helper does not replace the other branches' in a shared directory.
    assert len(snapshot_files(cache)) == 2
    (demo.root / "sizes.py").write_text("NOTE = 10\n")
    back, report = run()
    assert report["restored"] == 3 and "is stale" not in back.err, back.err

    _install(site, "color_types", "1.1", "LENGTH = 7\n")
    upgraded, report = run()
    assert "is stale (the package color_types, which a revision up to the base imports, changed)" in upgraded.err, \
        upgraded.err
    assert report["restored"] == 0


def test_modules_loaded_by_a_literal_name_are_listed(tmp_path):
    """importlib.import_module("a") and __import__("a") load a module as an import does; a name
    computed at run time cannot be read from the source."""
    from alembic_ci.graph import _source_imports

    migration = tmp_path / "c0l1_tags.py"
    migration.write_text(
        "import importlib\n"
        "from importlib import import_module\n\n\n"
        "def upgrade():\n"
        "    importlib.import_module('shop.sizes')\n"
        "    import_module('.colors', package='shop')\n"
        "    import_module('.fonts', 'shop')\n"
        "    __import__('units')\n"
        "    importlib.import_module(computed)\n"
        "    importlib.import_module('')\n"
        "    import_module('.nowhere')\n"
    )
    assert _source_imports(migration) == {"importlib", "importlib.import_module", "shop.sizes", "shop.colors",
                                          "shop.fonts", "units"}


def test_listing_counts_parent_packages_and_every_owner_of_a_namespace(demo, tmp_path, monkeypatch):
    """`from shop.sizes import NOTE` runs shop/__init__.py too; a namespace package's version is
    every distribution's that installs into it; one installed from git is known by its commit."""
    from alembic_ci import graph as graph_module
    from alembic_ci.graph import load_graph, package_version
    from alembic_ci.project import load_project

    (demo.root / "shop").mkdir()
    (demo.root / "shop" / "__init__.py").write_text("SCALE = 1\n")
    (demo.root / "shop" / "sizes.py").write_text("NOTE = 10\n")
    site = tmp_path / "site-packages"
    for dist, version, origin in (("nsp-a", "1.0", None), ("nsp-b", "2.0", "0123abc")):
        module = dist.replace("-", "_")
        (site / "nsp" / module).mkdir(parents=True, exist_ok=True)
        (site / "nsp" / module / "__init__.py").write_text("")
        info = site / f"{module}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        (info / "top_level.txt").write_text("nsp\n")
        if origin:
            (info / "direct_url.json").write_text(json.dumps(
                {"url": "https://example.com/nsp-b.git", "vcs_info": {"vcs": "git", "commit_id": origin}}))
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.syspath_prepend(str(demo.root))
    monkeypatch.chdir(demo.root)
    monkeypatch.setattr(graph_module, "_package_owners", functools.lru_cache(maxsize=1)(
        graph_module._package_owners.__wrapped__))  # this test's site-packages, not an earlier answer
    demo.add_revision("c0p1", "ae1027a6acf1", "pass", message="parent", extra="from shop.sizes import NOTE\nimport nsp.nsp_a")
    project = load_project("alembic.ini")
    graph, _ = load_graph(project.script, project.version_locations)
    files, packages = graph.imported(["c0p1"])
    assert [str(f.relative_to(demo.root.resolve())) for f in files] == ["shop/__init__.py", "shop/sizes.py"]
    assert "nsp" in packages
    assert package_version("nsp") == "nsp-a 1.0, nsp-b 2.0 (0123abc)"


def test_a_damaged_cache_file_naming_odd_modules_is_corrupt_not_a_crash(tmp_path):
    from alembic_ci.snapshot import FORMAT, Key, _digest, _hash, _well_formed

    key = Key({"env.py": "0" * 64})
    good = {"format": FORMAT, "key": key.digest, "revisions": 1, "statements": [], "fingerprint": _hash([]),
            "packages": {}, "modules": {"helpers.py": "0" * 64}}
    assert _well_formed(good, key)
    for name in ("/etc/passwd", "a\0b"):
        assert not _well_formed({**good, "modules": {name: "0" * 64}}, key)
    for count in (True, 0, "1"):
        assert not _well_formed({**good, "revisions": count}, key)
    assert _digest("/dev/zero") == _digest(tmp_path / "missing") == _digest("a\0b")  # never read, never raise


def test_a_cache_dir_that_is_a_file_is_one_line_and_no_cache(history, tmp_path):
    not_a_dir = tmp_path / "cache"
    not_a_dir.write_text("mine")
    result, report = check(history, not_a_dir)
    assert [line for line in result.err.splitlines() if "snapshot cache" in line] == [
        f"alembic-ci: snapshot cache: {not_a_dir} is not a directory: no cache"]
    assert report["replayed"] == 6 and not_a_dir.read_text() == "mine"


def test_schema_with_a_view_is_not_cached(demo, tmp_path):
    demo.add_revision("b2v1", "ae1027a6acf1", 'op.execute("CREATE VIEW titles AS SELECT title FROM article")',
                      message="view")
    demo.add_revision("c3v2", "b2v1", 'op.add_column("article", sa.Column("summary", sa.String(200)))',
                      message="summary")
    demo.add_model("Article.summary = Column(String(200))")
    for _ in range(2):
        result = demo.run("check", "--database-url", SERVER_URL, "--base", "b2v1", "--cache-dir", str(tmp_path))
        assert result.code == 0, result.err
        assert "the schema at the base is not saved: it has more than tables: titles (view)" in result.err
        assert "4 revisions replayed" in result.out and "restored" not in result.out
    assert not snapshot_files(tmp_path)


def test_rows_of_any_size_and_binary_data_restore_exactly(demo, tmp_path):
    """Rows go into INSERTs of up to 1 MiB (one INSERT of a whole table may pass the server's
    max_allowed_packet); binary values as hex literals, whatever the driver."""
    demo.add_revision("b1n1", "ae1027a6acf1", """
        op.create_table("blob", sa.Column("id", sa.Integer(), primary_key=True),
                        sa.Column("digest", sa.VARBINARY(16)), sa.Column("body", sa.Text()))
        blob = sa.table("blob", sa.column("id"), sa.column("digest"), sa.column("body"))
        op.bulk_insert(blob, [{"id": i, "digest": bytes([0, 255, 128, i % 256]) * 4, "body": "é" * 2000}
                              for i in range(1, 1201)])
    """, message="blobs")
    demo.add_revision("c2n2", "b1n1", 'op.add_column("blob", sa.Column("note", sa.String(20)))', message="note")
    demo.add_model("""
        from sqlalchemy import VARBINARY, Table, Text

        Blob = Table("blob", Base.metadata, Column("id", Integer, primary_key=True), Column("digest", VARBINARY(16)),
                     Column("body", Text), Column("note", String(20)))
    """)
    cache = tmp_path / "cache"

    def run(*extra):
        result = demo.run("check", "--database-url", SERVER_URL, "--format", "json", "--base", "b1n1", *extra)
        assert result.code == 0, result.err
        return result, json.loads(result.out)

    _, full = run()
    run("--cache-dir", str(cache))
    [saved] = snapshot_files(cache)
    inserts = [s for s in json.loads(saved.read_text())["statements"] if s.startswith("INSERT INTO `blob`")]
    assert len(inserts) == 5 and all(len(s.encode()) <= (1 << 20) + 200 for s in inserts)  # 4.8 MB of text
    assert "X'00ff800100ff800100ff800100ff8001'" in inserts[0]
    warm, report = run("--cache-dir", str(cache))
    assert report["restored"] == 3 and comparable(report) == comparable(full)


def _max_allowed_packet() -> int:
    import pymysql

    with pymysql.connect(host="127.0.0.1", user="root") as conn, conn.cursor() as cursor:
        cursor.execute("SELECT @@max_allowed_packet")
        return cursor.fetchone()[0]


@pytest.mark.parametrize("hang_up", [lambda: f"SELECT '{'x' * _max_allowed_packet()}'", lambda: "KILL CONNECTION_ID()"],
                         ids=["over-max-allowed-packet", "killed"])
def test_a_restore_the_server_hangs_up_on_is_discarded_and_the_check_goes_on(history, tmp_path, hang_up):
    """The server closes the connection mid-restore (a statement over max_allowed_packet: SQLAlchemy
    2 sees it at the next statement, 1.4 at once). The snapshot goes, the database is emptied on a
    new connection, and the full replay reports as usual."""
    cache = tmp_path / "cache"
    _, full_report = check(history)
    check(history, cache)
    [path] = snapshot_files(cache)
    _rewrite(path, lambda s: s[:3] + [hang_up()] + s[3:])

    result, report = check(history, cache)
    assert "is not restorable here" in result.err and "full replay" in result.err, result.err
    assert report["restored"] == 0 and comparable(report) == comparable(full_report)
    again, again_report = check(history, cache)
    assert again_report["restored"] == 5, again.err


@pytest.fixture
def latin1_database():
    import pymysql

    name = f"test_latin1_{os.getpid()}"
    with pymysql.connect(host="127.0.0.1", user="root", autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name} CHARACTER SET latin1")
        try:
            yield name
        finally:
            cursor.execute(f"DROP DATABASE IF EXISTS {name}")


def test_the_scratch_database_charset_is_in_the_key(history, tmp_path, latin1_database):
    """An existing scratch database whose default charset differs makes other tables in a full
    replay: a snapshot saved in utf8mb4 is not restored there."""
    cache = tmp_path / "cache"
    check(history, cache)
    args = ["check", "--database-url", SERVER_URL, "--format", "json", "--base", "e5c3",
            "--scratch-database", latin1_database]
    full = json.loads(history.run(*args).out)
    result = history.run(*args, "--cache-dir", str(cache))
    assert "(one of the same revisions differs: @@character_set_database utf8mb4 there, latin1 here; " \
           "@@collation_database utf8mb4_" in result.err, result.err  # the collations differ by server
    assert json.loads(result.out)["restored"] == 0 and comparable(json.loads(result.out)) == comparable(full)


def test_no_half_written_snapshot_is_left_behind(tmp_path, monkeypatch):
    """An interrupt while writing removes the temporary file; one a killed run left an hour ago
    goes at the next save, a running job's fresh one stays."""
    from alembic_ci import snapshot
    from alembic_ci.errors import Interrupted

    def interrupted(data, handle):
        handle.write('{"format": ')
        raise Interrupted("SIGTERM")

    cache = snapshot.Cache(tmp_path, progress=lambda message: None)
    monkeypatch.setattr(snapshot.json, "dump", interrupted)
    with pytest.raises(Interrupted):
        cache._write(snapshot.Key({"env.py": "0"}), {})
    assert list(tmp_path.iterdir()) == []

    abandoned, running = tmp_path / "snapshot-abandoned.tmp", tmp_path / "snapshot-running.tmp"
    abandoned.write_text("{")
    running.write_text("{")
    os.utime(abandoned, (0, 0))
    cache._prune()
    assert sorted(tmp_path.iterdir()) == [running]


def test_a_miss_says_how_the_snapshot_of_the_same_revisions_differs():
    from alembic_ci.snapshot import Key

    parts = {"versions": {"Alembic": "1.20.1"}, "server": {"VERSION()": "8.0.36", "@@sql_mode": "STRICT"},
             "alembic.ini": "1", "env.py": "2", "revisions": {"a1": "3", "b2": "4"}}
    key = Key(parts, paths={"a1": "versions/a1_first.py", "b2": "versions/b2_second.py"})
    assert key.differences(parts) is None
    other = {**parts, "env.py": "9", "revisions": {"a1": "3", "b2": "8"}, "server": {**parts["server"], "VERSION()": "8.0.35"}}
    assert key.differences(other) == "env.py; versions/b2_second.py; VERSION() 8.0.35 there, 8.0.36 here"
    assert key.differences({**other, "alembic.ini": "0", "versions": {"Alembic": "1.9.4"}}) == \
        "alembic.ini; env.py; versions/b2_second.py; and 2 more"
    assert Key(parts, paths={"a1": "elsewhere/a1_first.py"}).digest == key.digest  # a checkout at another path


def test_rows_are_batched_by_their_size_in_bytes():
    from alembic_ci.snapshot import _batches

    rows = ["('é')", "('ab')", "('" + "x" * 30 + "')", "('c')"]  # 6, 6, 34 and 5 bytes
    assert list(_batches(iter(rows), 15)) == [("('é'),\n('ab')", 14), ("('" + "x" * 30 + "')", 34), ("('c')", 5)]
