"""The annotation server without a browser: token, routes, bad submissions, headers, the CLI."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from skillmix.annotate.server import build_app, is_loopback
from skillmix.annotate.session import open_session
from skillmix.testing.cli import CLI_COMMAND

CLI = list(CLI_COMMAND)


@pytest.fixture
def client(eval_dir):
    from starlette.testclient import TestClient

    session = open_session([eval_dir], "ann", n=6, seed=0)
    return TestClient(build_app(session, "secret-token")), session


@pytest.mark.parametrize("method, path", [
    ("GET", "/"), ("GET", "/?token=wrong"), ("GET", "/?token=secret-toke"), ("GET", "/api/state"),
    ("POST", "/api/label"), ("GET", "/../../etc/passwd"), ("GET", "/static/x.js"), ("GET", "/?TOKEN=secret-token"),
])
def test_every_route_needs_the_token(client, method, path):
    assert client[0].request(method, path).status_code == 403


def test_page_state_and_label(client, eval_dir):
    c, _ = client
    page = c.get("/?token=secret-token")
    assert page.status_code == 200 and "script-src 'sha256-" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"
    state = c.get("/api/state?token=secret-token").json()
    assert len(state["items"]) == 6 and state["start"] == 0 and state["labels"] == {}
    k = state["items"][2]["k"]
    ok = c.post("/api/label?token=secret-token", json={"index": 2, "points": [1] * (k + 3)})
    assert ok.status_code == 200 and ok.json()["saved"] == 1
    assert c.get("/api/state?token=secret-token").json()["labels"] == {"2": ok.json()["points"]}
    assert c.get("/nope?token=secret-token").status_code == 404


@pytest.mark.parametrize("body", [
    "not json", "[1, 2]", json.dumps({"index": 0}), json.dumps({"index": 99, "points": [1, 1, 1, 1]}),
    json.dumps({"index": "../../x", "points": [1, 1, 1, 1]}), json.dumps({"index": 0, "points": [1]}),
])
def test_bad_submissions_are_400_and_write_nothing(client, eval_dir, body):
    c, _ = client
    r = c.post("/api/label?token=secret-token", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]
    assert not (eval_dir / "annotations" / "ann.jsonl").exists()


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("::1", True), ("localhost", True),
                                            ("0.0.0.0", False), ("192.168.1.5", False)])
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_cli_serves_on_loopback_with_a_token(xss_dir):
    proc = subprocess.Popen([*CLI, "annotate", str(xss_dir), "--annotator", "ann", "--n", "5"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = next(m.group(1) for line in proc.stdout if (m := re.search(r"(http://\S+)", line)))
        base, token = url.split("?token=")
        assert base.startswith("http://127.0.0.1:") and len(token) >= 32
        assert _status(url) == 200
        for bad in (base, base + "?token=wrong", base + "api/state", base + "api/state?token=" + token[:-1]):
            assert _status(bad) == 403, bad
    finally:
        proc.kill()
        proc.wait(timeout=10)


@pytest.mark.parametrize("args, match", [
    (["annotate", "{missing}", "--annotator", "ann"], "results.json"),
    (["annotate", "{eval}", "--annotator", "a/b"], "--annotator"),
    (["annotate", "{eval}", "--annotator", "ann", "--n", "0"], "--n"),
    (["annotate", "export", "{eval}", "--out", "{tmp}/x.txt"], ".html"),
    (["annotate", "import", "{tmp}/none.jsonl", "--into", "{eval}"], "does not exist"),
])
def test_cli_bad_input_is_one_line_and_exit_2(eval_dir, tmp_path, args, match):
    filled = [a.format(missing=tmp_path / "missing", eval=eval_dir, tmp=tmp_path) for a in args]
    done = subprocess.run([*CLI, *filled], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2, done.stderr
    assert match in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_cli_export_then_import(eval_dir, tmp_path):
    out = tmp_path / "page.html"
    done = subprocess.run([*CLI, "annotate", "export", str(eval_dir), "--out", str(out), "--n", "3"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0 and out.is_file() and "3 texts" in done.stdout
    data = json.loads(re.search(r'type="application/json">(.*?)</script>', out.read_text(), re.DOTALL).group(1))
    labels = tmp_path / "labels.jsonl"
    labels.write_text("".join(json.dumps({"id": i["id"], "epoch": i["epoch"], "k": i["k"], "annotator": "x",
                                          "points": [0] * (i["k"] + 3), "time": "t",
                                          "answer_sha256": i["answer_sha256"]}) + "\n" for i in data["items"]))
    done = subprocess.run([*CLI, "annotate", "import", str(labels), "--into", str(eval_dir), "--json"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"imported": 3, "skipped_other_texts": 0, "records": 3}


def test_annotate_help_stays_light():
    code = ("import sys\nfrom skillmix.cli import main\nsys.argv=['skillmix','annotate','--help']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('HEAVY', [m for m in ('torch', 'inspect_ai', 'starlette', 'uvicorn') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout and "export" in out.stdout and "import" in out.stdout
