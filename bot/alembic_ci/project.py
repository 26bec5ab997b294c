"""Load the user's Alembic project: alembic.ini and its script directory."""

from __future__ import annotations

import configparser
import os
from dataclasses import dataclass
from pathlib import Path

from alembic import util as alembic_util
from alembic.config import Config
from alembic.script import ScriptDirectory

from .errors import ConfigError


@dataclass
class Project:
    ini_path: Path
    config: Config
    script: ScriptDirectory

    @property
    def version_locations(self) -> list[Path]:
        # A private attribute, but the one list Alembic itself loads from (1.9 to 1.x).
        return [Path(p) for p in self.script._version_locations]


def relpath(path: "str | os.PathLike[str]") -> str:
    """Paths in reports are relative to the working directory (the repository root in CI),
    which is what GitHub annotations and a reader expect; absolute when outside it."""
    path = os.path.abspath(path)
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def load_project(ini: str) -> Project:
    ini_path = Path(ini)
    if ini_path.is_dir():
        raise ConfigError(f"-c {ini} is a directory, not an Alembic config file",
                          f"pass the file: -c {ini_path / 'alembic.ini'}")
    if not ini_path.is_file():
        raise ConfigError(
            f"no Alembic config at {ini}",
            "run alembic-ci from your project's root, or pass -c path/to/alembic.ini",
        )
    config = Config(str(ini_path))
    try:
        location = config.get_main_option("script_location")
    except configparser.Error as exc:
        raise ConfigError(
            f"{ini} is not a valid ini file ({exc.__class__.__name__}: {str(exc).splitlines()[0]})",
            "fix its syntax; `alembic init` shows the expected layout",
        ) from exc
    if not location and not _pyproject_declares_location(ini_path):
        raise ConfigError(
            f"{ini} has no script_location in its [alembic] section",
            "add `script_location = alembic` (the folder holding env.py and versions/)",
        )
    try:
        script = ScriptDirectory.from_config(config)
    except alembic_util.CommandError as exc:
        raise ConfigError(
            f"{ini}: script_location {location!r} cannot be used ({exc})",
            "point script_location at the folder holding env.py and versions/, "
            "relative to where you run alembic-ci or using %(here)s",
        ) from exc
    if not os.path.isfile(os.path.join(script.dir, "env.py")):
        raise ConfigError(
            f"{script.dir} has no env.py",
            "point script_location at the folder `alembic init` created (with env.py and versions/)",
        )
    return Project(ini_path=ini_path, config=config, script=script)


def _pyproject_declares_location(ini_path: Path) -> bool:
    # Alembic 1.16+ may read script_location from [tool.alembic] in pyproject.toml.
    pyproject = ini_path.parent / "pyproject.toml"
    return pyproject.is_file() and "[tool.alembic]" in pyproject.read_text(errors="replace")
