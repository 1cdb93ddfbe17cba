"""Packing benchmark (protocol §7, docs/pitfalls.md #8): naive padding vs padding-free vs BFD packing.

On a small llama model on CPU, with synthetic conversations shaped like D_SKILL-MIX
(PROMPT1 of ~250-350 tokens with skill definitions, answers of 40-120 words), it runs one
epoch of forward+backward+AdamW per batching mode, through TRL's own collator and packer
(the code path `skillmix train packing=...` uses), and reports:

- tokens/s: real (non-pad) tokens processed per second of training;
- non-pad fraction: real tokens / token positions the model computed;
- peak RSS of the process (each mode runs in its own subprocess, so peaks are separate).

Each mode runs ``--repeats`` times, interleaved with the others; the table shows the
fastest run of each mode (on a shared machine, the slower runs measure the other jobs).

Usage:  PYTHONPATH=src:. python3 benchmarks/bench_packing.py [--examples 64] [--out bench_packing.json]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODES = ("padded", "padding_free", "bfd")
WORDS = (
    "the a of needle thread bee hive honey duel sword knot rope garden city tower race swim ride run water fire "
    "patience silver fish linen dawn weather ocean jar frame smoke monk ferns planner ruin clumsy plan truth haste "
    "regret retort critic option sense late early quick slow bright dark tall small old new river stone wind"
).split()
SKILLS = ["metaphor", "red herring", "hyperbole", "aphorism", "tu quoque", "false dichotomy", "equivocation",
          "ad hominem", "spatial reasoning", "modus ponens", "statistical syllogism", "folk physics"]


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def words(rng: random.Random, n: int) -> str:
    out, left = [], n
    while left > 0:
        k = min(left, rng.randint(8, 16))
        out.append(sentence(rng, k))
        left -= k
    return " ".join(out)


def conversation(rng: random.Random) -> list[dict[str, str]]:
    """A SKILL-MIX-shaped 2-turn conversation (protocol §3 prompts, synthetic definitions/answers)."""
    k = rng.randint(1, 3)
    skills = rng.sample(SKILLS, k)
    definitions = "\n".join(
        f"**{s}**: {words(rng, rng.randint(40, 60))} For example, {words(rng, rng.randint(20, 30))}" for s in skills
    )
    prompt1 = (
        "Greetings! I am interested in natural language processing and I was wondering if you could help me generate "
        "an example of text that illustrates multiple skills in semantics or syntax. The example should be a minimal "
        f"natural piece of text with up to a few lines in the context of {rng.choice(WORDS)} that illustrates all of "
        f"the following skills: {', '.join(skills)}. Please keep the text as short as possible, and make sure the "
        f"concepts can be found fully from the text.\n\nFor reference, here are the definitions and examples for the "
        f"concepts:\n{definitions}\n\nPlease start the minimal natural piece of text with 'Answer:' and start the "
        "explanation with 'Explanation:'.\n\nThanks very much!"
    )
    prompt2 = (
        "Thanks very much. Could you please look over your answer and improve it? Please make sure that the new answer "
        "better illustrates all skills and remains on topic. On top of that, please also make sure the new answer "
        "only contains up to two sentences.\nAgain, please start the improved minimal natural piece of text with "
        "'Answer:' and start the explanation with 'Explanation:'.\n\nThanks very much!"
    )
    return [{"role": "user", "content": prompt1}, {"role": "assistant", "content": answer(rng)},
            {"role": "user", "content": prompt2}, {"role": "assistant", "content": answer(rng)}]


def answer(rng: random.Random) -> str:
    """40-120 words, like a teacher's reply."""
    return f"Answer: {words(rng, rng.randint(25, 60))} Explanation: {words(rng, rng.randint(15, 60))}"


def batches(mode: str, rows: list[dict], batch_size: int, max_length: int, pad_id: int) -> list[dict]:
    """Collated batches of one epoch, as SFTTrainer builds them for `packing=<mode>`."""
    import datasets
    from trl.data_utils import pack_dataset
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    collate = DataCollatorForLanguageModeling(pad_token_id=pad_id, padding_free=mode != "padded")
    if mode == "bfd":
        packed = pack_dataset(datasets.Dataset.from_list(rows), max_length, "bfd")
        rows = [packed[i] for i in range(len(packed))]
    return [collate(rows[i : i + batch_size]) for i in range(0, len(rows), batch_size)]


def run_mode(mode: str, model_dir: Path, examples: int, batch_size: int, max_length: int, seed: int) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from skillmix.train.masking import encode_conversation

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    rng = random.Random(seed)
    encoded = [encode_conversation(tokenizer, conversation(rng), tokenizer.chat_template) for _ in range(examples)]
    rows = [{"input_ids": list(e.input_ids), "labels": list(e.labels)} for e in encoded]
    # bfd rows hold ~max_length tokens; give each step about as many real tokens as a padded batch.
    per_step = max(1, round(batch_size * sum(map(len, (r["input_ids"] for r in rows))) / len(rows) / max_length)) \
        if mode == "bfd" else batch_size
    data = batches(mode, rows, per_step, max_length, tokenizer.pad_token_id)
    model = AutoModelForCausalLM.from_pretrained(model_dir, attn_implementation="sdpa")
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step(batch: dict) -> None:
        inputs = {k: v for k, v in batch.items() if k in ("input_ids", "labels", "attention_mask", "position_ids")}
        loss = model(**inputs, use_cache=False).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()

    step(data[0])  # warm-up, not timed
    started = time.perf_counter()
    for batch in data:
        step(batch)
    seconds = time.perf_counter() - started
    real = sum(len(r["input_ids"]) for r in rows)
    positions = sum(b["input_ids"].numel() for b in data)
    return {
        "mode": mode,
        "steps": len(data),
        "rows_per_step": per_step,
        "real_tokens": real,
        "token_positions": positions,
        "non_pad_fraction": real / positions,
        "seconds": seconds,
        "tokens_per_s": real / seconds,
        "tokens_per_step": real / len(data),
        "mean_example_tokens": real / len(rows),
        "mean_trained_tokens": sum(e.n_trained for e in encoded) / len(encoded),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "threads": torch.get_num_threads(),
    }


def table(results: list[dict]) -> str:
    base = next(r for r in results if r["mode"] == "padded")
    head = f"{'mode':<13}{'steps':>6}{'tok/step':>10}{'non-pad':>9}{'tokens/s':>10}{'speed-up':>9}{'peak RSS MB':>13}"
    lines = [head, "-" * len(head)]
    for r in results:
        lines.append(
            f"{r['mode']:<13}{r['steps']:>6}{r['tokens_per_step']:>10.0f}{r['non_pad_fraction']:>9.3f}"
            f"{r['tokens_per_s']:>10.0f}{r['tokens_per_s'] / base['tokens_per_s']:>8.2f}x{r['peak_rss_mb']:>13.0f}"
        )
    return "\n".join(lines)


def run_subprocess(mode: str, model_dir: Path, args: argparse.Namespace) -> dict:
    command = [sys.executable, __file__, "--mode", mode, "--model-dir", str(model_dir),
               "--examples", str(args.examples), "--batch-size", str(args.batch_size),
               "--max-length", str(args.max_length), "--seed", str(args.seed)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=1024)
    parser.add_argument("--hidden-size", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench_packing.json"))
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)  # internal: one mode per subprocess
    parser.add_argument("--model-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.mode:
        result = run_mode(args.mode, args.model_dir, args.examples, args.batch_size, args.max_length, args.seed)
        print(json.dumps(result))
        return

    from skillmix.testing.tiny_model import build_tiny_model

    with tempfile.TemporaryDirectory() as tmp:
        rng = random.Random(args.seed)
        corpus = [m["content"] for _ in range(200) for m in conversation(rng)]
        model_dir = build_tiny_model(Path(tmp) / "model", extra_texts=corpus, vocab_size=4000,
                                     hidden_size=args.hidden_size, num_layers=args.layers)
        runs: dict[str, list[dict]] = {mode: [] for mode in MODES}
        for _ in range(args.repeats):
            for mode in MODES:
                runs[mode].append(run_subprocess(mode, model_dir, args))
    results = [
        max(runs[mode], key=lambda r: r["tokens_per_s"]) | {"all_tokens_per_s": [r["tokens_per_s"] for r in runs[mode]]}
        for mode in MODES
    ]
    print(table(results))
    base = results[0]
    report = {
        "config": vars(args) | {"out": str(args.out), "mode": None, "model_dir": None},
        "results": results,
        "speedup_vs_padded": {r["mode"]: r["tokens_per_s"] / base["tokens_per_s"] for r in results},
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
