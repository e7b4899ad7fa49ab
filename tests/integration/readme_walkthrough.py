"""Run the README's API walkthrough as written: its bash blocks, top to bottom, in one shell.

The walkthrough is the part of README.md between ``<!-- walkthrough -->`` and
``<!-- /walkthrough -->``. Every ```` ```bash ```` block there is joined into one script, run
with ``set -euo pipefail`` against a fresh ``ecrf demo`` + ``ecrf serve``. A ``curl`` wrapper
prepended by the runner (and nothing else) writes each response's status to a side file, so
that every request can be checked: a status of 400 or more fails the walkthrough unless the
README line that sent it ends with ``# expect NNN``.

Usage (what the test does): ``python tests/integration/readme_walkthrough.py [README]``.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SECTION = re.compile(r"<!-- walkthrough -->(.*?)<!-- /walkthrough -->", re.S)
BLOCK = re.compile(r"^```bash\n(.*?)^```", re.S | re.M)
EXPECT = re.compile(r"#\s*expect\s+(\d{3})\s*$")

# The only thing the runner adds: record each request's status, method and URL (curl's
# %{stderr} write-out), leaving the response body on stdout for the README's own commands.
PRELUDE = r"""set -euo pipefail
curl() {
  command curl -w '%{stderr}@@HTTP %{http_code} %{method} %{url_effective}\n' "$@" \
    2> >(tee -a "$WALKTHROUGH_STATUS" >/dev/null)
}
"""


@dataclass(frozen=True)
class Request:
    """One HTTP request the walkthrough made."""

    status: int
    method: str
    url: str


def walkthrough(readme: str) -> str:
    """Return the README's walkthrough as one bash script (its bash blocks, in order)."""
    section = SECTION.search(readme)
    if section is None:
        raise ValueError("README.md has no <!-- walkthrough --> section")
    blocks = BLOCK.findall(section.group(1))
    if not blocks:
        raise ValueError("the walkthrough section has no bash block")
    return "\n".join(blocks)


def expected_failures(script: str) -> list[int]:
    """Statuses of 400 or more that the README announces (``# expect 409``), in order."""
    return [int(m.group(1)) for line in script.splitlines() if (m := EXPECT.search(line))]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ecrf() -> str:
    script = Path(sys.executable).with_name("ecrf")
    return str(script) if script.exists() else "ecrf"


def _wait_for(url: str, server: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"ecrf serve exited with {server.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {seconds} s")


def run(readme_path: Path = ROOT / "README.md", *, timeout: float = 600
        ) -> tuple[subprocess.CompletedProcess, list[Request]]:
    """Seed a fresh demo, serve it, run the walkthrough; return the shell's result and requests."""
    script = walkthrough(readme_path.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory(prefix="ecrf-readme-") as folder:
        work = Path(folder)
        port = _free_port()
        env = {**os.environ, "DATABASE_URL": f"sqlite:///{work / 'ecrf.db'}",
               "ECRF_SECRET_KEY": "readme-walkthrough", "ECRF_INSTANCE_PATH": str(work),
               "API": f"http://127.0.0.1:{port}/api/v1",
               "WALKTHROUGH_STATUS": str(work / "statuses.txt")}
        subprocess.run([_ecrf(), "demo"], env=env, cwd=work, check=True, capture_output=True,
                       timeout=300)
        server = subprocess.Popen([_ecrf(), "serve", "--port", str(port)], env=env, cwd=work,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_for(f"{env['API']}/openapi.json", server)
            result = subprocess.run(["bash", "-c", PRELUDE + script], env=env, cwd=work,
                                    capture_output=True, text=True, timeout=timeout)
        finally:
            server.terminate()
            server.wait(timeout=30)
        status_file = work / "statuses.txt"
        lines = status_file.read_text().splitlines() if status_file.exists() else []
    requests = []
    for line in lines:
        if line.startswith("@@HTTP "):
            _, status, method, url = line.split(" ", 3)
            requests.append(Request(int(status), method, url))
    return result, requests


def failures(script: str, requests: list[Request]) -> list[Request]:
    """Requests that answered 400 or more without the README announcing that status."""
    announced = expected_failures(script)
    bad = []
    for request in requests:
        if request.status >= 400 or request.status == 0:
            if announced and announced[0] == request.status:
                announced.pop(0)
            else:
                bad.append(request)
    return bad


if __name__ == "__main__":  # pragma: no cover - a manual run
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "README.md"
    shell, made = run(path)
    sys.stdout.write(shell.stdout)
    sys.stderr.write(shell.stderr)
    wrong = failures(walkthrough(path.read_text()), made)
    for request in made:
        print(f"{request.status} {request.method} {request.url}")
    sys.exit(1 if shell.returncode or wrong else 0)
