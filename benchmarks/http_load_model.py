"""What one HTTP load run measured (benchmarks/bench_http_load.py): wrk's figures per run and
per workload, shared by the runner and the report (benchmarks/http_load_report.py)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

import sqlalchemy as sa

from events import make_engine

SUBJECTS, CLIENTS, WRK_THREADS = 64, 8, 2
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


@dataclass(frozen=True)
class Run:
    """One wrk run: answers/s, latency percentiles (ms), answers by status, socket errors."""

    rps: float
    seconds: float
    p50: float
    p95: float
    p99: float
    statuses: dict[int, int]
    errors: int

    @property
    def non_2xx(self) -> int:
        return sum(n for status, n in self.statuses.items() if not 200 <= status < 300)

    @property
    def ok_rps(self) -> float:
        """2xx answers/s: in the one-subject workload, the accepted submissions."""
        return sum(n for s, n in self.statuses.items() if 200 <= s < 300) / self.seconds

    @property
    def conflicts(self) -> int:
        return self.statuses.get(409, 0)


@dataclass
class Workload:
    """A workload's runs against the bare app and against ecrf (same index: same turn)."""

    key: str
    label: str
    bare_kind: str
    floor_kind: str | None = None  # benchmarks/floor_app.py, for the submission and the read
    bare: list[Run] = field(default_factory=list)
    ecrf: list[Run] = field(default_factory=list)
    floor: list[Run] = field(default_factory=list)

    def median(self, side: str, attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in getattr(self, side))


def admin(sql: str) -> str | None:
    engine = make_engine(PG_URL, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        result = conn.exec_driver_sql(sql)
        value = result.scalar() if result.returns_rows else None
    engine.dispose()
    return value
