"""The docs page at /api/v1/docs works offline (#14 item 1): Swagger UI is served by the app
from the pinned swagger-ui-bundle package, and a headless Chromium renders the operations.

The browser test skips only where no Chromium is installed, and says how to install it
(``.ci/run`` installs Debian's ``chromium``, so CI always runs it).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from PIL import Image
from werkzeug.serving import make_server

CHROMIUM = next((shutil.which(name) for name in ("chromium", "chromium-browser",
                                                  "google-chrome") if shutil.which(name)), None)
NO_BROWSER = "no Chromium on this machine: install Debian's chromium (apt-get install chromium)"


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        for name in ("src", "href"):
            if attributes.get(name):
                self.urls.append(attributes[name])
        self._in_script = tag == "script" and not attributes.get("src")

    def handle_data(self, data):
        if self._in_script:
            self.inline_scripts.append(data)

    def handle_endtag(self, tag):
        self._in_script = False


def test_the_docs_page_and_its_assets_come_from_the_app_only(app):
    client = app.test_client()
    page = client.get("/api/v1/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    links = _Links()
    links.feed(page.get_data(as_text=True))
    assert len(links.urls) >= 3
    for url in links.urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, f"{url} is not served by the app"
        with client.get(url) as asset:
            assert asset.status_code == 200, url
            assert asset.mimetype in ("text/css", "text/javascript",
                                      "application/javascript"), url
    with client.get("/assets/swagger-ui/swagger-ui-bundle.js") as bundle:
        assert "SwaggerUIBundle" in bundle.get_data(as_text=True)
    script = "".join(links.inline_scripts)
    assert '"validatorUrl": null' in script  # Swagger UI would otherwise call a public validator
    assert not re.search(r"https?://", script)
    assert client.get("/api/v1/openapi.json").status_code == 200


@pytest.fixture
def live_url(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


def _chromium(*args: str) -> subprocess.CompletedProcess:
    # every host but the app's own is unresolvable: the page must render offline
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                           "--disable-dev-shm-usage", "--no-first-run",
                           "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                           "--virtual-time-budget=20000", *args],
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.skipif(CHROMIUM is None, reason=NO_BROWSER)
def test_headless_chromium_renders_the_operations(live_url, tmp_path):
    dom = _chromium("--dump-dom", f"{live_url}/api/v1/docs")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "SwaggerUIBundle is not defined" not in dom.stdout
    operations = re.findall(r'class="opblock opblock-(get|post)', dom.stdout)
    assert len(operations) > 30, dom.stdout[:3000]
    assert "/api/v1/subjects/{subject_id}/forms/platelet_count" in dom.stdout.replace(
        "\u200b", "")

    shot = tmp_path / "docs.png"
    result = _chromium(f"--screenshot={shot}", "--window-size=1280,1600",
                       f"{live_url}/api/v1/docs")
    assert result.returncode == 0 and shot.exists(), result.stderr[-2000:]
    image = Image.open(shot).convert("RGB")
    colours = image.getcolors(maxcolors=1_000_000) or []
    assert len(colours) > 50  # text, the coloured GET/POST badges: not a blank page
    white = sum(n for n, rgb in colours if min(rgb) > 245)
    assert white < 0.97 * image.width * image.height
    badges = sum(n for n, (r, g, b) in colours if b > 200 and r < 120)  # GET's blue
    assert badges > 500
