"""CLI for fine-tuning on D_SKILL-MIX (protocol §7): ``skillmix train``.

The training library (torch, transformers, trl) is imported inside the command, so
``skillmix --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.text import Text

from skillmix.cli import app

SETTINGS_HELP = (
    "key=value settings over the recipe: recipe keys (max_steps, learning_rate, packing, chat_template, mix_ratio, "
    "...) or any trl.SFTConfig / TrainingArguments field (see --list-keys)."
)


def mask_view(segments: list[tuple[str, bool]]) -> Text:
    """Trained text in [[ ]] and highlighted, the rest dimmed."""
    text = Text()
    for chunk, trained in segments:
        text.append(f"[[{chunk}]]" if trained else chunk, style="bold black on green" if trained else "dim")
    return text


def type_name(hint: object) -> str:
    return hint.__name__ if isinstance(hint, type) else str(hint).replace("typing.", "")


def print_keys(console: Console) -> None:
    from skillmix.train.recipe import RESERVED_TRAINER_ARGS, TrainRecipe, trainer_field_types

    console.print("[bold]recipe keys[/bold] (configs/train/*.yaml)")
    for name, field in TrainRecipe.model_fields.items():
        default = "{}" if field.default_factory else repr(field.default)
        console.print(f"  {name}: {type_name(field.annotation)} = {default}", markup=False, highlight=False,
                      soft_wrap=True)
    console.print("[bold]trl.SFTConfig / TrainingArguments fields[/bold] (stored in trainer_args)")
    for name, hint in sorted(trainer_field_types().items()):
        if name not in RESERVED_TRAINER_ARGS and name not in TrainRecipe.model_fields:
            console.print(f"  {name}: {type_name(hint)}", markup=False, highlight=False, soft_wrap=True)


@app.command("train")
def train_cmd(
    settings: Optional[list[str]] = typer.Argument(None, help=SETTINGS_HELP, show_default=False),
    data: Optional[str] = typer.Option(None, "--data", help="Dataset folder(s) with data.jsonl, comma-separated."),
    base_model: Optional[str] = typer.Option(
        None, "--base-model", help="HF model folder, hub id, .gguf file, or 'local' (embedded Gemma 3 270M GGUF)."
    ),
    out: Optional[Path] = typer.Option(None, "--out", help="Output folder: model, checkpoints, logs."),
    config: Optional[str] = typer.Option(
        None, "--config", "--recipe",
        help="Recipe: a shipped name (paper, laptop) or a YAML file (default: the paper recipe).",
    ),
    lora: bool = typer.Option(False, "--lora", help="Train a LoRA adapter instead of all weights."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the last checkpoint in --out."),
    show_masks: int = typer.Option(
        0, "--show-masks", help="Print which tokens are trained for the first N examples; no training."
    ),
    list_keys: bool = typer.Option(False, "--list-keys", help="List every setting key and exit."),
) -> None:
    """Fine-tune a model on D_SKILL-MIX conversations (loss on the two answers only)."""
    from skillmix.cli._common import fail

    console = Console()
    if list_keys:
        print_keys(console)
        return
    if data is None or base_model is None or (out is None and not show_masks):
        fail("skillmix train needs --data DIR[,DIR...], --base-model and --out")
        return
    from skillmix.train import loop as training
    from skillmix.train import recipe as recipes
    from skillmix.train import sft_data

    recipe = recipes.load_recipe(recipes.recipe_file(config) if config else None)
    overrides = recipes.parse_overrides(settings or [])
    if lora:
        overrides.setdefault("lora", "true")
    data_dirs = [Path(d) for d in data.split(",") if d.strip()]
    sft_data.check_inputs(data_dirs, base_model)
    recipe = recipes.apply_overrides(recipe, overrides, recipes.trainer_field_types())
    if show_masks:
        for i, segments in enumerate(sft_data.show_masks(data_dirs, base_model, recipe, show_masks)):
            console.rule(f"example {i}")
            console.print(mask_view(segments), soft_wrap=True)
        return
    assert out is not None
    training.train(
        data_dirs, base_model, out, recipe, resume=resume,
        echo=lambda line: console.print(line, markup=False, highlight=False),
    )
