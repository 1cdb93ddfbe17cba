"""Multi-process training, proven on CPU (docs/training.md, "Multi-process training").

One ``accelerate launch --num_processes 2 --config_file configs/accelerate/ddp.yaml -m skillmix train``
run (gloo, the tiny test model, 2 steps) is shared by the checks: both ranks end with the same
weights, which are the saved ones; every step consumed the recipe's global batch; and the
checkpoint evaluates as ``hf/<out>`` with a loopback grader.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from skillmix.engine.local_server import free_port
from skillmix.testing.cli import REPO, cli_env
from skillmix.testing.fake_openai import FakeOpenAI, skillmix_reply
from skillmix.testing.tiny_model import build_tiny_model, write_dataset
from skillmix.train.outputs import LOG_FILE, RECIPE_FILE, read_log

STEPS = 2
# Global batch 8 = 2 per device x 2 processes x 2 accumulation: all 8 fixture conversations each step.
RECIPE = [f"max_steps={STEPS}", "per_device_train_batch_size=2", "effective_batch_size=8", "logging_steps=1",
          "bf16=false", "learning_rate=1e-3", "warmup_steps=0", "save_steps=1000", "dataloader_pin_memory=false"]


def accelerate_launch(config: Path, data: Path, base: Path, out: Path) -> subprocess.CompletedProcess[str]:
    """The documented command line; ``python -m accelerate.commands.accelerate_cli`` is the ``accelerate`` script."""
    command = [
        sys.executable, "-m", "accelerate.commands.accelerate_cli", "launch", "--num_processes", "2",
        "--config_file", str(config), "--main_process_port", str(free_port()),
        "-m", "skillmix", "train", "--data", str(data), "--base-model", str(base), "--out", str(out), *RECIPE,
    ]
    # One thread per process: 2 processes on 2 shared cores.
    return subprocess.run(command, check=False, capture_output=True, text=True,
                          env=cli_env({"OMP_NUM_THREADS": "1"}), timeout=600)


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory) -> dict[str, Path]:
    pytest.importorskip("trl", reason="needs skillmix[train]")
    root = tmp_path_factory.mktemp("ddp")
    paths = {"base": build_tiny_model(root / "base"), "data": write_dataset(root / "data"), "out": root / "out"}
    done = accelerate_launch(REPO / "configs" / "accelerate" / "ddp.yaml", paths["data"], paths["base"], paths["out"])
    assert done.returncode == 0, done.stderr[-3000:]
    return paths


def digest_of_folder(folder: Path) -> str:
    from transformers import AutoModelForCausalLM

    from skillmix.train.outputs import weights_sha256

    return weights_sha256(AutoModelForCausalLM.from_pretrained(folder))


@pytest.mark.train
def test_weights_sha256_sees_every_parameter_byte(tmp_path):
    """The digest the ranks compare: equal for equal weights, different for one changed value or dtype."""
    import torch
    from transformers import AutoModelForCausalLM

    from skillmix.train.outputs import weights_sha256

    base = build_tiny_model(tmp_path / "base")
    a, b = AutoModelForCausalLM.from_pretrained(base), AutoModelForCausalLM.from_pretrained(base)
    assert weights_sha256(a) == weights_sha256(b)
    with torch.no_grad():
        b.model.layers[1].mlp.down_proj.weight[3, 5] += 1e-6
    assert weights_sha256(a) != weights_sha256(b)
    assert weights_sha256(a) != weights_sha256(a.to(torch.bfloat16))


@pytest.mark.slow
@pytest.mark.train
def test_ddp_ranks_end_with_identical_weights_which_are_the_saved_ones(ddp_run):
    record = json.loads((ddp_run["out"] / RECIPE_FILE).read_text())
    distributed = record["distributed"]
    assert (distributed["type"], distributed["processes"]) == ("MULTI_CPU", 2)  # a real gloo group of 2
    rank0, rank1 = distributed["weights_sha256"]
    assert rank0 == rank1
    assert digest_of_folder(ddp_run["out"]) == rank0  # the saved model is the trained replicas
    assert digest_of_folder(ddp_run["base"]) != rank0  # and training changed it


@pytest.mark.slow
@pytest.mark.train
def test_ddp_global_batch_is_the_recipes(ddp_run):
    import torch

    out = ddp_run["out"]
    record = json.loads((out / RECIPE_FILE).read_text())
    plan, recipe = record["plan"], record["recipe"]
    state = json.loads((out / f"checkpoint-{STEPS}" / "trainer_state.json").read_text())
    args = torch.load(out / "training_args.bin", weights_only=False)  # what the Trainer really ran with
    per_device, accumulation = state["train_batch_size"], args.gradient_accumulation_steps
    assert (per_device, plan["world_size"], accumulation) == (2, 2, 2)
    assert per_device * plan["world_size"] * accumulation == recipe["effective_batch_size"] == plan["rows_per_step"] == 8
    # Each step consumed the whole global batch: the 8 conversations once (1 epoch), every token of them.
    log = read_log(out / LOG_FILE)
    assert [r["step"] for r in log] == list(range(1, STEPS + 1))  # rank 0 alone writes the log
    assert [r["epoch"] for r in log] == [float(s) for s in range(1, STEPS + 1)]
    assert [r["tokens"] for r in log] == [s * record["examples"]["tokens"] for s in range(1, STEPS + 1)]
    assert record["global_step"] == STEPS and record["status"] == "done"


@pytest.mark.slow
@pytest.mark.train
def test_ddp_checkpoint_evaluates_through_hf(ddp_run, run_cli, tmp_path):
    def reply(request: dict) -> str:
        return skillmix_reply(request, answer="Bees hum like a choir.", points="1/1")

    with FakeOpenAI(reply_fn=reply) as fake:
        env = {"FAKE_BASE_URL": fake.base_url, "FAKE_API_KEY": "k", "INSPECT_CACHE_DIR": str(tmp_path / "cache")}
        out = tmp_path / "eval"
        done = run_cli("eval", "--student", f"hf/{ddp_run['out']}", "--grader", "openai-api/fake/g", "--k", "1",
                       "--combinations", "1", "--generations", "1", "--gradings", "3", "--out", out, "--display", "none",
                       env=env, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        assert fake.calls == 3  # only the grader is remote: 1 generation x 3 gradings
    records = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(records) == 1 and all(r["error"] is None for r in records)
    assert all([m["role"] for m in r["messages"]] == ["user", "assistant", "user", "assistant"] for r in records)
    assert json.loads((out / "results.json").read_text())["metrics"]["1"]["n_scored"] == 1
