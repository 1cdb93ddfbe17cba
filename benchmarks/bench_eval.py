"""Engine-efficiency benchmark for `skillmix eval` (docs/performance.md).

A loopback OpenAI-compatible server answers every call after a fixed latency
(2 s, like an API grader) with canned student and grader replies. We run the
real CLI in a subprocess (start-up included) for 50 combinations x k=2,3 x 3
generations x 3 gradings at --max-connections 64, then a second identical run.

Reports: wall time vs the ideal max(calls x latency / concurrency, critical path),
the speed-up over a sequential loop like the reference's, the engine's CPU time
per model call, and the number of model calls of the re-run (must be 0).

    python benchmarks/bench_eval.py [--latency 2] [--combinations 50] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from skillmix.testing.cli import CLI_COMMAND  # noqa: E402
from skillmix.testing.fake_openai import FakeOpenAI, skillmix_reply  # noqa: E402


def run_cli(out: Path, fake: FakeOpenAI, args: argparse.Namespace, cache: Path) -> tuple[float, float]:
    env = {**os.environ, "FAKE_BASE_URL": fake.base_url, "FAKE_API_KEY": "bench-key", "INSPECT_CACHE_DIR": str(cache)}
    cmd = [*CLI_COMMAND, "eval",
           "--student", "openai-api/fake/student", "--grader", "openai-api/fake/grader",
           "--k", "2,3", "--skills", "all", "--topics", "all", "--combinations", str(args.combinations),
           "--generations", "3", "--gradings", "3", "--max-connections", str(args.connections),
           "--display", "none", "--out", str(out)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--latency", type=float, default=2.0)
    p.add_argument("--combinations", type=int, default=50)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp, FakeOpenAI(reply_fn=skillmix_reply, latency=args.latency) as fake:
        out, cache = Path(tmp) / "out", Path(tmp) / "cache"
        wall, cpu = run_cli(out, fake, args, cache)
        calls = fake.calls
        rerun_wall, _ = run_cli(out, fake, args, cache)
        rerun_calls = fake.calls - calls
    expected_calls = 2 * args.combinations * 3 * (2 + 3)
    ideal = max(calls * args.latency / args.connections, 3 * args.latency)
    result = {
        "calls": calls, "expected_calls": expected_calls, "latency_s": args.latency, "max_connections": args.connections,
        "wall_s": round(wall, 2), "ideal_s": round(ideal, 2), "ratio_to_ideal": round(wall / ideal, 3),
        "sequential_s": calls * args.latency, "speedup_vs_sequential": round(calls * args.latency / wall, 1),
        "cpu_s": round(cpu, 2), "cpu_ms_per_call": round(1000 * cpu / max(calls, 1), 2),
        "rerun_calls": rerun_calls, "rerun_wall_s": round(rerun_wall, 2),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
