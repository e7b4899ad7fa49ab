"""The independent verification script printed in docs/hash-chain.md works as written."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from events import NewEvent
from events.checkpoints import receipt_for

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


def run_script(script: Path, url: str, *files: str) -> str:
    """Run the documented script; its exit status says the same as its output (0 only OK)."""
    done = subprocess.run([sys.executable, str(script), url, *files], capture_output=True,
                          text=True, timeout=120)
    out = done.stdout.strip()
    assert done.returncode == (0 if out.startswith("OK") else 1), (done.returncode, out,
                                                                   done.stderr[-2000:])
    return out


def test_the_documented_script_verifies_the_chain_and_finds_a_tampered_row(
        store, database_url, db_kind, tmp_path):
    store.append("ITP-001", [NewEvent("PlateletCountRecorded", {"platelets": 42.0,
                                                                "note": "Zürich ✓"})],
                 expected_version=0)
    second = store.append("ITP-001", [NewEvent("EntryCorrected", {"changes": {"platelets": 24.0}},
                                      {"reason": "transposed digits"})], expected_version=1)
    store.append("ITP-002", [NewEvent("X", {"n": 1e6})], expected_version=0)
    script = inspector_script(tmp_path)
    url = url_for_script(database_url)
    public = tmp_path / "server.pub.pem"
    public.write_text(store.signer.public_pem)
    receipt = tmp_path / "receipt.json"
    receipt.write_text(json.dumps(receipt_for(second[0], store.signer)))
    head = store.head()
    assert run_script(script, url, str(public), str(receipt)) == \
        f"OK: 3 events, head hash {head.hash}"
    assert run_script(script, url).startswith("BROKEN at position 1: signature")

    from tests.contract.test_event_store import tamper

    tamper(store.engine, db_kind, "UPDATE events SET metadata = '{\"reason\":\"typo\"}' "
                                  "WHERE position = 2")
    assert run_script(script, url, str(public)) == "BROKEN at position 2: hash does not match"
