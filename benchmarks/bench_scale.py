"""Scale benchmark for `skillmix generate` (docs/performance.md).

A loopback OpenAI-compatible server (skillmix.testing.fake_openai) answers every
teacher and grader call after a fixed latency (default 2 s). For each size N we
run the real CLI in a subprocess (start-up included), k=2 with 3 gradings:
2N teacher calls and 3N grader calls. Per size we print

- calls: model calls the server received;
- wall: seconds from process start to exit;
- ideal: the two-pool bound max(teacher calls, grader calls) x latency / connections
  (teacher and grader are separate connection pools of size --connections);
- ratio: wall / ideal, and the target 1.2 x ideal + 3 x latency;
- CPU ms per call: the child's user + system CPU over all calls, start-up included;
- peak RSS of the child, and bytes written under OUT (dataset, logs, cache).

    python benchmarks/bench_scale.py [--sizes 1000,5000,25000] [--latency 2] [--connections 256]
        [--profile prof.txt] [--doc docs/performance.md] [--label after]

``--doc`` replaces the table between the markers ``<!-- bench_scale:LABEL -->`` and
``<!-- /bench_scale:LABEL -->`` in that file (appends a section if absent).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from skillmix.testing.cli import CLI_COMMAND
from skillmix.testing.fake_openai import FakeOpenAI, skillmix_reply

GRADINGS = 3
TURNS = 2


def tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def generate_cmd(out: Path, n: int, connections: int, extra: list[str]) -> list[str]:
    return [*CLI_COMMAND, "generate",
            "--teacher", "openai-api/fake/teacher", "--grader", "openai-api/fake/grader",
            "--k", "2", "--n", str(n), "--gradings", str(GRADINGS), "--seed", "0",
            "--max-connections", str(connections), "--display", "none", "--json", "--out", str(out), *extra]


def run_child(cmd: list[str], env: dict[str, str], profile: Path | None) -> tuple[float, float, int]:
    """(wall s, CPU s, peak RSS bytes) of one child, measured with wait4 on that child alone."""
    if profile is not None:
        cmd = ["py-spy", "record", "--nonblocking", "-r", "50", "-f", "raw", "-o", str(profile), "--", *cmd]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"skillmix generate failed with exit code {proc.returncode}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024


def measure(n: int, args: argparse.Namespace, tmp: Path) -> dict:
    with FakeOpenAI(reply_fn=skillmix_reply, latency=args.latency) as fake:
        out, cache = tmp / f"out-{n}", tmp / f"cache-{n}"
        env = {**os.environ, "FAKE_BASE_URL": fake.base_url, "FAKE_API_KEY": "bench",
               "INSPECT_CACHE_DIR": str(cache)}
        wall, cpu, rss = run_child(generate_cmd(out, n, args.connections, args.extra), env, args.profile)
        calls = fake.calls
    teacher, grader = TURNS * n, GRADINGS * n
    ideal = max(teacher, grader) * args.latency / args.connections
    bound = 1.2 * ideal + 3 * args.latency
    return {
        "texts": n, "calls": calls, "expected_calls": teacher + grader, "wall_s": round(wall, 1),
        "ideal_s": round(ideal, 1), "ratio": round(wall / ideal, 2), "bound_s": round(bound, 1),
        "within_bound": wall <= bound, "cpu_s": round(cpu, 1), "cpu_ms_per_call": round(1000 * cpu / max(calls, 1), 2),
        "peak_rss_mb": round(rss / 2**20), "out_mb": round(tree_bytes(out) / 2**20, 1),
        "cache_mb": round(tree_bytes(cache) / 2**20, 1) if cache.exists() else 0.0,
    }


COLUMNS = [("texts", "texts"), ("calls", "calls"), ("wall_s", "wall s"), ("ideal_s", "ideal s"),
           ("ratio", "wall/ideal"), ("bound_s", "bound s"), ("cpu_ms_per_call", "CPU ms/call"),
           ("peak_rss_mb", "peak RSS MB"), ("out_mb", "OUT MB"), ("cache_mb", "cache MB")]


def markdown(rows: list[dict], args: argparse.Namespace) -> str:
    head = (f"latency {args.latency:g} s, {args.connections} connections per model, k=2, {GRADINGS} gradings, "
            f"{os.cpu_count()} cores; bound = 1.2 x ideal + 3 x latency\n\n")
    lines = ["| " + " | ".join(label for _, label in COLUMNS) + " |", "|" + "---:|" * len(COLUMNS)]
    lines += ["| " + " | ".join(f"{r[key]:,}" if isinstance(r[key], int) else str(r[key]) for key, _ in COLUMNS) + " |"
              for r in rows]
    return head + "\n".join(lines) + "\n"


def write_doc(doc: Path, label: str, table: str) -> None:
    start, end = f"<!-- bench_scale:{label} -->", f"<!-- /bench_scale:{label} -->"
    text = doc.read_text() if doc.exists() else "# Performance at scale\n"
    block = f"{start}\n{table}{end}"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + f"\n\n### bench_scale: {label}\n\n{block}\n"
    tmp = doc.with_name(doc.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, doc)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1000,5000,25000")
    p.add_argument("--latency", type=float, default=2.0)
    p.add_argument("--connections", type=int, default=256)
    p.add_argument("--profile", type=Path, help="py-spy raw (collapsed) profile of the first size")
    p.add_argument("--doc", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "performance.md")
    p.add_argument("--no-doc", action="store_true", help="print only")
    p.add_argument("--label", default="after")
    p.add_argument("--json", type=Path)
    p.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="more `skillmix generate` arguments")
    args = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in [int(s) for s in args.sizes.split(",")]:
            rows.append(measure(n, args, Path(tmp)))
            args.profile = None  # profile the first size only
            print(json.dumps(rows[-1]), flush=True)
    table = markdown(rows, args)
    print(table)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    if not args.no_doc:
        write_doc(args.doc, args.label, table)


if __name__ == "__main__":
    main()
