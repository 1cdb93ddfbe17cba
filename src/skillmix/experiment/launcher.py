"""Training through a launcher: ``accelerate launch ... -m skillmix train`` as a child process group
(docs/experiments.md, "Training on several GPUs"; protocol §7).

The runner starts the launch in a new session, so a terminal's Ctrl-C reaches the runner only, and
stops it on any way out: SIGTERM to the group (torch's elastic agent, which ``accelerate launch`` runs
for several processes, then stops its workers, which sit in sessions of their own), SIGKILL after a
grace period. On Linux the launcher also gets SIGTERM when the runner dies, even by SIGKILL (the
parent-death signal), and a re-run first stops any trainer still writing into the stage's folder,
so two trainers never share a checkpoint folder.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from skillmix.engine.process import popen
from skillmix.experiment.config import ExperimentConfig, Finetune, Launcher, override_settings
from skillmix.experiment.plan import data_folder
from skillmix.train.recipe import recipe_file

LOG_NAME = "launch.log"  # the launch's stderr (warnings, tracebacks of every rank), appended per launch
GRACE_SECONDS = 45.0  # torch's elastic agent gives its workers 30 s after SIGTERM before it kills them
ACCELERATE = [sys.executable, "-m", "accelerate.commands.accelerate_cli", "launch"]  # the `accelerate` script


def launcher_flags(launcher: Launcher) -> list[str]:
    """``--config_file`` and every launcher setting that is set, as ``accelerate launch`` flags."""
    flags = ["--config_file", str(launcher.config_file)]
    for name, value in launcher:
        if name not in ("kind", "config_file") and value is not None:
            flags += [f"--{name}", str(value)]
    return flags


def launch_command(config: ExperimentConfig, run_dir: Path, f: Finetune, out: Path, resume: bool) -> list[str]:
    """The exact command that trains fine-tune ``f`` into ``out``: the same ``skillmix train`` as by hand."""
    # Absolute paths: the command is shown to be run by hand, and a re-run finds its trainers by --out.
    train = ["-m", "skillmix", "train", "--data", str(data_folder(run_dir, f.data).resolve()),
             "--base-model", config.models.student_base, "--out", str(out.resolve()),
             "--recipe", str(recipe_file(f.recipe))]
    settings = [f"{k}={v}" for k, v in override_settings(f).items()]
    return [*ACCELERATE, *launcher_flags(config.launcher(f)), *train, *(["--resume"] if resume else []), *settings]


def shown(command: Sequence[str]) -> str:
    return shlex.join(command)


def signal_group(pgid: int, sig: signal.Signals) -> bool:
    """Send ``sig`` to a process group; False when it has no process left."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    return True


def stop_group(proc: subprocess.Popen[Any], grace: float = GRACE_SECONDS) -> None:
    """Stop a launch and everything in its group: SIGTERM, then SIGKILL after ``grace`` seconds."""
    if proc.poll() is None:
        signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    signal_group(proc.pid, signal.SIGKILL)  # stragglers of the group (the leader may be gone already)
    proc.wait()


def forward(stream: IO[str], echo: Callable[[str], None]) -> None:
    """Rank 0's progress (the plan, one line per logged step) as the launch prints it."""
    for line in stream:
        echo(f"    {line.rstrip()}")


def trainers_writing_to(out: Path) -> list[int]:
    """Pids of ``skillmix train`` processes (launchers and ranks) whose ``--out`` is ``out`` (Linux)."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            args = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue  # gone meanwhile, or not ours to read
        writes_out = any(a == "--out" and b == str(out) for a, b in zip(args, args[1:]))
        if writes_out and "skillmix" in args and "train" in args and int(entry.name) != os.getpid():
            found.append(int(entry.name))
    return found


def running(pid: int) -> bool:
    """Whether ``pid`` still runs (Linux); a zombie has ended, only its parent has not reaped it yet."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(") ", 1)[-1][:1] != "Z"


def stop_leftovers(out: Path, echo: Callable[[str], None], grace: float = GRACE_SECONDS) -> None:
    """Stop trainers an earlier, killed run left writing into ``out`` (SIGTERM, then SIGKILL)."""
    pids = trainers_writing_to(out.resolve())
    if not pids:
        return
    echo(f"  stopping {len(pids)} process(es) of an earlier launch still training into {out}: {pids}")
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        while (pids := [p for p in pids if running(p)]) and time.monotonic() < deadline:
            time.sleep(0.2)
        if not pids:
            return
    echo(f"  warning: could not stop {pids} (stuck in the kernel?); the new launch shares {out} with them")


def run_launch(command: Sequence[str], out: Path, echo: Callable[[str], None]) -> int:
    """Run a launch in its own process group, forwarding its progress; stop the group on any way out.

    Returns the exit code; stderr goes to ``out/launch.log``.
    """
    out.mkdir(parents=True, exist_ok=True)
    echo(f"  {shown(command)}")
    with (out / LOG_NAME).open("a", encoding="utf-8") as log:
        proc = popen(command, stdout=subprocess.PIPE, stderr=log, text=True, bufsize=1, start_new_session=True)
        try:
            assert proc.stdout is not None
            forward(proc.stdout, echo)
            return proc.wait()
        finally:
            stop_group(proc)


def log_tail(out: Path, lines: int = 5) -> str:
    path = out / LOG_NAME
    tail = path.read_text(errors="replace").splitlines()[-lines:] if path.is_file() else []
    return " | ".join(line.strip() for line in tail if line.strip())


# Memory per GPU for training (docs/gpu.md, "Will it fit?"). Full fine-tuning with Adam holds four
# numbers per parameter in the weights' dtype: the weight, its gradient and Adam's two moments
# (bf16 autocast computes in bf16 but keeps these in fp32): 16 bytes for float32 weights. LoRA
# trains a few adapter weights, so it holds about the frozen weights alone. Activations come on top.
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
FULL_FINETUNE_COPIES = 4


def bytes_per_parameter(lora: bool, model_dtype: str) -> int:
    return DTYPE_BYTES[model_dtype] * (1 if lora else FULL_FINETUNE_COPIES)


def memory_per_process(parameters: float, bytes_per_param: int, processes: int, sharded: bool) -> float:
    """Bytes one GPU holds for weights, gradients and optimizer state: a full copy under DDP (or one
    process), a 1/processes share when fully sharded (FSDP, DeepSpeed ZeRO-3)."""
    return parameters * bytes_per_param / (processes if sharded else 1)


def launch_layout(launcher: Launcher) -> tuple[int, bool]:
    """(processes, fully sharded?) of a launcher: its own num_processes, else the config file's."""
    if launcher.kind == "none":
        return 1, False
    import yaml

    content = yaml.safe_load(Path(str(launcher.config_file)).read_text()) or {}
    processes = launcher.num_processes or int(content.get("num_processes") or 1)
    kind = content.get("distributed_type")
    zero3 = kind == "DEEPSPEED" and (content.get("deepspeed_config") or {}).get("zero_stage") == 3
    return processes, kind == "FSDP" or zero3


def parameter_count(base: str) -> tuple[float, str] | None:
    """The base model's parameters and where the number came from: its config (a local folder or the
    HF cache; the model is built on torch's meta device, no weights), else a size in its name
    (``Llama-2-13b-chat-hf``: 13e9); None when neither tells."""
    try:
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM

        config = AutoConfig.from_pretrained(base)
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(config)
        return float(sum(p.numel() for p in model.parameters())), "its config"
    except (OSError, ValueError, KeyError):  # no config within reach (offline hub id, .gguf, local)
        pass
    size = re.search(r"(\d+(?:\.\d+)?)[bB](?![a-zA-Z])", Path(base).name)
    return (float(size.group(1)) * 1e9, "its name") if size else None


def gpu_memory() -> tuple[str, int] | None:
    """(name, bytes) of the first visible GPU, or None; imports torch, so call it only when training."""
    import torch

    if not torch.cuda.is_available():
        return None
    props = torch.cuda.get_device_properties(0)
    return str(props.name), int(props.total_memory)


def memory_warning(name: str, parameters: tuple[float, str], bytes_per_param: int, layout: tuple[int, bool],
                   gpu: tuple[str, int]) -> str | None:
    """One line when a fine-tune's weights, gradients and optimizer state exceed one GPU's memory."""
    (count, source), (processes, sharded), (gpu_name, gpu_bytes) = parameters, layout, gpu
    need = memory_per_process(count, bytes_per_param, processes, sharded)
    if need <= gpu_bytes:
        return None
    split = f" / {processes} processes (fully sharded)" if sharded else " (a full copy per GPU: DDP or one process)"
    return (f"warning: fine-tune {name!r} needs about {need / 1e9:.0f} GB per GPU before activations: "
            f"{count / 1e9:.1f}B parameters (from {source}) x {bytes_per_param} bytes{split}, more than the "
            f"{gpu_bytes / 1e9:.0f} GB of one {gpu_name}; use configs/accelerate/fsdp.yaml over more GPUs, or lora")
