"""Small reference-layout folders written by the tests themselves (the reference code's file shapes)."""

from __future__ import annotations

import csv
from pathlib import Path

GRADER_PROMPT = ("Greetings! ... The student's answer was: \"{answer}\"\n\n... Each criterion is worth 1 point. "
                 "The criteria are: {criteria}. The table should only have the following columns: ...")


def table(values, labels, total=None) -> str:
    """A grader reply with a rubric table; ``total`` is the stated Total row (None: the row sum)."""
    rows = [f"| {label} | {v} |" for label, v in zip(labels, values)]
    stated = sum(values) if total is None else total
    return "\n".join(["Here's the grading table:", "| Criteria | Points Earned |", "|---|---|", *rows,
                      f"| Total Points Earned | {stated} |", "", "Explanation: fine."])


def criteria(skills, topic, k) -> list[str]:
    limit = {1: "one sentence", 2: "one sentence", 3: "two sentences", 4: "three sentences"}[k]
    return [f"Correctly illustrates {s.lower()}" for s in skills] + [f"Pertains to {topic}", "Text makes sense",
                                                                      f"At most {limit}"]


def write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=columns, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def student_rows(rows, layout=("user", "assistant")):
    """records.csv rows of the student; each row: (skills, topic, answer)."""
    u, a = layout
    out = []
    for skills, topic, answer in rows:
        out.append({"k": len(skills), "skills": ", \n".join(skills), "topic": topic, "system prompt": "",
                    f"{u}_0": f"Write about {topic}.", f"{a}_0": f"Answer: draft about {topic}\nExplanation: x",
                    "text_0": f"draft about {topic}", f"{u}_1": "Improve it.",
                    f"{a}_1": f"Answer: {answer}\nExplanation: y", "text_1": answer})
    return out


def student_columns(layout=("user", "assistant")) -> list[str]:
    u, a = layout
    return ["k", "skills", "topic", "system prompt", f"{u}_0", f"{a}_0", "text_0", f"{u}_1", f"{a}_1", "text_1"]


GRADED_COLUMNS = ["k", "skills", "topic", "system prompt", "user_0", "assistant_0", "score_extracted_0", "points_0",
                  "num_sentences_manual_in_student_answer_0", "true_sentence_lim_pt_0"]


def graded_rows(rows, replies, points, length=None, prompt_criteria=True):
    """Graded records.csv rows: ``replies[i]`` and ``points[i]`` (the reference's points_0 text) of row i."""
    out = []
    for i, ((skills, topic, answer), reply, pts) in enumerate(zip(rows, replies, points)):
        items = ", ".join(criteria(skills, topic, len(skills))) if prompt_criteria else ""
        out.append({"k": len(skills), "skills": ",  \n".join(skills), "topic": topic, "system prompt": "x",
                    "user_0": GRADER_PROMPT.format(answer=answer, criteria=items), "assistant_0": reply,
                    "score_extracted_0": sum(float(p) for p in pts.split(",") if p) if pts else 0,
                    "points_0": pts, "num_sentences_manual_in_student_answer_0": 1,
                    "true_sentence_lim_pt_0": 1.0 if length is None else length[i]})
    return out


def write_round(root: Path, k: int, rnd: int, student: str, rows, gradings, *, layout=("user", "assistant"),
                seed: int = 10, variant: str = "default", grader: str = "gpt-4") -> Path:
    """One round folder; ``gradings`` is a list (one per j) of graded rows."""
    folder = root / f"k{k}_s{seed}_v{variant}_r{rnd}" / student
    write_csv(folder / "records.csv", student_columns(layout), student_rows(rows, layout))
    for j, grows in enumerate(gradings, start=1):
        write_csv(folder / "graded" / f"by_{grader}_on_text_1_{j}_gpt" / "records.csv", GRADED_COLUMNS, grows)
    return folder
