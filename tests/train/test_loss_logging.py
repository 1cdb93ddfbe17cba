"""The loss is logged at the first and the last step whatever ``logging_steps`` is (docs/training.md).

Before this, an 8-step run with the default ``logging_steps=10`` wrote no ``train_log.jsonl`` at all.
The real runs train the tiny test model on CPU; the callback table needs only transformers.
"""

from __future__ import annotations

import math
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported: no hub calls, ever

from skillmix.train.outputs import LOG_FILE, make_log_callback, read_log

# Full-batch steps on the 8 fixture conversations; no checkpoints unless a case asks for them.
FAST = ["per_device_train_batch_size=8", "gradient_accumulation_steps=1", "learning_rate=3e-3", "warmup_steps=0",
        "bf16=false", "save_steps=1000", "dataloader_pin_memory=false"]


def recipe(*settings: str):
    from skillmix.train.recipe import (
        TrainRecipe,
        apply_overrides,
        parse_overrides,
        trainer_field_types,
    )

    return apply_overrides(TrainRecipe(), parse_overrides([*FAST, *settings]), trainer_field_types())


@pytest.mark.parametrize(
    "step, max_steps, logs",
    [(1, 8, True), (2, 8, False), (7, 8, False), (8, 8, True), (1, 1, True), (4000, 4000, True), (3999, 4000, False)],
)
def test_the_log_callback_asks_for_the_first_and_last_step(tmp_path, step, max_steps, logs):
    pytest.importorskip("transformers", reason="needs skillmix[train]")
    from transformers import TrainerControl, TrainerState

    state, control = TrainerState(global_step=step, max_steps=max_steps), TrainerControl()
    make_log_callback(tmp_path / LOG_FILE, echo=lambda _: None).on_step_end(None, state, control)
    assert control.should_log is logs


@pytest.mark.slow
@pytest.mark.train
@pytest.mark.parametrize(
    "max_steps, logging_steps, logged",
    [
        (8, 10, [1, 8]),  # the case: today no train_log.jsonl at all
        (6, 4, [1, 4, 6]),  # the last step is not a multiple of logging_steps
    ],
)
@pytest.mark.slow
def test_short_runs_log_the_first_and_last_loss(tmp_path, tiny, data, max_steps, logging_steps, logged):
    from skillmix.train.loop import train

    out = tmp_path / "out"
    record = train([data], str(tiny), out, recipe(f"max_steps={max_steps}", f"logging_steps={logging_steps}"),
                   echo=lambda _: None)
    log = read_log(out / LOG_FILE)
    assert [r["step"] for r in log] == logged
    assert all(math.isfinite(r["loss"]) and r["loss"] > 0 for r in log)
    assert record["global_step"] == max_steps and log[-1]["epoch"] == float(max_steps)  # 1 step = 1 epoch here


@pytest.mark.slow
@pytest.mark.train
def test_a_resumed_run_logs_its_last_step(tmp_path, tiny, data):
    from skillmix.train.loop import train

    out = tmp_path / "out"
    train([data], str(tiny), out, recipe("max_steps=2", "save_steps=2", "logging_steps=10"), echo=lambda _: None)
    assert [r["step"] for r in read_log(out / LOG_FILE)] == [1, 2]
    train([data], str(tiny), out, recipe("max_steps=5", "save_steps=2", "logging_steps=10"), resume=True,
          echo=lambda _: None)
    assert [r["step"] for r in read_log(out / LOG_FILE)] == [1, 2, 5]
