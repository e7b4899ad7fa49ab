"""Time the submission exports on a generated trial: the SDTM build, each file writer, the
Define-XML and the PDF casebooks.

    .venv/bin/python benchmarks/bench_submission.py [subjects] [events_per_subject]

Uses a fresh SQLite file in a temporary folder and the trial of benchmarks/trial_generator.py.
Prints one line per step (seconds, and rows or files); nothing is asserted.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.trial_generator import TrialGenerator
from ecrf.accounts.model import ALL_SITES, User
from ecrf.exports.casebook_pdf import build_casebook_pdf, head_checkpoint
from ecrf.exports.sdtm.build import build_sdtm, casebooks
from ecrf.exports.sdtm.define import build_define
from ecrf.exports.sdtm.writers import dataset_json, xpt_bytes
from ecrf.schema import upgrade
from events import EventStore, make_engine

USER = User("bench", "data_manager", (ALL_SITES,), "benchmark")


def main(subjects: int, per_subject: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'bench.db'}")
        upgrade(engine)
        store = EventStore(engine)
        stats = TrialGenerator(seed=16).generate(store, subjects, per_subject)
        print(f"trial: {stats.subjects} subjects, {stats.events:,} events (SQLite)")
        started = time.perf_counter()
        package = build_sdtm(store, user=USER)
        built = time.perf_counter() - started
        rows = sum(len(d.rows) for d in package.datasets.values())
        print(f"build_sdtm: {built:.2f} s, {len(package.datasets)} datasets, {rows:,} rows")
        for label, write in (("xpt (pyreadstat)", xpt_bytes),
                             ("dataset-json", lambda d: dataset_json(d, package.created_at,
                                                                     None))):
            started = time.perf_counter()
            size = sum(len(write(d)) for d in package.datasets.values())
            print(f"{label}: {time.perf_counter() - started:.2f} s, {size / 1e6:.1f} MB")
        started = time.perf_counter()
        define = build_define(package)
        print(f"define.xml: {time.perf_counter() - started:.2f} s, {len(define) / 1e3:.0f} kB")
        checkpoint = head_checkpoint(store)
        books = list(casebooks(store, USER, package.position))[:20]
        started = time.perf_counter()
        sizes = [len(build_casebook_pdf(book, store.read_stream(book.subject_id), checkpoint))
                 for book in books]
        seconds = time.perf_counter() - started
        print(f"casebook PDF: {seconds / len(books):.2f} s per subject "
              f"({per_subject} events), {sum(sizes) / len(sizes) / 1e3:.0f} kB each")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100,
         int(sys.argv[2]) if len(sys.argv) > 2 else 300)
