"""`skillmix report` on a paper-size run folder (docs/performance.md "Reports at scale").

Synthesizes (no model runs) 3 models x 3 settings x k=1..5 with 500 combinations each, answers varying per generation,
3 generations and 3 gradings per generation: 9 evaluation folders, 67,500 generations,
202,500 gradings, in the format `skillmix eval` writes (skillmix.testing.eval_folders).
Then runs the real CLI `skillmix report RUN` in a subprocess and reports its wall time, CPU time,
the peak RSS of the report process, and the peaks of RSS and PSS summed over it and its forked
workers (targets: <= 30 s, <= 1 GB).

    python benchmarks/bench_report_scale.py [--combinations 500] [--keep DIR] [--reuse] [--label now]
                                            [--doc docs/performance.md]

--reuse times an existing --keep folder again without re-synthesizing it (same seed: same folder).
The table goes between the ``<!-- bench_scale:report-LABEL -->`` markers of the doc.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from skillmix.protocol.catalog import load_catalog
from skillmix.testing.eval_folders import make_record, write_eval_folder

MODELS = {"original": 0.35, "ft-D1": 0.5, "ft-D12": 0.6}  # chance each rubric point is awarded
SETTINGS = {"I": ("train", "train"), "II": ("heldout", "heldout"), "III": ("all", "all")}
KS, GENERATIONS, GRADINGS = (1, 2, 3, 4, 5), 3, 3
# Answers vary from generation to generation, as real ones do: 1 to k sentences (so some break the
# sentence limit), everyday words that the format checks look for ("shows", "uses", "contains"),
# and now and then a skill's own name (the name penalty) or an explanation left in the answer.
SENTENCES = (
    "The river kept its counsel, and the town learned patience from it.",
    "Every vote, like a seed, shows its worth only after the long winter.",
    "She uses the old map because the new roads still forget the hills.",
    "If the council had listened, the bridge would still be standing today.",
    "Nobody said the harvest was easy; they said it was ours.",
    "The report contains more questions than the mayor had answers.",
    "Dr. Okafor smiled: the vaccine had outrun the rumour by a week.",
    "Was it courage or stubbornness that kept the lighthouse lit?",
    "Prices rose, wages sat still, and the market hummed as if nothing had happened!",
    "My grandmother says the sea remembers every promise made on its shore.",
)


def answer_text(skills: list[str], rng: random.Random) -> str:
    sentences = rng.sample(SENTENCES, rng.randint(1, max(1, len(skills))))
    if rng.random() < 0.1:
        sentences.append(f"This is {skills[0].split('(')[0].strip().lower()} at work.")
    if rng.random() < 0.05:
        sentences.append("This text illustrates the skills.")
    return " ".join(sentences)


def folder_records(model: str, setting: str, combinations: int, rng: random.Random) -> list[dict]:
    catalog = load_catalog()
    skills_pool, topics_pool = SETTINGS[setting]
    skills = [s.name for s in catalog.skill_pool(skills_pool)]
    topics = [t.name for t in catalog.topic_pool(topics_pool)]
    p = MODELS[model]
    records = []
    for k in KS:
        for c in range(combinations):
            combo, topic = rng.sample(skills, k), rng.choice(topics)
            for epoch in range(1, GENERATIONS + 1):
                gradings = [[float(rng.random() < p) for _ in range(k + 3)] for _ in range(GRADINGS)]
                records.append(make_record(f"k{k}-{c:04d}", epoch, combo, topic, answer_text(combo, rng), gradings))
    return records


def synthesize(run: Path, combinations: int, seed: int) -> int:
    rng, n = random.Random(seed), 0
    for model in MODELS:
        for setting, (skills, topics) in SETTINGS.items():
            records = folder_records(model, setting, combinations, rng)
            config = {"student": f"hf/{model}", "grader": "openai/gpt-4", "k": KS, "skills": skills, "topics": topics,
                      "combinations": combinations, "generations": GENERATIONS, "gradings": GRADINGS}
            write_eval_folder(run / "eval" / model / setting, records, config, {"model": model, "setting": setting})
            n += len(records)
    return n


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants, from /proc/PID/task/*/children (cheap: no scan of every process)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for children in Path(f"/proc/{p}/task").glob("*/children"):
            try:
                todo += [int(c) for c in children.read_text().split()]
            except OSError:
                pass  # the process ended while being read
    return out


def _memory_kb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process in kB, from /proc/PID/smaps_rollup; (0, 0) once it has ended."""
    rss = pss = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    except (OSError, ValueError):
        pass
    return rss, pss


def tree_memory_sampler(pid: int) -> tuple[threading.Thread, dict[str, int]]:
    """A thread recording, every 0.25 s until ``pid`` ends, the memory of it and its forked workers
    summed: RSS (an upper bound: pages a worker shares with the parent count once per process)
    and PSS (each shared page split between the processes sharing it: their real total).
    Reads /proc directly, so that sampling takes next to nothing from the report being timed."""
    peak = {"rss_kb": 0, "pss_kb": 0}

    def sample() -> None:
        while Path(f"/proc/{pid}/smaps_rollup").exists():
            sizes = [_memory_kb(p) for p in _tree(pid)]
            peak["rss_kb"] = max(peak["rss_kb"], sum(r for r, _ in sizes))
            peak["pss_kb"] = max(peak["pss_kb"], sum(p for _, p in sizes))
            time.sleep(0.25)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    return thread, peak


def run_report(run: Path, sample_memory: bool) -> dict:
    cmd = [sys.executable, "-c", "from skillmix.cli import main; main()", "report", str(run)]
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    sampler = tree_memory_sampler(proc.pid) if sample_memory else None
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"skillmix report failed: {err[-2000:]}")
    if sampler is None:
        return {"wall_s": round(wall, 1), "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
                "peak_rss_mb": round(usage.ru_maxrss / 1024), "load_1min": round(load, 1)}
    sampler[0].join()
    return {"peak_tree_rss_mb": round(sampler[1]["rss_kb"] / 1024), "peak_tree_pss_mb": round(sampler[1]["pss_kb"] / 1024)}


def time_report(run: Path) -> dict:
    """Wall and CPU time of one ``skillmix report`` run, then the memory of a second run: reading
    /proc/PID/smaps_rollup locks the process's memory map, so sampling it slows the run it samples."""
    return {**run_report(run, sample_memory=False), **run_report(run, sample_memory=True)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--combinations", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--keep", type=Path, help="synthesize into this folder and keep it")
    p.add_argument("--doc", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "performance.md")
    p.add_argument("--no-doc", action="store_true")
    p.add_argument("--reuse", action="store_true", help="time the existing --keep folder, do not synthesize")
    p.add_argument("--label", default="now", help="doc marker: bench_scale:report-LABEL")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = args.keep or Path(tmp) / "run"
        t0 = time.perf_counter()
        if args.reuse and args.keep is not None and (run / "eval").is_dir():
            n = sum(sum(1 for _ in f.open()) for f in run.rglob("samples.jsonl"))
        else:
            n = synthesize(run, args.combinations, args.seed)
        synth_s = time.perf_counter() - t0
        result = {"folders": len(MODELS) * len(SETTINGS), "generations": n, "gradings": n * GRADINGS,
                  "samples_mb": round(sum(f.stat().st_size for f in run.rglob("samples.jsonl")) / 2**20, 1),
                  "synthesis_s": round(synth_s, 1), **time_report(run)}
    print(json.dumps(result))
    if not args.no_doc:
        from bench_scale import write_doc  # the same marker-block writer

        table = ("| folders | generations | gradings | samples.jsonl MB | report wall s | CPU s | peak RSS MB "
                 "| peak RSS, with workers MB | peak PSS, with workers MB | load (1 min) |\n"
                 "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
                 f"| {result['folders']} | {n:,} | {n * GRADINGS:,} | {result['samples_mb']} | {result['wall_s']} | "
                 f"{result['cpu_s']} | {result['peak_rss_mb']} | {result['peak_tree_rss_mb']} | "
                 f"{result['peak_tree_pss_mb']} | {result['load_1min']} |\n")
        write_doc(args.doc, f"report-{args.label}", table)


if __name__ == "__main__":
    main()
