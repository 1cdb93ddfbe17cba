"""Training through a launcher from ``skillmix run`` (docs/experiments.md, "Training on several GPUs").

Fast tests: the launch command, what of a launcher enters a training key, the dry run, the child
process group (progress, Ctrl-C, a SIGKILLed runner, leftovers of a killed run) and the GPU memory
arithmetic. The slow test runs a tiny grid with a 2-process gloo launch, kills it while it trains,
and re-runs it to the end.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from skillmix.experiment import load_config, plan, run_experiment, stage_keys
from skillmix.experiment.config import ExperimentConfig, Launcher
from skillmix.experiment.launcher import (
    ACCELERATE,
    LOG_NAME,
    bytes_per_parameter,
    launch_command,
    launch_layout,
    memory_per_process,
    memory_warning,
    run_launch,
    stop_leftovers,
    trainers_writing_to,
)
from skillmix.experiment.preflight import memory_warnings
from skillmix.train.recipe import recipe_file

REPO = Path(__file__).resolve().parents[2]
ACCELERATE_CONFIGS = REPO / "configs" / "accelerate"


def grid(launcher: dict | None = None, **finetune: object) -> dict:
    config: dict = {
        "name": "launch",
        "models": {"teacher": "openai-api/fake/teacher", "grader": "openai-api/fake/grader",
                   "student": "openai-api/fake/student", "student_base": "org/Tiny-1.5b"},
        "datasets": [{"name": "D1", "k": 1, "n": 2}],
        "finetunes": [{"name": "ft", "data": "D1", "recipe": "laptop", **finetune}],
        "evaluation": {"settings": ["II"], "k": [1], "combinations": 1, "generations": 1, "gradings": 1},
    }
    if launcher is not None:
        config["training"] = {"launcher": launcher}
    return config


def write_config(folder: Path, config: dict) -> Path:
    path = folder / "experiment.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def train_key(config: dict, run_dir: Path) -> str:
    stages = plan(ExperimentConfig.model_validate(config), run_dir)
    return stage_keys(stages)["train:ft"]


def test_launch_command_is_accelerate_launch_of_skillmix_train(tmp_path):
    (tmp_path / "acc").mkdir()
    (tmp_path / "acc" / "fsdp.yaml").write_text((ACCELERATE_CONFIGS / "fsdp.yaml").read_text())
    launcher = {"kind": "accelerate", "config_file": "acc/fsdp.yaml", "num_processes": 8, "main_process_port": 29501}
    config = load_config(write_config(tmp_path, grid(launcher, lora=True, overrides={"max_steps": 4, "learning_rate": 1e-5,
                                                                                       "chat_template": None})))
    run_dir = tmp_path / "run"
    out = run_dir / "train" / "ft"
    command = launch_command(config, run_dir, config.finetunes[0], out, resume=True)
    assert command == [
        *ACCELERATE, "--config_file", str(tmp_path / "acc" / "fsdp.yaml"),  # relative to the config file
        "--num_processes", "8", "--main_process_port", "29501",
        "-m", "skillmix", "train", "--data", str(run_dir.resolve() / "data" / "D1"), "--base-model", "org/Tiny-1.5b",
        "--out", str(out.resolve()), "--recipe", str(recipe_file("laptop")), "--resume",
        "chat_template=null", "learning_rate=1.0e-05", "max_steps=4", "lora=true",  # the file's order
    ]
    assert ACCELERATE[:3] == [sys.executable, "-m", "accelerate.commands.accelerate_cli"]
    assert "--resume" not in launch_command(config, run_dir, config.finetunes[0], out, resume=False)


def test_overrides_reach_skillmix_train_as_the_same_values():
    from skillmix.experiment.config import Finetune, override_settings
    from skillmix.train.recipe import apply_overrides, load_recipe, parse_overrides

    f = Finetune(name="ft", data="D1", recipe="paper", lora=True,
                 overrides={"learning_rate": 1e-5, "bf16": False, "max_steps": 8, "chat_template": None,
                            "packing": "bfd"})
    text = [f"{k}={v}" for k, v in override_settings(f).items()]  # as the command line carries them
    recipe = apply_overrides(load_recipe(recipe_file("paper")), parse_overrides(text), {})  # recipe keys only
    assert (recipe.learning_rate, recipe.bf16, recipe.max_steps, recipe.chat_template, recipe.packing, recipe.lora) == (
        1e-5, False, 8, None, "bfd", True)


def test_a_finetune_may_use_its_own_launcher():
    config = ExperimentConfig.model_validate(
        {**grid({"kind": "accelerate", "config_file": "/x/fsdp.yaml"}),
         "finetunes": [{"name": "a", "data": "D1"}, {"name": "b", "data": "D1", "training": {"launcher": {"kind": "none"}}}]})
    assert [config.launcher(f).kind for f in config.finetunes] == ["accelerate", "none"]


@pytest.mark.parametrize(("launcher", "message"), [
    ({"kind": "accelerate"}, "needs config_file"),
    ({"kind": "none", "num_processes": 2}, "need kind: accelerate"),
    ({"kind": "torchrun", "config_file": "x.yaml"}, "'none' or 'accelerate'"),
    ({"kind": "accelerate", "config_file": "x.yaml", "num_processes": 0}, "greater than or equal to 1"),
])
def test_bad_launcher_is_refused(launcher, message):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=message):
        Launcher.model_validate(launcher)


def test_strategy_is_identity_process_count_and_addresses_are_not(tmp_path):
    run_dir = tmp_path / "run"
    fsdp = {"kind": "accelerate", "config_file": str(ACCELERATE_CONFIGS / "fsdp.yaml"), "num_processes": 4}
    ddp = {**fsdp, "config_file": str(ACCELERATE_CONFIGS / "ddp.yaml")}
    key = train_key(grid(fsdp), run_dir)
    assert train_key(grid(ddp), run_dir) != key  # FSDP against DDP: another checkpoint
    moved = tmp_path / "elsewhere.yaml"
    moved.write_text((ACCELERATE_CONFIGS / "fsdp.yaml").read_text())
    assert train_key(grid({**fsdp, "config_file": str(moved)}), run_dir) == key  # the content, not the path
    operational = {"num_processes": 16, "num_machines": 2, "machine_rank": 1, "main_process_ip": "10.0.0.1",
                   "main_process_port": 29555}
    assert train_key(grid({**fsdp, **operational}), run_dir) == key
    content = yaml.safe_load(moved.read_text())
    moved.write_text(yaml.safe_dump({**content, "num_processes": 8, "gpu_ids": "0,1"}))  # the file's own count
    assert train_key(grid({**fsdp, "config_file": str(moved)}), run_dir) == key
    moved.write_text(yaml.safe_dump({**content, "mixed_precision": "no"}))
    assert train_key(grid({**fsdp, "config_file": str(moved)}), run_dir) != key


def test_in_process_training_keeps_the_keys_it_had():
    config = ExperimentConfig.model_validate(grid())
    spec = next(s.spec for s in plan(config, Path("run")) if s.kind == "train")
    assert "launcher" not in spec  # keys of runs finished before launchers existed stay valid
    assert train_key(grid({"kind": "none"}), Path("run")) == train_key(grid(), Path("run"))


def test_dry_run_rows_carry_the_launch_command(tmp_path):
    launcher = {"kind": "accelerate", "config_file": str(ACCELERATE_CONFIGS / "ddp.yaml"), "num_processes": 2}
    config = load_config(write_config(tmp_path, grid(launcher, overrides={"max_steps": 3})))
    run_dir = tmp_path / "run"
    rows = {r["stage"]: r for r in run_experiment(config, run_dir, dry_run=True, check=False)}
    out = run_dir / "train" / "ft"
    assert rows["train:ft"]["launch"] == shlex.join(launch_command(config, run_dir, config.finetunes[0], out, False))
    assert "launch" not in rows["data:D1"] and not run_dir.exists()
    (out / "checkpoint-2").mkdir(parents=True)  # killed after a checkpoint, same key: the launch resumes
    (out / "checkpoint-2" / "trainer_state.json").write_text("{}")
    (out / ".skillmix-stage.json").write_text(json.dumps({"key": rows["train:ft"]["key"], "status": "running"}))
    rows = {r["stage"]: r for r in run_experiment(config, run_dir, dry_run=True, check=False)}
    assert rows["train:ft"]["launch"].endswith("--resume max_steps=3")


@pytest.mark.slow
def test_dry_run_prints_the_launch_command(tmp_path, run_cli):
    """The CLI, as a user runs it (slow: its preflight imports trl and torch in a fresh process)."""
    launcher = {"kind": "accelerate", "config_file": str(ACCELERATE_CONFIGS / "ddp.yaml"), "num_processes": 2}
    path = write_config(tmp_path, grid(launcher, overrides={"max_steps": 3}))
    env = {"FAKE_BASE_URL": "http://127.0.0.1:9/v1", "FAKE_API_KEY": "k"}
    done = run_cli("run", str(path), "--out", str(tmp_path / "run"), "--dry-run", env=env)
    assert done.returncode == 0, done.stderr
    config = load_config(path)
    expected = shlex.join(launch_command(config, tmp_path / "run", config.finetunes[0], tmp_path / "run" / "train" / "ft",
                                         resume=False))
    assert f"train:ft: {expected}" in done.stdout.splitlines()
    assert not (tmp_path / "run").exists()
    done = run_cli("run", str(path), "--out", str(tmp_path / "run"), "--dry-run", "--json", env=env)
    rows = {r["stage"]: r for r in json.loads(done.stdout)}
    assert rows["train:ft"]["launch"] == expected


def test_missing_or_broken_accelerate_config_is_a_preflight_problem(tmp_path):
    from skillmix.experiment.preflight import launcher_problems

    config = load_config(write_config(tmp_path, grid({"kind": "accelerate", "config_file": "nowhere/fsdp.yaml"})))
    assert launcher_problems(config, config.finetunes[0]) == [
        f"finetune 'ft': accelerate config {tmp_path / 'nowhere' / 'fsdp.yaml'} not found; see configs/accelerate/"]
    (tmp_path / "broken.yaml").write_text("distributed_type: [FSDP\n")
    config = load_config(write_config(tmp_path, grid({"kind": "accelerate", "config_file": "broken.yaml"})))
    assert launcher_problems(config, config.finetunes[0])[0].startswith(
        f"finetune 'ft': {tmp_path / 'broken.yaml'} is not an accelerate config (")
    assert launcher_problems(ExperimentConfig.model_validate(grid()), config.finetunes[0]) == []  # in-process


# ---- the child process group -------------------------------------------------------------------

SLEEPER = "import sys, time; print('step 1/4', flush=True); time.sleep(120)"


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def wait_gone(pid: int, seconds: float = 15) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not alive(pid)


def test_progress_is_forwarded_and_stderr_logged(tmp_path):
    lines: list[str] = []
    code = run_launch([sys.executable, "-c", "import sys; print('step 1/2 loss 1.0'); print('oops', file=sys.stderr); "
                       "sys.exit(3)"], tmp_path / "out", lines.append)
    assert code == 3
    assert lines[1:] == ["    step 1/2 loss 1.0"] and lines[0].startswith("  ")  # the command, then its progress
    assert (tmp_path / "out" / LOG_NAME).read_text() == "oops\n"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_interrupt_stops_the_whole_group(tmp_path):
    """Ctrl-C in the runner (here: raised by the progress callback) stops the launch and its children."""
    pid_file = tmp_path / "child.pid"
    script = (f"import subprocess, sys, time; c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); "
              f"open({str(pid_file)!r}, 'w').write(str(c.pid)); print('step 1/4', flush=True); time.sleep(120)")

    def interrupt(line: str) -> None:
        if line.startswith("    step"):  # the progress line, not the command shown before it
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_launch([sys.executable, "-c", script], tmp_path / "out", interrupt)
    assert wait_gone(int(pid_file.read_text()))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux's")
def test_a_sigkilled_runner_leaves_no_launch_behind(tmp_path):
    pid_file = tmp_path / "launch.pid"
    runner = (f"import os, sys; from pathlib import Path; from skillmix.experiment.launcher import run_launch; "
              f"run_launch([sys.executable, '-c', \"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); "
              f"print('step 1/4', flush=True); time.sleep(120)\"], Path({str(tmp_path / 'out')!r}), print)")
    proc = subprocess.Popen([sys.executable, "-c", runner], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not (pid_file.is_file() and pid_file.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    launched = int(pid_file.read_text())
    assert alive(launched)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert wait_gone(launched)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_leftover_trainers_of_a_killed_run_are_stopped(tmp_path):
    out = (tmp_path / "train" / "ft").resolve()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "-m", "skillmix", "train",
                              "--out", str(out) + "-2"])
    leftover = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "-m", "skillmix", "train",
                                 "--data", "d", "--out", str(out)])
    try:
        time.sleep(0.2)
        assert trainers_writing_to(out) == [leftover.pid]  # not the one writing elsewhere
        lines: list[str] = []
        stop_leftovers(out, lines.append)
        assert leftover.wait(timeout=15) == -signal.SIGTERM
        assert lines and str(leftover.pid) in lines[0]
        assert trainers_writing_to(out) == [] and other.poll() is None
    finally:
        for p in (other, leftover):
            p.kill()
            p.wait()


# ---- memory per GPU ----------------------------------------------------------------------------

@pytest.mark.parametrize(("lora", "dtype", "params", "processes", "sharded", "gb"), [
    (False, "float32", 13e9, 1, False, 208.0),  # 13B x 16 bytes: the paper's student on one GPU
    (False, "float32", 13e9, 4, False, 208.0),  # DDP: every GPU holds all of it
    (False, "float32", 13e9, 4, True, 52.0),  # FSDP over 4: a quarter each
    (False, "float32", 13e9, 8, True, 26.0),
    (False, "bfloat16", 7e9, 4, True, 14.0),  # bf16 weights and Adam state: 8 bytes
    (True, "float32", 13e9, 4, False, 52.0),  # LoRA: the frozen fp32 weights
    (True, "bfloat16", 13e9, 4, False, 26.0),
])
def test_memory_per_gpu_table(lora, dtype, params, processes, sharded, gb):
    assert memory_per_process(params, bytes_per_parameter(lora, dtype), processes, sharded) == pytest.approx(gb * 1e9)


def test_launch_layout_of_the_shipped_configs(tmp_path):
    def layout(name: str, **extra: object) -> tuple[int, bool]:
        return launch_layout(Launcher(kind="accelerate", config_file=str(ACCELERATE_CONFIGS / name), **extra))

    assert layout("fsdp.yaml") == (4, True)
    assert layout("fsdp.yaml", num_processes=8) == (8, True)
    assert layout("ddp.yaml") == (4, False)
    assert layout("deepspeed_zero3.yaml") == (4, True)
    zero2 = tmp_path / "zero2.yaml"
    zero2.write_text(yaml.safe_dump({"distributed_type": "DEEPSPEED", "deepspeed_config": {"zero_stage": 2}}))
    assert launch_layout(Launcher(kind="accelerate", config_file=str(zero2))) == (1, False)
    assert launch_layout(Launcher()) == (1, False)


def test_memory_warning_names_the_numbers():
    h100 = ("NVIDIA H100 80GB HBM3", 85_000_000_000)
    line = memory_warning("ft-D1", (13e9, "its name"), 16, (4, False), h100)
    assert line is not None
    assert "208 GB per GPU" in line and "13.0B parameters (from its name) x 16 bytes" in line and "85 GB" in line
    assert memory_warning("ft-D1", (13e9, "its name"), 16, (4, True), h100) is None  # 52 GB fits
    assert memory_warning("ft-D1", (13e9, "its config"), 16, (2, True), h100) is not None  # 104 GB does not


@pytest.mark.slow  # the recipe's trainer fields import trl
def test_preflight_warns_only_with_a_gpu_and_for_what_does_not_fit(tmp_path):
    base = tmp_path / "Llama-2-13b-chat-hf"  # no config.json: the size comes from the name
    ddp = {"kind": "accelerate", "config_file": str(ACCELERATE_CONFIGS / "ddp.yaml")}
    config = ExperimentConfig.model_validate({
        **grid(ddp), "models": {**grid()["models"], "student_base": str(base)},
        "finetunes": [{"name": "full", "data": "D1", "recipe": "paper"},
                      {"name": "lora", "data": "D1", "recipe": "paper", "lora": True},
                      {"name": "sharded", "data": "D1", "recipe": "paper",
                       "training": {"launcher": {**ddp, "config_file": str(ACCELERATE_CONFIGS / "fsdp.yaml")}}}]})
    assert memory_warnings(config, None) == []  # no GPU visible: nothing to compare with
    lines = memory_warnings(config, ("A100-SXM4-80GB", 85_000_000_000))
    assert [line.split("'")[1] for line in lines] == ["full"]  # LoRA (52 GB) and FSDP/4 (52 GB) fit
    assert "208 GB" in lines[0]


@pytest.mark.slow  # imports transformers and torch
def test_parameter_count_from_a_local_config_without_weights(tmp_path):
    pytest.importorskip("transformers")
    from transformers import LlamaConfig

    from skillmix.experiment.launcher import parameter_count

    LlamaConfig(vocab_size=100, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
                num_key_value_heads=2, tie_word_embeddings=False).save_pretrained(tmp_path / "m-70b")
    # embeddings 100x16 twice, per layer 4 x 16x16 attention + 3 x 16x32 MLP + 2 norms of 16, final norm 16
    expected = 2 * 100 * 16 + 2 * (4 * 16 * 16 + 3 * 16 * 32 + 2 * 16) + 16
    assert parameter_count(str(tmp_path / "m-70b")) == (expected, "its config")  # not the name's 70B
    assert parameter_count(str(tmp_path / "Mistral-7B-Instruct-v0.2")) == (7e9, "its name")  # no config there
    assert parameter_count(str(tmp_path / "no-size-here")) is None


# ---- the real thing, on CPU --------------------------------------------------------------------

STEPS = 6


def launched_grid(base: Path, port: int) -> dict:
    ddp = {"kind": "accelerate", "config_file": str(ACCELERATE_CONFIGS / "ddp.yaml"), "num_processes": 2,
           "main_process_port": port}
    # Global batch 4 = 1 per device x 2 processes x 2 accumulation; a checkpoint every 2 steps.
    overrides = {"max_steps": STEPS, "effective_batch_size": 4, "per_device_train_batch_size": 1, "warmup_steps": 0,
                 "save_steps": 2, "save_total_limit": 10, "logging_steps": 1, "lora": False, "bf16": False,
                 "dataloader_pin_memory": False}
    return {
        "name": "launched",
        "models": {"teacher": "openai-api/fake/teacher", "grader": "openai-api/fake/grader",
                   "student": "openai-api/fake/student", "student_base": str(base)},
        "generation": {"gradings": 1, "keep": "all"},
        "datasets": [{"name": "D1", "k": 1, "n": 4}],
        "training": {"launcher": ddp},
        "finetunes": [{"name": "ft", "data": "D1", "recipe": "laptop", "overrides": overrides}],
        "evaluation": {"settings": [], "evaluate_original": False},  # training is what is under test
    }


@pytest.mark.slow
@pytest.mark.train
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_two_process_launch_from_skillmix_run_survives_a_kill(tmp_path):
    pytest.importorskip("trl")
    from skillmix.engine.local_server import free_port
    from skillmix.testing.fake_openai import FakeOpenAI, skillmix_reply
    from skillmix.testing.tiny_model import build_tiny_model

    config_path = write_config(tmp_path, launched_grid(build_tiny_model(tmp_path / "tiny"), free_port()))
    run_dir = tmp_path / "run"
    out = run_dir / "train" / "ft"
    cmd = [sys.executable, "-c", "from skillmix.cli import main; main()", "run", str(config_path), "--out", str(run_dir),
           "--display", "none"]
    with FakeOpenAI(reply_fn=skillmix_reply) as server:
        env = {**os.environ, "FAKE_BASE_URL": server.base_url, "FAKE_API_KEY": "k", "OMP_NUM_THREADS": "1",
               "INSPECT_CACHE_DIR": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1"}
        runner = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 600
        while not (out / "checkpoint-2" / "trainer_state.json").is_file():
            assert runner.poll() is None, "the run ended before its first checkpoint"
            assert time.monotonic() < deadline, "no checkpoint within 10 minutes"
            time.sleep(0.2)
        assert len(trainers_writing_to(out.resolve())) >= 3  # the launcher and its two ranks
        runner.send_signal(signal.SIGKILL)  # the runner alone: the launch is in a session of its own
        runner.wait()
        deadline = time.monotonic() + 90  # SIGTERM through the parent-death signal; torch's agent stops its ranks
        while trainers_writing_to(out.resolve()) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert trainers_writing_to(out.resolve()) == [], "a killed run left trainers behind"
        assert json.loads((out / ".skillmix-stage.json").read_text())["status"] == "running"

        final = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, timeout=900)
    assert final.returncode == 0, final.stderr[-3000:]
    assert "step 6/6" in final.stdout  # rank 0's progress, forwarded
    record = json.loads((out / "skillmix_train.json").read_text())
    assert (record["distributed"]["type"], record["distributed"]["processes"]) == ("MULTI_CPU", 2)
    rank0, rank1 = record["distributed"]["weights_sha256"]
    assert rank0 == rank1  # both ranks ran, in one process group
    assert record["status"] == "done" and record["global_step"] == STEPS and record["resumed_from"] is not None
    steps = [json.loads(line)["step"] for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert steps == list(range(1, STEPS + 1))  # every step logged once across the kill
    assert json.loads((out / ".skillmix-stage.json").read_text())["status"] == "done"


@pytest.mark.slow  # the preflight imports trl
def test_preflight_prints_the_warning_when_a_gpu_is_visible(tmp_path, monkeypatch):
    pytest.importorskip("trl")
    from skillmix.experiment import preflight as checks

    config = ExperimentConfig.model_validate({
        **grid({"kind": "accelerate", "config_file": str(ACCELERATE_CONFIGS / "ddp.yaml")}, recipe="paper"),
        "models": {**grid()["models"], "student_base": str(tmp_path / "Llama-2-13b-chat-hf")}})
    env = {"FAKE_BASE_URL": "http://127.0.0.1:9/v1", "FAKE_API_KEY": "k"}
    lines: list[str] = []
    monkeypatch.setattr(checks, "gpu_memory", lambda: ("NVIDIA A100-SXM4-80GB", 85_000_000_000))
    checks.preflight(config, plan(config, tmp_path / "run"), env, lines.append)
    assert len(lines) == 1 and lines[0].startswith("warning: fine-tune 'ft' needs about 208 GB per GPU")
    monkeypatch.setattr(checks, "gpu_memory", lambda: None)  # no GPU: nothing to say
    lines.clear()
    checks.preflight(config, plan(config, tmp_path / "run"), env, lines.append)
    assert lines == []
