"""The annotation page driven in real headless Chromium (Debian's /usr/bin/chromium via Playwright).

The server runs as ``python -m skillmix annotate ...`` in a subprocess, exactly
as a user starts it, so killing it with SIGKILL is a real crash.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
import warnings
from pathlib import Path

import pytest

from skillmix.formats.annotations import answer_sha256, read_annotation_file

from .conftest import XSS

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

sync_api = pytest.importorskip("playwright.sync_api", reason="the browser tests need the playwright package")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"the browser tests need Debian's chromium at {CHROMIUM}"),
]


class Server:
    def __init__(self, *args: str):
        self.proc = subprocess.Popen([sys.executable, "-m", "skillmix", "annotate", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.url = self._read_url()

    def _read_url(self) -> str:
        for line in self.proc.stdout:  # the server prints its URL before it serves
            m = re.search(r"(http://\S+\?token=\S+)", line)
            if m:
                return m.group(1)
        raise AssertionError(f"no URL printed; stderr: {self.proc.stderr.read()}")

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.kill()


@pytest.fixture
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def _open(browser, url: str, **context):
    page = browser.new_context(**context).new_page()
    page.goto(url)
    page.wait_for_selector("#criteria tr")
    return page


def _rows(page) -> list[str]:
    return page.eval_on_selector_all("#criteria tr", "rows => rows.map(r => r.dataset.crit)")


def _saved(page, n: int, total: int) -> None:
    # expect() polls without eval, which the page's Content-Security-Policy forbids.
    sync_api.expect(page.locator("#progress")).to_have_text(f"{n} / {total} labelled")


def _records(folder: Path) -> list:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a complete file: no truncated line may be skipped
        return read_annotation_file(folder / "annotations" / "ann.jsonl")


def test_annotate_resume_xss_and_kill(xss_dir, browser):
    server = Server(str(xss_dir), "--annotator", "ann", "--n", "5", "--seed", "3")
    try:
        page = _open(browser, server.url)
        _saved(page, 0, 5)
        # Text 1 by clicking: yes to every judged criterion but "unsure" on the last one.
        crits = _rows(page)
        for c in crits[:-1]:
            page.click(f"button[data-crit='{c}'][data-value='1']")
        page.click(f"button[data-crit='{crits[-1]}'][data-value='u']")
        page.click("#save")
        _saved(page, 1, 5)
        # Text 2 by keys: 0 then 1s, Enter saves.
        n_crit = len(_rows(page))
        page.keyboard.press("0")
        for _ in range(n_crit - 1):
            page.keyboard.press("1")
        page.keyboard.press("Enter")
        _saved(page, 2, 5)
        # Text 3: keys, with "n" and "u".
        n_crit = len(_rows(page))
        for key in (["n"] + ["u"] * (n_crit - 1)):
            page.keyboard.press(key)
        page.keyboard.press("Enter")
        _saved(page, 3, 5)

        # The XSS payload in every answer is shown as text and never runs.
        assert page.evaluate("window.pwned") is None
        assert page.eval_on_selector_all("#answer *", "els => els.length") == 0
        assert XSS in page.text_content("#answer")
        # The escaping alone keeps it inert: the same with the Content-Security-Policy switched off.
        unguarded = _open(browser, server.url, bypass_csp=True)
        assert unguarded.evaluate("window.pwned") is None
        assert unguarded.eval_on_selector_all("#answer *", "els => els.length") == 0
        unguarded.close()

        records = _records(xss_dir)
        assert len(records) == 3
        state = json.loads(urllib.request.urlopen(server.url.replace("/?", "/api/state?")).read())
        answers = {i["index"]: i for i in state["items"]}
        first, second, third = records
        assert first.points[:first.k] + (first.points[first.k],) == (1,) * first.k + (1,)
        assert first.points[first.k + 1] is None  # "makes sense" left unsure
        assert second.points[0] == 0 and all(p == 1 for p in second.points[1:second.k + 2])
        assert third.points[0] == 0 and all(p is None for p in third.points[1:third.k + 2])
        for i, r in enumerate(records):
            assert (r.annotator, r.epoch) == ("ann", 1)
            assert r.points[r.k + 2] == answers[i]["length_ok"]  # the programmatic length check
            assert r.answer_sha256 == answer_sha256(answers[i]["answer"])

        # Reload: resumes at the first unlabelled text; Back shows the saved labels of text 3.
        page.reload()
        page.wait_for_selector("#criteria tr")
        _saved(page, 3, 5)
        assert page.text_content("#position") == "Text 4 of 5"
        page.keyboard.press("ArrowLeft")
        assert page.text_content("#position") == "Text 3 of 5"
        pressed = page.eval_on_selector_all("button[aria-pressed='true']", "bs => bs.map(b => b.dataset.value)")
        assert pressed == ["0"] + ["u"] * (len(pressed) - 1)
        page.keyboard.press("ArrowRight")

        # Save a fourth text, then crash the server: everything reported saved is on disk.
        n_crit = len(_rows(page))
        for _ in range(n_crit):
            page.keyboard.press("y")
        page.keyboard.press("Enter")
        _saved(page, 4, 5)
        server.kill()
        assert len(_records(xss_dir)) == 4

        # A restarted server resumes at text 5, and a second annotator gets a separate file.
        server = Server(str(xss_dir), "--annotator", "ann", "--n", "5", "--seed", "3")
        page.goto(server.url)
        page.wait_for_selector("#criteria tr")
        _saved(page, 4, 5)
        assert page.text_content("#position") == "Text 5 of 5"
        assert page.evaluate("window.pwned") is None
        page.close()
    finally:
        server.stop()


def test_offline_page_labels_download_and_import(xss_dir, tmp_path, browser):
    out = tmp_path / "offline.html"
    done = subprocess.run([sys.executable, "-m", "skillmix", "annotate", "export", str(xss_dir), "--out", str(out),
                           "--n", "5"], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    page = browser.new_context(accept_downloads=True).new_page()
    page.goto(out.as_uri())
    page.wait_for_selector("#criteria tr")
    page.fill("#annotator-name", "offline-ann")
    page.press("#annotator-name", "Tab")
    for _ in range(2):
        for _ in range(len(_rows(page))):
            page.keyboard.press("1")
        page.keyboard.press("Enter")
    _saved(page, 2, 5)
    assert page.evaluate("window.pwned") is None
    page.reload()  # labels survive a reload in the browser's storage
    page.fill("#annotator-name", "offline-ann")
    page.press("#annotator-name", "Tab")
    _saved(page, 2, 5)
    with page.expect_download() as download:
        page.click("#download")
    labels = tmp_path / "labels.jsonl"
    download.value.save_as(labels)
    imported = subprocess.run([sys.executable, "-m", "skillmix", "annotate", "import", str(labels), "--into",
                               str(xss_dir)], capture_output=True, text=True, timeout=120, check=False)
    assert imported.returncode == 0, imported.stderr
    records = read_annotation_file(xss_dir / "annotations" / "offline-ann.jsonl")
    assert len(records) == 2 and all(all(p == 1 for p in r.points[:r.k + 2]) for r in records)


def test_grader_hidden_by_default_and_shown_on_request(eval_dir, browser):
    for flag, visible in (([], False), (["--show-grader"], True)):
        server = Server(str(eval_dir), "--annotator", "ann", "--n", "2", *flag)
        try:
            page = _open(browser, server.url)
            assert page.is_visible("#grader") is visible
            assert ("student-a" in page.content()) is visible
            page.close()
        finally:
            server.stop()
