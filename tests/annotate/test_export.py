"""The offline page and the embedded-JSON escaping."""

from __future__ import annotations

import json
import re

import pytest

from skillmix.annotate.export import export_html, offline_data
from skillmix.annotate.page import embed_json, render_page
from skillmix.errors import SkillmixError

from .conftest import XSS


@pytest.mark.parametrize("value", [
    "</script><script>alert(1)</script>", "<!--", "a & b > c", "line\u2028sep\u2029", XSS, "naïve “quotes”",
])
def test_embed_json_cannot_close_the_script_block_and_round_trips(value):
    text = embed_json({"answer": value})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"answer": value}


def test_export_is_self_contained_and_escaped(xss_dir, tmp_path):
    out = tmp_path / "offline.html"
    summary = export_html([xss_dir], out, n=5, seed=0)
    html = out.read_text()
    assert summary["texts"] == 5
    plan = json.loads((tmp_path / "offline.plan.json").read_text())
    assert plan["seed"] == 0 and len(plan["texts"]) == 5 and plan["strata"][0]["model"] == "student-a"
    assert "window.pwned" in html and "<script>window.pwned" not in html and "<img" not in html
    assert not re.search(r"""(src|href)=["']?https?:""", html)  # nothing loaded from the network
    block = re.search(r'<script id="skillmix-data" type="application/json">(.*?)</script>', html, re.DOTALL).group(1)
    data = json.loads(block)
    assert data["mode"] == "offline" and len(data["items"]) == 5
    assert all(XSS in item["answer"] for item in data["items"])
    assert "student-a" not in block and str(xss_dir) not in block  # no model names or paths by default


def test_export_is_deterministic_and_writes_nothing_into_the_folder(eval_dir):
    before = sorted(p.name for p in eval_dir.iterdir())
    assert offline_data([eval_dir], 4, 1) == offline_data([eval_dir], 4, 1)
    assert offline_data([eval_dir], 4, 1)["plan_id"] != offline_data([eval_dir], 4, 2)["plan_id"]
    assert sorted(p.name for p in eval_dir.iterdir()) == before


def test_export_needs_an_html_name(eval_dir, tmp_path):
    with pytest.raises(SkillmixError, match=".html"):
        export_html([eval_dir], tmp_path / "x.txt")


def test_page_csp_allows_only_its_own_script():
    html = render_page({"mode": "server"})
    assert "script-src 'sha256-" in html and "unsafe-inline" not in html and "unsafe-eval" not in html
    assert "innerHTML" not in html and "insertAdjacentHTML" not in html and "document.write" not in html
