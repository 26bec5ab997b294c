"""The GitHub Actions runner's side channel: workflow commands on standard output
(``::add-mask::``, ``::group::``, ``::error file=...::``) and the files named by GITHUB_OUTPUT and
GITHUB_STEP_SUMMARY. Outside Actions (no files named) the files are simply not written."""

from __future__ import annotations

import contextlib
import secrets
from pathlib import Path
from typing import Iterator, Mapping, Optional, TextIO

# GitHub refuses a step summary over 1 MiB; keep a margin for what other tools append.
SUMMARY_MAX_BYTES = 1_000_000


def escape_data(text: str) -> str:
    """A workflow command's message: the runner decodes exactly these."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A property value (file=, title=): also ``:`` and ``,``, which end a property."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


class Workflow:
    """Writes workflow commands to ``out`` (the step's log) and the runner's files."""

    def __init__(self, out: TextIO, output_file: Optional[Path] = None, summary_file: Optional[Path] = None):
        self.out = out
        self.output_file = output_file
        self.summary_file = summary_file

    def command(self, name: str, message: str = "", **properties: object) -> None:
        props = ",".join(f"{key}={escape_property(str(value))}"
                         for key, value in properties.items() if value is not None)
        self.out.write(f"::{name}{' ' + props if props else ''}::{escape_data(message)}\n")
        self.out.flush()

    def log(self, line: str) -> None:
        self.out.write(f"alembic-ci: {line}\n")
        self.out.flush()

    def mask(self, secret: str) -> None:
        # The runner masks line by line: a multi-line secret is masked one line at a time.
        for line in secret.splitlines():
            if line.strip():
                self.command("add-mask", line)

    @contextlib.contextmanager
    def group(self, title: str) -> Iterator[None]:
        self.command("group", title)
        try:
            yield
        finally:
            self.command("endgroup")

    def error(self, message: str, file: Optional[str] = None, line: Optional[int] = None,
              title: Optional[str] = None) -> None:
        self.command("error", message, file=file, line=line if file else None, title=title)

    def warning(self, message: str, file: Optional[str] = None, line: Optional[int] = None,
                title: Optional[str] = None) -> None:
        self.command("warning", message, file=file, line=line if file else None, title=title)

    def set_outputs(self, values: Mapping[str, str]) -> None:
        if self.output_file is None:
            return
        with open(self.output_file, "a", encoding="utf-8") as handle:
            for name, value in values.items():
                # A fresh random delimiter per value: no value can end the heredoc early.
                delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
                handle.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")

    def write_summary(self, markdown: str) -> None:
        if self.summary_file is None:
            return
        with open(self.summary_file, "a", encoding="utf-8") as handle:
            handle.write(markdown)
