"""The project's own settings, read once: ``[tool.alembic-ci]`` in the pyproject.toml nearest
to alembic.ini, with the command line's ``--fail-on`` winning over the file's ``fail-on``.

    [tool.alembic-ci]
    ignore = ["op-execute"]                       # risk codes never reported
    fail-on = ["drop-table", "drop-column"]       # risk codes that fail the check; "all" / "none"
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Union

from .errors import ConfigError
from .rules import DEFAULT_FAIL_ON, RULES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.9/3.10
    import tomli as tomllib


@dataclass(frozen=True)
class Settings:
    ignore: frozenset = frozenset()
    fail_on: frozenset = DEFAULT_FAIL_ON
    source: Optional[str] = None  # the pyproject.toml read, if any


def load_settings(ini_path: Path, fail_on: Optional[str] = None) -> Settings:
    pyproject = _nearest_pyproject(Path(ini_path).resolve().parent)
    table: dict = {}
    if pyproject is not None:
        try:
            table = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("tool", {}).get("alembic-ci", {})
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{pyproject} cannot be read ({exc})", "fix its TOML syntax") from exc
    where = f"{pyproject} [tool.alembic-ci]"
    unknown_keys = sorted(set(table) - {"ignore", "fail-on"})
    if unknown_keys:
        raise ConfigError(f"{where}: unknown setting {', '.join(map(repr, unknown_keys))}",
                          "the settings are `ignore` and `fail-on`, lists of risk codes (docs/risks.md)")
    ignore = _codes(table.get("ignore", []), f"{where} ignore")
    if fail_on is not None:
        chosen = _codes(fail_on, "--fail-on")
    elif "fail-on" in table:
        chosen = _codes(table["fail-on"], f"{where} fail-on")
    else:
        chosen = DEFAULT_FAIL_ON
    return Settings(ignore=ignore, fail_on=chosen, source=str(pyproject) if table else None)


def _nearest_pyproject(directory: Path) -> Optional[Path]:
    for folder in (directory, *directory.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def _codes(value: Union[str, Iterable[str]], where: str) -> frozenset:
    """A list of codes, or a comma/space separated string of them; `all` and `none` as keywords."""
    items = value.replace(",", " ").split() if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) for i in items):
        raise ConfigError(f"{where} must be a list of risk codes", 'write it as ["drop-table", "drop-column"]')
    codes = {i.strip().lower() for i in items if i.strip()}
    if "all" in codes:
        return frozenset(RULES)
    codes.discard("none")
    unknown = sorted(codes - set(RULES))
    if unknown:
        raise ConfigError(f"{where}: unknown risk code {', '.join(map(repr, unknown))}",
                          f"the codes are {', '.join(RULES)} (docs/risks.md), or `all` / `none`")
    return frozenset(codes)
