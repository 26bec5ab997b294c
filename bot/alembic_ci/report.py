"""The report: plain data, free of any renderer or of GitHub. ``to_dict`` is the documented
JSON schema (docs/json-schema.md); bump SCHEMA_VERSION on any incompatible change."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, List, Optional

SCHEMA_VERSION = 1

ERROR = "error"
WARNING = "warning"


@dataclass
class Finding:
    code: str
    severity: str
    message: str
    file: Optional[str] = None
    line: Optional[int] = None
    revision: Optional[str] = None
    # Longer explanation: the fix command, the server's error, the failing statement.
    detail: Optional[str] = None


@dataclass
class Refusal:
    """The server declined to run a statement with this method (online_ddl.py)."""

    algorithm: str
    lock: Optional[str]
    reason: str


@dataclass
class Statement:
    sql: str
    # Set on the statement the server refused.
    error: Optional[str] = None
    duration_ms: float = 0.0
    # How the server runs it, measured on ALTER TABLE / CREATE INDEX / DROP INDEX of reported
    # revisions; None elsewhere. algorithm: INSTANT | NOCOPY | INPLACE | COPY;
    # lock: NONE | SHARED | EXCLUSIVE.
    table: Optional[str] = None
    algorithm: Optional[str] = None
    lock: Optional[str] = None
    blocks_writes: bool = False
    refusals: List[Refusal] = field(default_factory=list)


# Statements kept per revision; the rest are counted. A migration looping until --revision-timeout
# sends ~6,000 a second, which must not fill the memory or the report.
MAX_RECORDED = 1000


@dataclass
class RevisionReport:
    revision: str
    file: str
    message: str
    down_revisions: List[str] = field(default_factory=list)
    statements: List[Statement] = field(default_factory=list)
    # False for revisions the replay did not reach (an earlier one failed).
    applied: bool = False
    statements_not_recorded: int = 0  # sent after the first MAX_RECORDED


@dataclass
class MissingMigration:
    differences: List[str]
    imports: List[str]
    upgrade: str
    downgrade: str
    sql: List[str]


@dataclass
class Report:
    config: str
    server: str = ""
    heads: List[str] = field(default_factory=list)
    base: List[str] = field(default_factory=list)
    findings: List[Finding] = field(default_factory=list)
    revisions: List[RevisionReport] = field(default_factory=list)
    missing_migration: Optional[MissingMigration] = None
    # The number of revisions replayed, reported or not: from empty, or after the restored ones.
    replayed: int = 0
    # Revisions not replayed: their schema was restored from the snapshot cache (--cache-dir).
    restored: int = 0
    timing: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not any(f.severity == ERROR for f in self.findings)

    def add(self, finding: Finding) -> None:
        self.findings.append(finding)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {"schema_version": SCHEMA_VERSION, "passed": self.passed, **data}
