"""`ecrf serve` stopped by SIGTERM (what a service manager sends) exits cleanly: the requests
it answered all have their line in the request log, although the log is written in batches
by a thread of its own (ecrf/request_log.py), the last write is witnessed, and the exit
status is 0. Before, SIGTERM killed the process where it stood. Both databases."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.error
import urllib.request

from ecrf.accounts.service import create_user
from events import EventStore, event_metadata
from tests.api.conftest import PASSWORD
from tests.integration.readme_walkthrough import _ecrf, _free_port, _wait_for
from tests.integration.test_two_servers import ROOT, server_url


def test_sigterm_writes_every_log_line_witnesses_the_last_write_and_exits_0(
        database_url, engine, signer, tmp_path):
    with event_metadata(actor="test", role="system"):
        create_user(EventStore(engine, signer=signer), "staff", PASSWORD, "site_staff",
                    ["SITE-01"])
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api/v1"
    stderr = tmp_path / "stderr.txt"
    env = {**os.environ, "DATABASE_URL": server_url(database_url), "PYTHONPATH": str(ROOT),
           "ECRF_SECRET_KEY": "serve-stop-secret", "ECRF_INSTANCE_PATH": str(tmp_path),
           "ECRF_WITNESS_FILE": str(tmp_path / "checkpoints.jsonl")}
    with stderr.open("w") as err:
        server = subprocess.Popen([_ecrf(), "serve", "--port", str(port), "--threads", "4"],
                                  cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=err)
        try:
            _wait_for(f"{api}/openapi.json", server)
            ids = [f"stop-test-{n}" for n in range(25)]
            for request_id in ids:  # answered (401: no token), each with its own id
                request = urllib.request.Request(f"{api}/forms",
                                                 headers={"X-Request-Id": request_id})
                try:
                    urllib.request.urlopen(request, timeout=30)
                except urllib.error.HTTPError as refused:
                    assert refused.code == 401
            login = urllib.request.Request(  # a write: LoginSucceeded is appended
                f"{api}/auth/token", method="POST", headers={"Content-Type": "application/json"},
                data=json.dumps({"username": "staff", "password": PASSWORD}).encode())
            with urllib.request.urlopen(login, timeout=30) as reply:
                assert reply.status == 200
            server.send_signal(signal.SIGTERM)  # at once: the last lines are still queued
            status = server.wait(timeout=60)
        finally:
            if server.poll() is None:  # pragma: no cover - only when the test fails
                server.kill()
                server.wait()
    assert status == 0
    logged = [json.loads(line) for line in stderr.read_text().splitlines()
              if line.startswith('{"ts"')]
    assert [x["request_id"] for x in logged if x["request_id"] in ids] == ids
    assert {x["status"] for x in logged if x["request_id"] in ids} == {401}
    head = EventStore(engine).head()
    last = json.loads((tmp_path / "checkpoints.jsonl").read_text().splitlines()[-1])
    assert (last["position"], last["hash"]) == (head.position, head.hash)
    assert EventStore(engine).read_all(head.position - 1)[0].type == "LoginSucceeded"
