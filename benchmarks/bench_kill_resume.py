"""Kill-and-resume benchmark at scale for `skillmix generate` (docs/performance.md, "Kill and resume").

Three runs of the real CLI against the loopback OpenAI-compatible server (skillmix.testing.fake_openai),
which answers by request content only (``varied_reply``), never by arrival order:

1. a reference run of N texts (k=2, 3 gradings), uninterrupted;
2. the same command into a new folder, SIGKILLed when half of its calls have reached the server;
3. the same command again, which resumes.

It prints the calls at the kill, the replies stored on disk by then (call-journal lines, or inspect cache
files with ``--extra --call-path inspect``), the calls in flight (asked, no reply stored), the calls the
re-run repeated, and whether data.jsonl and stats.json are byte-identical to the reference.

    python benchmarks/bench_kill_resume.py [--n 5000] [--latency 2] [--connections 256] [--no-doc]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scale import GRADINGS, TURNS, generate_cmd, write_doc

from skillmix.testing.fake_openai import FakeOpenAI, varied_reply


def stored_replies(out: Path, cache: Path) -> int:
    journal = out / "runs" / "k2" / "calls.jsonl"
    if journal.exists():
        return journal.read_bytes().count(b"\n")
    return sum(1 for p in cache.rglob("*") if p.is_file()) if cache.exists() else 0


def run(cmd: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise SystemExit(f"skillmix generate failed ({done.returncode}): {done.stderr[-2000:]}")


def measure(args: argparse.Namespace, tmp: Path) -> dict:
    expected = (TURNS + GRADINGS) * args.n
    ref, out = tmp / "ref", tmp / "out"

    def env(fake: FakeOpenAI, cache: Path) -> dict[str, str]:
        return {**os.environ, "FAKE_BASE_URL": fake.base_url, "FAKE_API_KEY": "bench", "INSPECT_CACHE_DIR": str(cache)}

    with FakeOpenAI(reply_fn=varied_reply, latency=args.latency) as fake:
        t0 = time.perf_counter()
        run(generate_cmd(ref, args.n, args.connections, args.extra), env(fake, tmp / "cache-ref"))
        reference_s = time.perf_counter() - t0
    with FakeOpenAI(reply_fn=varied_reply, latency=args.latency) as fake:
        cache = tmp / "cache"
        proc = subprocess.Popen(generate_cmd(out, args.n, args.connections, args.extra), env=env(fake, cache),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while fake.calls < expected // 2:
            if proc.poll() is not None:
                raise SystemExit("the run ended before half of its calls; use a larger --n")
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        at_kill = fake.settled_calls(quiet=1.0)
        stored = stored_replies(out, cache)
        t0 = time.perf_counter()
        run(generate_cmd(out, args.n, args.connections, args.extra), env(fake, cache))
        resume_s = time.perf_counter() - t0
        total = fake.calls
    same = {name: (out / name).read_bytes() == (ref / name).read_bytes() for name in ("data.jsonl", "stats.json")}
    return {
        "texts": args.n, "calls": expected, "calls_at_kill": at_kill, "stored_at_kill": stored,
        "in_flight": at_kill - stored, "repeated": total - expected, "reference_s": round(reference_s, 1),
        "resume_s": round(resume_s, 1), "kept": (ref / "data.jsonl").read_bytes().count(b"\n"),
        "data_identical": same["data.jsonl"], "stats_identical": same["stats.json"],
    }


def markdown(row: dict, args: argparse.Namespace) -> str:
    head = (f"latency {args.latency:g} s, {args.connections} connections per model, k=2, {GRADINGS} gradings, "
            f"SIGKILL at half of the calls; {' '.join(args.extra) or 'default call path'}\n\n")
    keys = list(row)
    return (head + "| " + " | ".join(keys) + " |\n|" + "---:|" * len(keys) + "\n| "
            + " | ".join(f"{row[k]:,}" if isinstance(row[k], int) and not isinstance(row[k], bool) else str(row[k])
                         for k in keys) + " |\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=5000)
    p.add_argument("--latency", type=float, default=2.0)
    p.add_argument("--connections", type=int, default=256)
    p.add_argument("--doc", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "performance.md")
    p.add_argument("--no-doc", action="store_true", help="print only")
    p.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="more `skillmix generate` arguments")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        row = measure(args, Path(tmp))
    print(json.dumps(row))
    table = markdown(row, args)
    print(table)
    if not args.no_doc:
        write_doc(args.doc, "kill_resume", table)  # between <!-- bench_scale:kill_resume --> markers
    ok = row["data_identical"] and row["stats_identical"] and 0 <= row["repeated"] <= row["in_flight"]
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
