"""The README's API walkthrough runs as written against a fresh demo (issue 14, item 3)."""

from __future__ import annotations

from tests.integration.readme_walkthrough import (
    ROOT,
    Request,
    failures,
    run,
    walkthrough,
)


def test_the_walkthrough_is_extracted_from_the_readme_in_order():
    script = walkthrough((ROOT / "README.md").read_text(encoding="utf-8"))
    assert script.index("login()") < script.index("/forms/platelet_count")
    assert "$ENTRY" not in script.split("ENTRY=")[0]  # every id is defined before its use


def test_a_refused_request_fails_the_walkthrough_unless_announced():
    script = "post $X /a '{}'   # expect 409\nget $X /b\n"
    made = [Request(409, "POST", "/a"), Request(404, "GET", "/b")]
    assert failures(script, made) == [Request(404, "GET", "/b")]


def test_the_readme_walkthrough_runs_top_to_bottom_against_a_fresh_demo():
    shell, requests = run()
    assert shell.returncode == 0, shell.stdout[-3000:] + shell.stderr[-3000:]
    assert len(requests) >= 40
    bad = failures(walkthrough((ROOT / "README.md").read_text(encoding="utf-8")), requests)
    assert bad == [], bad
