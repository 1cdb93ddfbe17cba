"""skillmix audit: agreement against statsmodels/krippendorff/hand tables, corrected metrics, files, errors."""

from __future__ import annotations

import json
from pathlib import Path

import krippendorff
import numpy as np
import pytest
from statsmodels.stats.inter_rater import cohens_kappa
from statsmodels.stats.proportion import proportion_confint

from skillmix.analysis.audit import run_audit
from skillmix.analysis.audit_agreement import effective_graders
from skillmix.analysis.audit_texts import AUDIT_JSON, grader_votes, human_majority
from skillmix.errors import SkillmixError
from skillmix.protocol.metrics import panel_vote
from skillmix.stats.clustered import design_effect
from skillmix.testing.eval_folders import make_record, write_eval_folder

SKILLS = ("metaphor", "hyperbole")
ANSWER = "The striker was a lion on the pitch."  # one sentence: the length check passes at k=2

# 12 texts at k=2: grader's judged points (skill, skill, topic, sense) and two people's labels.
GRADER = [
    (1, 1, 1, 1), (1, 1, 1, 1), (1, 0, 1, 1), (1, 1, 1, 0), (0, 1, 1, 1), (1, 1, 1, 1),
    (1, 1, 0, 1), (1, 1, 1, 1), (0, 0, 1, 1), (1, 1, 1, 1), (1, 1, 1, 1), (1, 1, 1, 1),
]
ALICE = [
    (1, 1, 1, 1), (1, 0, 1, 1), (1, 0, 1, 1), (1, 1, 1, 1), (0, 1, 1, 1), (1, 1, 1, 1),
    (1, 1, 0, 1), (0, 1, 1, 1), (0, 0, 1, 1), (1, 1, 1, 1), (1, 1, None, 1), (1, 1, 1, 1),
]
BOB = [
    (1, 1, 1, 1), (1, 0, 1, 1), (1, 0, 1, 1), (1, 1, 1, 0), (0, 1, 1, 1), (1, 1, 1, 1),
    (1, 1, 0, 1), (1, 1, 1, 1), (0, 0, 1, 1), (1, 1, 1, 1), (1, 1, 1, 1), (1, 1, 0, 1),
]
N_UNANNOTATED = 8


def _vector(judged, length=1):
    return [*judged[:2], judged[2], judged[3], length]


def folder(tmp_path: Path, gradings_per_text=3, config=None) -> Path:
    records = [make_record(f"k2-{i:04d}", 0, SKILLS, "sports", ANSWER, [_vector(g)] * gradings_per_text)
               for i, g in enumerate(GRADER)]
    records += [make_record(f"k2-{i:04d}", 0, SKILLS, "sports", ANSWER, [_vector((1, 1, 1, 1))] * gradings_per_text)
                for i in range(len(GRADER), len(GRADER) + N_UNANNOTATED)]
    return write_eval_folder(tmp_path / "ev", records, config={"generations": 1, "gradings": gradings_per_text,
                                                              "student": "s", "grader": "g", **(config or {})})


def annotation_lines(names=("alice", "bob"), tables=(ALICE, BOB)) -> list[str]:
    lines = []
    for name, table in zip(names, tables, strict=True):
        for i, judged in enumerate(table):
            lines.append(json.dumps({"id": f"k2-{i:04d}", "epoch": 0, "k": 2, "annotator": name,
                                     "points": [*judged, None], "time": "2026-12-01T10:00:00Z"}))
    return lines


def write_lines(path: Path, lines, end="\n") -> Path:
    path.write_text("\n".join(lines) + end, encoding="utf-8")
    return path


def majority_pairs(criteria=range(4)):
    g, h = [], []
    for grader, a, b in zip(GRADER, ALICE, BOB, strict=True):
        for c in criteria:
            m = human_majority([a[c], b[c]])
            if m is not None:
                g.append(grader[c])
                h.append(m)
    return g, h


@pytest.fixture(scope="module")
def audited(run_cli, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("audited")
    ev = folder(tmp_path)
    ann = write_lines(tmp_path / "ann.jsonl", annotation_lines())
    out = run_cli("audit", str(ev), "--annotations", str(ann), "--json")
    assert out.returncode == 0, out.stderr
    return ev, json.loads(out.stdout)


@pytest.mark.parametrize(("values", "expected"), [
    ([1, 1, 0], 1), ([1, 0], None), ([0, 0, 1], 0), ([None, 1], 1), ([None, None], None), ([], None),
    ([1, 0, None], None),
])
def test_human_majority_is_strict_and_unsure_abstains(values, expected):
    assert human_majority(values) == expected


@pytest.mark.parametrize(("votes", "expected"), [
    ([[1, 0, 1], [1, 1, 0], [0, 1, 1]], [1.0, 1.0, 1.0]),
    ([[1, 0], [0, 0]], [None, 0.0]),  # 1-1: no majority, never broken by order
    ([[0, 0], [1, 0]], [None, 0.0]),
    ([[1, 1], None, [1, 0]], [1.0, None]),  # an abstaining grader does not count
    ([None, None], None),
])
def test_panel_vote_table(votes, expected):
    assert panel_vote(votes) == expected


def test_grader_votes_group_by_grader_and_vote_parsed_values():
    gradings = [{"grader": "a", "parsed": [1, 0]}, {"grader": "a", "parsed": [1, 1]}, {"grader": "a", "parsed": [0, 1]},
                {"grader": "b", "parsed": None}]
    assert grader_votes(gradings) == {"a": (1.0, 1.0), "b": None}


def test_json_layout_and_kappa_equal_statsmodels(audited):
    ev, audit = audited
    assert json.loads((ev / AUDIT_JSON).read_text()) == audit
    assert audit["format_version"] == 1
    block = audit["per_k"]["2"]
    for kind in ("naive", "corrected"):
        for metric in ("full_marks", "all_skills"):
            entry = block[kind][metric]
            assert isinstance(entry["value"], float) and len(entry["ci"]) == 2
            assert 0.0 <= entry["ci"][0] <= entry["ci"][1] <= 1.0
    g, h = majority_pairs()
    table = np.zeros((2, 2))
    for x, y in zip(h, g, strict=True):
        table[x, y] += 1
    assert block["kappa"] == pytest.approx(cohens_kappa(table, return_results=False), abs=1e-9)
    assert block["agreement"]["all"]["vs_majority"]["n"] == len(g)


def test_tpr_tnr_wilson_and_confusion_by_hand(audited):
    _, audit = audited
    vm = audit["per_k"]["2"]["agreement"]["all"]["vs_majority"]
    g, h = majority_pairs()
    tp = sum(1 for x, y in zip(g, h, strict=True) if x == 1 and y == 1)
    fn = sum(1 for x, y in zip(g, h, strict=True) if x == 0 and y == 1)
    tn = sum(1 for x, y in zip(g, h, strict=True) if x == 0 and y == 0)
    fp = sum(1 for x, y in zip(g, h, strict=True) if x == 1 and y == 0)
    assert vm["confusion"] == {"tp": tp, "fn": fn, "tn": tn, "fp": fp}
    assert vm["tpr"]["value"] == pytest.approx(tp / (tp + fn), abs=1e-12)
    # The k+2 criteria of one text are not independent: Wilson at the effective size over texts
    # (combinations). Every positive unit agrees, so each text with one counts once.
    texts_with_positive = len({i for i, (a, b) in enumerate(zip(ALICE, BOB, strict=True))
                               if any(human_majority([x, y]) == 1 for x, y in zip(a, b, strict=True))})
    assert vm["tpr"]["ci"] == pytest.approx(proportion_confint(texts_with_positive, texts_with_positive,
                                                               method="wilson"), abs=1e-9)
    neg = [(int(grader[c] == 0), i) for i, (grader, a, b) in enumerate(zip(GRADER, ALICE, BOB, strict=True))
           for c in range(4) if human_majority([a[c], b[c]]) == 0]
    deff = design_effect([x for x, _ in neg], [i for _, i in neg])
    assert deff > 1
    assert vm["tnr"]["ci"] == pytest.approx(proportion_confint(tn / deff, (tn + fp) / deff, method="wilson"), abs=1e-9)
    assert vm["tpr"]["n"] == tp + fn and vm["tnr"]["n"] == tn + fp


def test_alpha_equals_krippendorff_package(audited):
    _, audit = audited
    rows = [[float(t[c]) if t[c] is not None else np.nan for t in table for c in range(4)]
            for table in (GRADER, ALICE, BOB)]
    expected = krippendorff.alpha(reliability_data=rows, level_of_measurement="nominal")
    assert audit["per_k"]["2"]["agreement"]["all"]["alpha_with_grader"] == pytest.approx(expected, abs=1e-9)
    humans = krippendorff.alpha(reliability_data=rows[1:], level_of_measurement="nominal")
    assert audit["pooled"]["all"]["alpha_humans"] == pytest.approx(humans, abs=1e-9)


def test_topic_kappa_vs_each_human_equals_statsmodels(audited):
    _, audit = audited
    for name, table in (("alice", ALICE), ("bob", BOB)):
        pairs = [(t[2], g[2]) for t, g in zip(table, GRADER, strict=True) if t[2] is not None]
        counts = np.zeros((2, 2))
        for x, y in pairs:
            counts[x, y] += 1
        got = audit["per_k"]["2"]["agreement"]["topic"]["vs_each"][name]["kappa"]
        assert got == pytest.approx(cohens_kappa(counts, return_results=False), abs=1e-9)


def test_naive_and_calibration_counts_by_hand(audited):
    _, audit = audited
    block = audit["per_k"]["2"]
    grader_fm = [int(all(g)) for g in GRADER] + [1] * N_UNANNOTATED
    assert block["naive"]["full_marks"]["value"] == pytest.approx(sum(grader_fm) / len(grader_fm), abs=1e-12)
    # One text per combination: Wilson at Korn & Graubard's effective size (n - 1)(z / t_{n-1})^2.
    from scipy.stats import norm, t

    n = len(grader_fm)
    size = (n - 1) * (norm.ppf(0.975) / t.ppf(0.975, n - 1)) ** 2
    assert block["naive"]["full_marks"]["ci"] == pytest.approx(
        proportion_confint(sum(grader_fm) / n * size, size, method="wilson"), abs=1e-9)
    cal = block["calibration"]["full_marks"]
    expected = {"tp": 0, "fn": 0, "tn": 0, "fp": 0}
    for g, a, b in zip(GRADER, ALICE, BOB, strict=True):
        maj = [human_majority([x, y]) for x, y in zip(a, b, strict=True)]
        if None in maj:
            continue  # left out of the Full Marks calibration
        key = {(1, 1): "tp", (1, 0): "fn", (0, 0): "tn", (0, 1): "fp"}[(int(all(maj)), int(all(g)))]
        expected[key] += 1
    assert {k: cal[k] for k in expected} == expected


def test_outputs_written_and_flags(audited):
    ev, audit = audited
    for name in ("audit.json", "audit.md", "audit_full_marks.png", "audit_all_skills.png"):
        assert (ev / name).stat().st_size > 0
    assert (ev / "audit_full_marks.png").read_bytes()[:4] == b"\x89PNG"
    assert "Grader validity" in (ev / "audit.md").read_text()
    flags = {f["flag"] for f in audit["flags"]}
    assert "identical_gradings" in flags  # J copies of one reply
    assert "too_few_annotations" in flags  # 12 texts cannot give a +-0.1 interval


def test_grader_equal_to_student_is_flagged(tmp_path):
    ev = folder(tmp_path, config={"student": "openai/gpt-4", "grader": "openai/gpt-4"})
    (ev / "annotations").mkdir()
    write_lines(ev / "annotations" / "alice.jsonl", annotation_lines(("alice",), (ALICE,)))
    (audit,) = run_audit([ev])
    assert "grader_is_student" in {f["flag"] for f in audit["flags"]}


def test_malformed_middle_line_is_exit_2_and_writes_nothing(run_cli, tmp_path):
    ev = folder(tmp_path)
    lines = annotation_lines()
    lines.insert(3, '{"id": "k2-0001", "epoch": 0')
    ann = write_lines(tmp_path / "bad.jsonl", lines)
    before = sorted(p.name for p in ev.iterdir())
    out = run_cli("audit", str(ev), "--annotations", str(ann), "--json")
    assert out.returncode == 2
    assert out.stderr.startswith("error:") and len(out.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in ev.iterdir()) == before


def test_truncated_last_line_is_ignored_with_a_warning(tmp_path):
    ev = folder(tmp_path)
    lines = annotation_lines()
    ann = write_lines(tmp_path / "ann.jsonl", [*lines, lines[-1][:25]], end="")
    with pytest.warns(UserWarning, match="truncated"):
        (audit,) = run_audit([ev], [ann])
    assert audit["n_annotations"] == len(lines)


def test_annotation_of_an_unknown_text_or_a_wrong_hash_is_refused(tmp_path):
    ev = folder(tmp_path)
    stray = json.dumps({"id": "k9-0000", "epoch": 0, "k": 2, "annotator": "x", "points": [1, 1, 1, 1, None],
                        "time": "t"})
    with pytest.raises(SkillmixError, match="matches no text"):
        run_audit([ev], [write_lines(tmp_path / "a.jsonl", [stray])])
    wrong = json.dumps({"id": "k2-0000", "epoch": 0, "k": 2, "annotator": "x", "points": [1, 1, 1, 1, None],
                        "time": "t", "answer_sha256": "0" * 64})
    with pytest.raises(SkillmixError):
        run_audit([ev], [write_lines(tmp_path / "b.jsonl", [wrong])])
    assert not (ev / AUDIT_JSON).exists()


def test_no_annotations_is_a_user_error(tmp_path):
    with pytest.raises(SkillmixError, match="no annotations"):
        run_audit([folder(tmp_path)])


def test_panel_report_per_grader_kappa_fleiss(tmp_path):
    from statsmodels.stats.inter_rater import fleiss_kappa

    rng = np.random.default_rng(0)
    records, truth_rows = [], []
    for i in range(30):
        truth = [int(x) for x in rng.random(4) < 0.7]
        votes = {name: [t if rng.random() > err else 1 - t for t in truth] for name, err in
                 (("a", 0.1), ("b", 0.2), ("c", 0.3))}
        rec = make_record(f"k2-{i:04d}", 0, SKILLS, "sports", ANSWER, [_vector(v) for v in votes.values()])
        for grading, name in zip(rec["gradings"], votes, strict=True):
            grading["grader"] = name
        records.append(rec)
        truth_rows.append((truth, votes))
    ev = write_eval_folder(tmp_path / "panel", records, config={"generations": 1, "gradings": 1, "student": "s",
                                                                "grader": "a,b,c"})
    lines = [json.dumps({"id": f"k2-{i:04d}", "epoch": 0, "k": 2, "annotator": "h", "points": [*t, None],
                         "time": "t"}) for i, (t, _) in enumerate(truth_rows)]
    (audit,) = run_audit([ev], [write_lines(tmp_path / "h.jsonl", lines)])
    panel = audit["panel"]
    assert panel["graders"] == ["a", "b", "c"]
    counts = [[sum(v[n][c] for n in v), 3 - sum(v[n][c] for n in v)] for _, v in truth_rows for c in range(4)]
    assert panel["fleiss_kappa"] == pytest.approx(fleiss_kappa(counts, method="fleiss"), abs=1e-9)
    pairs = np.zeros((2, 2))
    for _, v in truth_rows:
        for c in range(4):
            pairs[v["a"][c], v["b"][c]] += 1
    assert panel["pairwise_kappa"]["a | b"] == pytest.approx(cohens_kappa(pairs, return_results=False), abs=1e-9)
    errors = np.array([[int(v[n][c] != t[c]) for t, v in truth_rows for c in range(4)] for n in "abc"], float)
    rho = np.corrcoef(errors)[np.triu_indices(3, k=1)].mean()
    assert panel["error_correlation"] == pytest.approx(rho, abs=1e-9)
    assert panel["effective_graders"] == pytest.approx(effective_graders(3, rho), abs=1e-12)
    # Three binary votes always have a strict majority: every text is scored by the panel.
    assert audit["per_k"]["2"]["n_scored"] == 30


@pytest.mark.parametrize(("m", "rho", "expected"), [(3, 0.0, 3.0), (3, 1.0, 1.0), (4, 0.5, 1.6), (3, -0.2, 3.0)])
def test_effective_graders_table(m, rho, expected):
    assert effective_graders(m, rho) == pytest.approx(expected, abs=1e-12)


def test_g_greater_than_one_reports_per_text_and_per_combination(tmp_path):
    records = []
    for i, g in enumerate(GRADER):
        records.append(make_record(f"k2-{i // 2:04d}", i % 2, SKILLS, "sports", ANSWER, [_vector(g)] * 3))
    ev = write_eval_folder(tmp_path / "g2", records, config={"generations": 2, "gradings": 3})
    lines = []
    for i, judged in enumerate(ALICE):
        lines.append(json.dumps({"id": f"k2-{i // 2:04d}", "epoch": i % 2, "k": 2, "annotator": "alice",
                                 "points": [*judged, None], "time": "t"}))
    (audit,) = run_audit([ev], [write_lines(tmp_path / "a.jsonl", lines)], n_boot=50)
    block = audit["per_k"]["2"]
    assert block["generations"] == 2 and block["unit"] == "text"
    fm = [int(all(g)) for g in GRADER]
    best = [max(fm[i], fm[i + 1]) for i in range(0, len(fm), 2)]
    assert block["naive_per_combination"]["full_marks"]["value"] == pytest.approx(sum(best) / len(best), abs=1e-12)
    assert "corrected_per_combination" in block


def test_grader_equal_to_people_on_every_text_corrects_to_the_naive_rate(tmp_path):
    records = [make_record(f"k2-{i:04d}", 0, SKILLS, "sports", ANSWER, [_vector(g)] * 3) for i, g in enumerate(GRADER)]
    ev = write_eval_folder(tmp_path / "same", records, config={"generations": 1, "gradings": 3})
    lines = annotation_lines(("alice",), (GRADER,))
    (audit,) = run_audit([ev], [write_lines(tmp_path / "a.jsonl", lines)], n_boot=50)
    block = audit["per_k"]["2"]
    for metric in ("full_marks", "all_skills"):
        naive, corrected = block["naive"][metric], block["corrected"][metric]
        assert corrected["value"] == pytest.approx(naive["value"], abs=1e-12)
        assert corrected["ci"][0] <= corrected["value"] <= corrected["ci"][1]
    assert block["kappa"] == pytest.approx(1.0, abs=1e-12)


def test_report_hook_renders_the_section_only_with_annotations(tmp_path):
    from skillmix.analysis.audit_section import validity_section_for

    ev = folder(tmp_path)
    assert validity_section_for(ev) is None
    (ev / "annotations").mkdir()
    write_lines(ev / "annotations" / "alice.jsonl", annotation_lines(("alice",), (ALICE,)))
    section = validity_section_for(ev)
    assert section.startswith("## Grader validity") and "| 2 | full_marks |" in section
    assert "| naive, per text |" in section and "| corrected, best of G per combination |" in section
    assert not (ev / AUDIT_JSON).exists()  # the hook writes nothing


def test_several_folders_get_their_own_records(tmp_path):
    a, b = folder(tmp_path / "a"), folder(tmp_path / "b")
    lines = annotation_lines(("alice",), (ALICE,))
    extra = json.dumps({"id": "k2-0000", "epoch": 0, "k": 2, "annotator": "bob", "points": [1, 1, 1, 1, None],
                        "time": "t", "answer_sha256": "0" * 64})  # fits neither folder's answer
    with pytest.raises(SkillmixError, match="matches no text"):
        run_audit([a, b], [write_lines(tmp_path / "x.jsonl", [*lines, extra])], n_boot=20)
    audits = run_audit([a, b], [write_lines(tmp_path / "y.jsonl", lines)], n_boot=20)
    assert [x["n_annotations"] for x in audits] == [len(lines), len(lines)]
    assert (a / AUDIT_JSON).exists() and (b / AUDIT_JSON).exists()


def test_panel_hook_without_annotations(tmp_path):
    from skillmix.analysis.audit_section import panel_for

    records = []
    for i, g in enumerate(GRADER):
        rec = make_record(f"k2-{i:04d}", 0, SKILLS, "sports", ANSWER, [_vector(g), _vector(g), _vector((0, 0, 0, 0))])
        for grading, name in zip(rec["gradings"], ("a", "b", "s"), strict=True):
            grading["grader"] = name
        records.append(rec)
    ev = write_eval_folder(tmp_path / "p", records, config={"generations": 1, "gradings": 1, "student": "s",
                                                            "grader": "a,b,s"})
    panel = panel_for(ev)
    assert panel["roles_on_panel"] == {"student": "s"}
    assert panel["error_correlation"] is None and panel["effective_graders"] is None  # needs annotations
    assert panel["pairwise_kappa"]["a | b"] == pytest.approx(1.0, abs=1e-12)
    fm = sum(all(g) for g in GRADER) / len(GRADER)
    assert panel["per_grader"]["a"]["2"]["full_marks"] == pytest.approx(fm, abs=1e-12)
    assert panel["per_grader"]["s"]["2"]["full_marks"] == 0.0
    assert panel_for(folder(tmp_path / "single")) is None


def test_report_has_a_grader_validity_section_only_with_annotations(tmp_path):
    from skillmix.analysis.report import build_report

    ev = folder(tmp_path / "run" / "eval")
    plain = build_report(tmp_path / "run", tmp_path / "plain")
    assert plain["grader_validity"] == {}
    assert "# Grader validity" not in (tmp_path / "plain" / "report.md").read_text()
    (ev / "annotations").mkdir()
    write_lines(ev / "annotations" / "alice.jsonl", annotation_lines(("alice",), (ALICE,)))
    report = build_report(tmp_path / "run", tmp_path / "annotated")
    (entry,) = report["grader_validity"].values()
    alone = run_audit([ev], [], n_boot=entry["n_boot"])[0]
    assert entry["per_k"]["2"]["kappa"] == pytest.approx(alone["per_k"]["2"]["kappa"], abs=1e-12)
    assert str(tmp_path) not in json.dumps(entry)  # no absolute path: the report stays portable
    md = (tmp_path / "annotated" / "report.md").read_text()
    assert "# Grader validity" in md and "| 2 | full_marks |" in md


def _copies_folder(tmp_path: Path, name: str, copies: int) -> tuple[Path, Path]:
    """The fixture evaluation with each text repeated ``copies`` times as generations of its combination."""
    texts = [*GRADER, *[(1, 1, 1, 1)] * N_UNANNOTATED]
    records = [make_record(f"k2-{i:04d}", e, SKILLS, "sports", ANSWER, [_vector(g)] * 3)
               for i, g in enumerate(texts) for e in range(copies)]
    ev = write_eval_folder(tmp_path / name, records, config={"generations": copies, "gradings": 3})
    lines = [json.dumps({"id": f"k2-{i:04d}", "epoch": e, "k": 2, "annotator": who, "points": [*judged, None],
                         "time": "t"})
             for who, table in (("alice", ALICE), ("bob", BOB)) for i, judged in enumerate(table) for e in range(copies)]
    return ev, write_lines(tmp_path / f"{name}.jsonl", lines)


def test_identical_copies_of_each_combination_give_the_intervals_of_one(tmp_path):
    """The combination is the unit: G = 3 identical copies are as wide as G = 1, within 10%."""
    ev, ann = _copies_folder(tmp_path, "one", 1)
    (one,) = run_audit([ev], [ann], n_boot=20)
    ev, ann = _copies_folder(tmp_path, "three", 3)
    (three,) = run_audit([ev], [ann], n_boot=20)
    a, b = one["per_k"]["2"], three["per_k"]["2"]
    assert b["n_scored"] == 3 * a["n_scored"] and b["naive"]["full_marks"]["n_combinations"] == a["n_scored"]
    for kind in ("naive", "corrected", "ppi"):
        for metric in ("full_marks", "all_skills"):
            x, y = a[kind][metric], b[kind][metric]
            assert y["value"] == pytest.approx(x["value"], abs=1e-12)
            width = x["ci"][1] - x["ci"][0]
            assert width > 0 and y["ci"][1] - y["ci"][0] == pytest.approx(width, rel=0.10), (kind, metric)
    for rate in ("sensitivity", "specificity"):
        x, y = a["calibration"]["full_marks"][rate], b["calibration"]["full_marks"][rate]
        assert y["n"] == 3 * x["n"] > 0 and y["value"] == pytest.approx(x["value"], abs=1e-12)
        assert y["ci"][1] - y["ci"][0] == pytest.approx(x["ci"][1] - x["ci"][0], rel=0.10), rate


def test_terminal_summary_says_per_text_and_best_of_g(run_cli, tmp_path):
    ev, ann = _copies_folder(tmp_path, "three", 3)
    out = run_cli("audit", str(ev), "--annotations", str(ann))
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stdout.splitlines() if "Full Marks" in line]
    assert len(lines) == 2
    assert "Full Marks per text: naive 0.750" in lines[0]  # 15 of 20 combinations, each copied 3 times
    assert "Full Marks best of G=3 (as in the report): naive 0.750" in lines[1]
