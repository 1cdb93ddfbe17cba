"""Supervised fine-tuning on D_SKILL-MIX with TRL's SFTTrainer: the training loop (protocol §7).

The recipe lives in ``skillmix.train.recipe``, the data preparation in ``skillmix.train.sft_data``
and the run folder in ``skillmix.train.outputs``. torch/transformers/trl/peft/datasets are
imported inside functions.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from skillmix.formats.files import write_json
from skillmix.train.base_model import BaseModelSource, load_model
from skillmix.train.outputs import (
    LOG_FILE,
    PLOT_FILE,
    RECIPE_FILE,
    checkpoint_step,
    describe,
    distributed_record,
    make_log_callback,
    peak_rss_mb,
    plot_loss,
    precision_warning,
    read_log,
    resume_checkpoint,
    run_record,
    trim_log,
)
from skillmix.train.recipe import (
    TrainRecipe,
    checked_trainer_args,
    gradient_accumulation,
    train_plan,
    trainer_field_types,
)
from skillmix.train.sft_data import Prepared, prepare


def sft_config(recipe: TrainRecipe, out: Path, accumulation: int) -> Any:
    from trl import SFTConfig

    kwargs: dict[str, Any] = {
        "output_dir": str(out),
        "max_steps": recipe.max_steps,
        "per_device_train_batch_size": recipe.per_device_train_batch_size,
        "gradient_accumulation_steps": accumulation,
        "learning_rate": recipe.learning_rate,
        "lr_scheduler_type": recipe.lr_scheduler_type,
        "warmup_steps": recipe.warmup_steps,
        "optim": recipe.optim,
        "weight_decay": recipe.weight_decay,
        "max_grad_norm": recipe.max_grad_norm,
        # Without packing, examples are already cut to max_length by skillmix (and TRL refuses a
        # max_length with padding_free but no packing); with bfd it is the packed row length.
        "max_length": recipe.max_length if recipe.packing == "bfd" else None,
        "packing": recipe.packing == "bfd",
        "packing_strategy": "bfd",
        "padding_free": recipe.packing != "off",
        "bf16": recipe.bf16,
        "fp16": False,
        # transformers 5 renamed gradient_checkpointing (a deprecated alias now); use whichever exists.
        checkpointing_key(): recipe.gradient_checkpointing,
        "logging_steps": recipe.logging_steps,
        "save_steps": recipe.save_steps,
        "save_total_limit": recipe.save_total_limit,
        "seed": recipe.seed,
        "data_seed": recipe.seed,
        "report_to": "none",
        # Without an accelerator, say so: accelerate only runs several CPU processes (gloo) with use_cpu.
        "use_cpu": not accelerator_available(),
        **recipe.trainer_args,
    }
    return SFTConfig(**kwargs)


def accelerator_available() -> bool:
    import torch

    return torch.cuda.is_available() or torch.backends.mps.is_available() or (
        hasattr(torch, "xpu") and torch.xpu.is_available()
    )


def checkpointing_key() -> str:
    from trl import SFTConfig

    names = {f.name for f in dataclasses.fields(SFTConfig)}
    return "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"


def lora_config(recipe: TrainRecipe) -> Any:
    if not recipe.lora:
        return None
    from peft import LoraConfig

    target = recipe.lora_target_modules
    return LoraConfig(
        r=recipe.lora_r,
        lora_alpha=recipe.lora_alpha,
        lora_dropout=recipe.lora_dropout,
        target_modules=target if isinstance(target, str) else list(target),
        task_type="CAUSAL_LM",
    )


def add_stop_tokens(model: Any, token_ids: Sequence[int]) -> None:
    """Make generation stop at the end-of-turn token(s) the model was trained to emit (docs/pitfalls.md #6)."""
    current = model.generation_config.eos_token_id
    current = [] if current is None else [current] if isinstance(current, int) else list(current)
    model.generation_config.eos_token_id = sorted({*current, *token_ids})


def train(
    data_dirs: Sequence[Path],
    base_model: str,
    out: Path,
    recipe: TrainRecipe,
    resume: bool = False,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Fine-tune ``base_model`` on the conversations in ``data_dirs``; write the model and records to ``out``."""
    import datasets
    from accelerate import PartialState
    from trl import SFTTrainer

    trainer_args = checked_trainer_args(recipe.trainer_args, trainer_field_types())
    recipe = recipe.model_copy(update={"trainer_args": trainer_args})
    # The SFTConfig sets up the distributed state (gloo on CPU, NCCL on GPUs); only then is the
    # number of processes, hence the gradient accumulation, known.
    args = sft_config(recipe, out, accumulation=1)
    state = PartialState()
    args = dataclasses.replace(args, gradient_accumulation_steps=gradient_accumulation(recipe, state.num_processes))
    prepared = prepare(data_dirs, base_model, recipe)
    record = run_record(recipe, prepared, None)
    checkpoint = resume_checkpoint(out, resume, record)
    state.wait_for_everyone()  # every rank checks --out before rank 0 writes to it

    model = load_model(prepared.source, recipe)
    add_stop_tokens(model, prepared.eot_token_ids)
    rows = [{"input_ids": list(e.input_ids), "labels": list(e.labels)} for e in prepared.examples]
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=datasets.Dataset.from_list(rows),
        processing_class=prepared.tokenizer,
        peft_config=lora_config(recipe),
        callbacks=[make_log_callback(out / LOG_FILE, echo)],
    )
    # Rows as the trainer sees them: with packing, fewer than the examples.
    trained_rows: Any = trainer.train_dataset  # a datasets.Dataset (sized); torch's type says IterableDataset too
    plan = train_plan(recipe, state.num_processes, len(trained_rows), prepared.report.tokens)
    record = run_record(recipe, prepared, plan) | {"status": "running", "resumed_from": str(checkpoint) if checkpoint else None}
    if state.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        for line in describe(prepared.report, plan, recipe):
            echo(line)
        if warning := precision_warning(recipe.bf16, str(trainer.accelerator.mixed_precision)):
            echo(warning)
        if checkpoint is not None:
            trim_log(out / LOG_FILE, checkpoint_step(checkpoint))
            echo(f"resuming from {checkpoint}")
        write_json(out / RECIPE_FILE, record)

    started = time.time()
    result = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    distributed = distributed_record(trainer)  # every rank, before a LoRA merge changes rank 0's weights
    save_model(trainer, prepared, recipe, out, state.is_main_process, echo)
    record |= {
        "status": "done",
        "distributed": distributed,
        "global_step": trainer.state.global_step,
        "final_loss": result.training_loss,
        "train_seconds": time.time() - started,
        "peak_rss_mb": peak_rss_mb(),
    }
    if state.is_main_process:
        write_json(out / RECIPE_FILE, record)
        plot_loss(read_log(out / LOG_FILE), out / PLOT_FILE)
        echo(f"model: {out}  log: {out / LOG_FILE}  plot: {out / PLOT_FILE}")
    return record


def should_merge(recipe: TrainRecipe, source: BaseModelSource) -> bool:
    if recipe.merge_lora is not None:
        return recipe.merge_lora
    return source.gguf_file is not None


def save_model(
    trainer: Any, prepared: Prepared, recipe: TrainRecipe, out: Path, main: bool, echo: Callable[[str], None]
) -> None:
    """Save an HF model folder (+ tokenizer and chat template); LoRA: the adapter, or the merged model."""
    if recipe.lora and should_merge(recipe, prepared.source):
        if main:
            why = "merge_lora=true" if recipe.merge_lora else "an adapter cannot point to a GGUF base"
            echo(f"merging the LoRA adapter into the base model ({why})")
            merged = trainer.accelerator.unwrap_model(trainer.model).merge_and_unload()
            merged.save_pretrained(out)
            prepared.tokenizer.save_pretrained(out)
        return
    trainer.save_model(str(out))
    if main:
        prepared.tokenizer.save_pretrained(out)
