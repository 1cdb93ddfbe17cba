"""GPU smoke test: the GPU paths of skillmix, end to end, in a few minutes (docs/gpu.md, "A smoke test first").

    python benchmarks/gpu_smoke.py [--keep DIR]

With a GPU and no network, in at most 10 minutes, one line per step with tokens per second:

1. a 4-step LoRA fine-tune (merged) of a small llama model built locally (skillmix.testing.tiny_model);
2. an ``hf/`` evaluation of the result against a loopback grader (skillmix.testing.fake_openai);
3. the same with ``vllm/``, when vllm is installed.

Each step runs the ``skillmix`` command in a child process, as a user would. The model is random
and tiny, so the scores mean nothing; the point is that the GPU paths run and how fast they start.
Without a GPU it says so in one line and exits 0. A failed step prints its stderr tail and exits 1.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

BUDGET_SECONDS = 600
TRAIN = ["--recipe", "laptop", "max_steps=4", "lora=true", "merge_lora=true", "per_device_train_batch_size=2",
         "effective_batch_size=4", "warmup_steps=0", "logging_steps=1", "save_steps=1000"]
EVAL = ["--grader", "openai-api/fake/grader", "--k", "1,2", "--combinations", "4", "--generations", "1",
        "--gradings", "1", "--student-max-tokens", "64", "--display", "none"]


def cuda_probe() -> str | None:
    """The first GPU's name, or None without torch or a visible CUDA device."""
    if importlib.util.find_spec("torch") is None:
        return None
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def skillmix(args: list[str], env: dict[str, str], deadline: float) -> float:
    """Run ``python -m skillmix ARGS``; its wall seconds. Raises with the stderr tail on failure."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "skillmix", *args], env=env, capture_output=True, text=True,
                          check=False, timeout=max(1.0, deadline - started))
    if done.returncode != 0:
        raise RuntimeError(f"skillmix {args[0]} exited {done.returncode}: {done.stderr.strip()[-1500:]}")
    return time.monotonic() - started


def fine_tune(root: Path, env: dict[str, str], deadline: float, hidden_size: int = 512) -> str:
    from skillmix.testing.tiny_model import build_tiny_model, write_dataset

    base = build_tiny_model(root / "base", hidden_size=hidden_size, num_layers=4)  # 512: head size 128, as vllm likes
    data, out = write_dataset(root / "data"), root / "ft"
    skillmix(["train", "--data", str(data), "--base-model", str(base), "--out", str(out), *TRAIN], env, deadline)
    record = json.loads((out / "skillmix_train.json").read_text())
    tokens = int(json.loads((out / "train_log.jsonl").read_text().splitlines()[-1])["tokens"])
    return (f"LoRA fine-tune, {record['global_step']} steps on {record['distributed']['type']}: {tokens} tokens "
            f"in {record['train_seconds']:.1f} s = {tokens / record['train_seconds']:.0f} tokens/s")


def evaluate(engine: str, root: Path, env: dict[str, str], deadline: float) -> str:
    out = root / f"eval-{engine}"
    seconds = skillmix(["eval", "--student", f"{engine}/{root / 'ft'}", *EVAL, "--out", str(out)], env, deadline)
    results = json.loads((out / "results.json").read_text())
    student = next(u for model, u in results["token_usage"].items() if model.startswith(engine))
    scored = sum(m["n_scored"] for m in results["metrics"].values())
    return (f"{engine}/ evaluation: {scored} generations scored, {student['output_tokens']} student tokens in "
            f"{seconds:.1f} s wall (start-up included) = {student['output_tokens'] / seconds:.0f} tokens/s")


def run_steps(root: Path, gpu: str, echo: Callable[[str], None], hidden_size: int = 512) -> int:
    from skillmix.testing.fake_openai import FakeOpenAI, skillmix_reply

    started = time.monotonic()
    deadline = started + BUDGET_SECONDS
    vllm = importlib.util.find_spec("vllm") is not None
    steps: list[tuple[str, Callable[..., str] | None]] = [
        ("train", lambda *a: fine_tune(*a, hidden_size=hidden_size)), ("hf", lambda *a: evaluate("hf", *a)),
        ("vllm", (lambda *a: evaluate("vllm", *a)) if vllm else None)]
    echo(f"gpu_smoke: {gpu}")
    with FakeOpenAI(reply_fn=skillmix_reply) as grader:
        env = {**os.environ, "FAKE_BASE_URL": grader.base_url, "FAKE_API_KEY": "smoke", "HF_HUB_OFFLINE": "1",
               "INSPECT_CACHE_DIR": str(root / "cache")}
        for i, (name, step) in enumerate(steps, 1):
            if step is None:
                echo(f"step {i}/{len(steps)} {name}: skipped (vllm is not installed: pip install 'skillmix[vllm]')")
                continue
            try:
                echo(f"step {i}/{len(steps)} {step(root, env, deadline)}")
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                echo(f"step {i}/{len(steps)} {name}: FAILED: {e}")
                return 1
    echo(f"gpu_smoke: done in {time.monotonic() - started:.0f} s (budget {BUDGET_SECONDS} s); files in {root}")
    return 0


def main(argv: list[str] | None = None, probe: Callable[[], str | None] = cuda_probe,
         echo: Callable[[str], None] = print) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="Write the model and results here (default: a temporary folder).")
    parser.add_argument("--hidden-size", type=int, default=512,
                        help="Hidden size of the model it builds (the tests use a smaller one on the CPU).")
    args = parser.parse_args(argv)
    gpu = probe()
    if gpu is None:
        echo("gpu_smoke: no GPU visible (torch.cuda.is_available() is false); nothing was run")
        return 0
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        return run_steps(args.keep, gpu, echo, args.hidden_size)
    with tempfile.TemporaryDirectory(prefix="gpu_smoke-") as tmp:
        return run_steps(Path(tmp), gpu, echo, args.hidden_size)


if __name__ == "__main__":
    sys.exit(main())
