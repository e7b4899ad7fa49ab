"""The independent verification script printed in docs/hash-chain.md works as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from events import NewEvent

DOC = Path(__file__).resolve().parents[2] / "docs" / "hash-chain.md"


def inspector_script(tmp_path: Path) -> Path:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    script = tmp_path / "verify.py"
    script.write_text(blocks[0])
    return script


def url_for_script(database_url: tuple[str, dict]) -> str:
    url, connect_args = database_url
    url = url.replace("postgresql+psycopg://", "postgresql://")
    options = connect_args.get("options")
    return f"{url}?options={options}" if options else url


def run(script: Path, url: str) -> str:
    return subprocess.run([sys.executable, str(script), url], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_the_documented_script_verifies_the_chain_and_finds_a_tampered_row(
        store, database_url, db_kind, tmp_path):
    store.append("ITP-001", [NewEvent("PlateletCountRecorded", {"platelets": 42.0,
                                                                "note": "Zürich ✓"})],
                 expected_version=0)
    store.append("ITP-001", [NewEvent("EntryCorrected", {"changes": {"platelets": 24.0}},
                                      {"reason": "transposed digits"})], expected_version=1)
    store.append("ITP-002", [NewEvent("X", {"n": 1e6})], expected_version=0)
    script = inspector_script(tmp_path)
    url = url_for_script(database_url)
    head = store.head()
    assert run(script, url) == f"OK: 3 events, head hash {head.hash}"

    from tests.contract.test_event_store import tamper

    tamper(store.engine, db_kind, "UPDATE events SET metadata = '{\"reason\":\"typo\"}' "
                                  "WHERE position = 2")
    assert run(script, url) == "BROKEN at position 2"
