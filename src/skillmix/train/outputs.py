"""The run folder of ``skillmix train``: the run record, the loss log and plot, provenance and resume checks.

Files: ``skillmix_train.json`` (recipe, data digests, plan, versions, provenance, status),
``train_log.jsonl`` (one line per logging step), ``loss.png`` and the trainer's ``checkpoint-N`` folders.
"""

from __future__ import annotations

import hashlib
import json
import re
import resource
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from skillmix.errors import SkillmixError
from skillmix.formats.files import read_json, read_jsonl, write_figure, write_jsonl
from skillmix.formats.provenance import FRAMEWORK_PACKAGES, host, package_versions, provenance
from skillmix.train.recipe import TrainPlan, TrainRecipe
from skillmix.train.sft_data import EncodeReport, Prepared

RECIPE_FILE = "skillmix_train.json"


LOG_FILE = "train_log.jsonl"


PLOT_FILE = "loss.png"


_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def last_checkpoint(out: Path) -> Path | None:
    """The complete ``checkpoint-N`` folder of ``out`` with the largest N.

    The Trainer writes ``trainer_state.json`` last: a folder without it is a save cut
    short by a kill, and resuming from it would fail.
    """
    if not out.is_dir():
        return None
    found = [(int(m.group(1)), p) for p in out.iterdir()
             if p.is_dir() and (m := _CHECKPOINT.match(p.name)) and (p / "trainer_state.json").is_file()]
    return max(found)[1] if found else None


def checkpoint_step(path: Path) -> int:
    match = _CHECKPOINT.match(path.name)
    if match is None:
        raise ValueError(f"{path} is not a checkpoint-N folder")
    return int(match.group(1))


def trim_log(path: Path, max_step: int) -> None:
    """Drop log records past ``max_step``: a resumed run logs those steps again."""
    if not path.is_file():
        return
    write_jsonl(path, [r for r in read_log(path) if r.get("step", 0) <= max_step])


def log_record(step: int, logs: Mapping[str, Any], previous: Mapping[str, Any] | None) -> dict[str, Any]:
    """A train_log.jsonl line: step, loss, lr, tokens so far, tokens per step since the last line, epoch."""
    tokens = logs.get("num_tokens")
    tokens_per_step = None
    if tokens is not None and previous is not None and step > previous["step"]:
        tokens_per_step = (tokens - previous["tokens"]) / (step - previous["step"])
    elif tokens is not None and previous is None and step > 0:
        tokens_per_step = tokens / step
    return {
        "step": step,
        "loss": logs.get("loss"),
        "lr": logs.get("learning_rate"),
        "tokens": tokens,
        "tokens_per_step": tokens_per_step,
        "epoch": logs.get("epoch"),
        "grad_norm": logs.get("grad_norm"),
    }


def resume_token_offset(records: Sequence[Mapping[str, Any]], resume_step: int) -> float:
    """Tokens seen before ``resume_step``: TRL's token counter restarts at 0 in a resumed run.

    Exact when the last record is at ``resume_step`` (logging_steps divides save_steps);
    otherwise extrapolated with that record's tokens per step.
    """
    if not records or records[-1].get("tokens") is None:
        return 0.0
    last = records[-1]
    return last["tokens"] + (resume_step - last["step"]) * (last.get("tokens_per_step") or 0.0)


def read_log(path: Path) -> list[dict[str, Any]]:
    return read_jsonl(path) if path.is_file() else []


def plot_loss(records: Sequence[Mapping[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [(r["step"], r["loss"]) for r in records if r.get("loss") is not None]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([s for s, _ in points], [v for _, v in points], marker="." if len(points) < 50 else None)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (answers only)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    write_figure(fig, path, dpi=120)
    plt.close(fig)


def make_log_callback(path: Path, echo: Callable[[str], None]) -> Any:
    """A TrainerCallback appending one JSON line per logging step (rank 0 only)."""
    from transformers import TrainerCallback

    class JsonlLog(TrainerCallback):
        def __init__(self) -> None:
            self.previous: dict[str, Any] | None = None
            self.offset = 0.0

        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            # Read only now: a resumed run trims the log after the trainer is built, and
            # global_step is the checkpoint's step by now.
            records = read_log(path)
            self.previous = records[-1] if records else None
            self.offset = resume_token_offset(records, state.global_step)

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            # The loss at the first and the last step is always logged, whatever logging_steps
            # is: a short run would otherwise leave no train_log.jsonl at all.
            if state.global_step in (1, state.max_steps):
                control.should_log = True

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any) -> None:
            if not state.is_world_process_zero or not logs or "loss" not in logs:
                return
            if "num_tokens" in logs:
                logs = {**logs, "num_tokens": logs["num_tokens"] + self.offset}
            record = log_record(state.global_step, logs, self.previous)
            with path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
            self.previous = record
            echo(
                f"step {record['step']}/{state.max_steps}  loss {record['loss']:.4f}  lr {record['lr']:.3g}  "
                f"tokens {record['tokens']}  epoch {record['epoch']:.2f}"
            )

    return JsonlLog()


TRAIN_PACKAGES = ("skillmix", "torch", "transformers", "trl", "peft", "accelerate", "datasets", "tokenizers", "gguf")


def versions() -> dict[str, str | None]:
    return {"python": host()["python"], **package_versions(TRAIN_PACKAGES)}


def run_provenance() -> dict[str, Any]:
    """skillmix's version and commit, the frameworks, the machine, CUDA and the GPUs (``formats.provenance``)."""
    return provenance(load_torch=True, packages=dict.fromkeys(FRAMEWORK_PACKAGES + TRAIN_PACKAGES))


def peak_rss_mb() -> float:
    """Peak resident memory of this process (Linux reports KiB, macOS bytes)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def weights_sha256(model: Any) -> str:
    """sha256 of the parameters this process holds: names, dtypes, shapes and bytes, in name order.

    Under DDP every process holds the whole model, so equal digests show the replicas stayed in
    step; under FSDP each holds a shard (``to_local``), so the digests differ by design.
    """
    import torch

    digest = hashlib.sha256()
    for name, param in sorted(model.named_parameters(), key=lambda item: item[0]):
        tensor = param.detach()
        tensor = tensor.to_local() if hasattr(tensor, "to_local") else tensor
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(tensor.cpu().contiguous().reshape(-1).view(torch.uint8).numpy())  # a view, no copy
    return digest.hexdigest()


def distributed_record(trainer: Any) -> dict[str, Any]:
    """How the run was spread over processes, as accelerate actually set it up (call on every rank).

    The type and mixed precision come from accelerate, not the recipe: an accelerate config's
    ``mixed_precision`` wins over ``bf16=false``, and FSDP falls back to DDP without an accelerator.
    """
    from accelerate.utils import gather_object

    accelerator = trainer.accelerator
    return {
        "type": str(accelerator.distributed_type.value),
        "processes": accelerator.num_processes,
        "mixed_precision": str(accelerator.mixed_precision),
        "weights_sha256": gather_object([weights_sha256(trainer.model)]),  # one per rank, rank order
    }


def precision_warning(recipe_bf16: bool, mixed_precision: str) -> str | None:
    """A warning when accelerate's mixed precision is not the recipe's (its config wins, silently)."""
    wanted = "bf16" if recipe_bf16 else "no"
    if mixed_precision == wanted or (recipe_bf16 and mixed_precision == "fp16"):
        return None
    return (f"warning: accelerate trains with mixed_precision={mixed_precision}, the recipe says bf16={str(recipe_bf16).lower()}; "
            f"accelerate's setting wins (pass `accelerate launch --mixed_precision {wanted}` to follow the recipe)")


# Settings that may change when resuming; anything else must match the first run.
RESUME_MUTABLE = {"max_steps", "save_steps", "logging_steps", "save_total_limit"}


def resume_checkpoint(out: Path, resume: bool, record: Mapping[str, Any]) -> Path | None:
    """The checkpoint to resume from (or None for a fresh run); refuses to mix two different runs."""
    checkpoint = last_checkpoint(out)
    previous_file = out / RECIPE_FILE
    if not resume:
        if checkpoint is not None or previous_file.exists():
            raise SkillmixError(f"{out} already holds a training run; pass --resume to continue it or pick a new --out")
        return None
    if checkpoint is None:
        raise SkillmixError(f"--resume: no checkpoint-N folder in {out} (nothing to resume)")
    if previous_file.exists():
        previous = read_json(previous_file)
        changed = sorted(
            k for k in {*previous["recipe"], *record["recipe"]} - RESUME_MUTABLE
            if previous["recipe"].get(k) != record["recipe"].get(k)
        )
        if previous.get("data") != record["data"]:
            changed.append("data (files or their contents)")
        if previous.get("base_model", {}).get("spec") != record["base_model"]["spec"]:
            changed.append("base model")
        if changed:
            raise SkillmixError(f"--resume: settings differ from the run in {out}: {', '.join(changed)}")
    return checkpoint


def run_record(recipe: TrainRecipe, prepared: Prepared, plan: TrainPlan | None) -> dict[str, Any]:
    return {
        "recipe": recipe.model_dump(mode="json"),
        "seed": recipe.seed,
        "base_model": asdict(prepared.source),
        "data": prepared.data,
        "chat_template": {
            "source": prepared.template_source,
            "sha256": hashlib.sha256(prepared.template.encode()).hexdigest(),
            "text": prepared.template,
        },
        "eot_token_ids": list(prepared.eot_token_ids),
        "eot_tokens": [prepared.tokenizer.convert_ids_to_tokens(i) for i in prepared.eot_token_ids],
        "examples": asdict(prepared.report),
        "plan": asdict(plan) if plan else None,
        "versions": versions(),
        "provenance": run_provenance(),
    }


def describe(report: EncodeReport, plan: TrainPlan, recipe: TrainRecipe) -> list[str]:
    lines = [
        f"examples: {report.examples} ({report.conversations} conversations, {report.mix_examples} generic texts); "
        f"{report.tokens} tokens, {report.trained_tokens} trained, longest {report.max_tokens}",
        f"batch: {plan.rows_per_step} {'packed rows' if recipe.packing == 'bfd' else 'examples'} per step "
        f"= {recipe.per_device_train_batch_size} x {plan.world_size} processes x {plan.gradient_accumulation_steps} "
        f"accumulation; ~{plan.tokens_per_step:.0f} tokens/step; {recipe.max_steps} steps = {plan.epochs:.2f} epochs",
        f"packing: {recipe.packing}",
    ]
    if report.dropped_too_long:
        lines.append(
            f"DROPPED {report.dropped_too_long} of {report.conversations} conversations longer than "
            f"max_length={recipe.max_length} (an answer's end-of-turn would be cut); raise max_length to keep them"
        )
    return lines
