"""benchmarks/gpu_smoke.py: without a GPU it says so in one line and exits 0; its steps run end to end
(on CPU, standing in for the GPU, in the slow test)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from skillmix.testing.cli import cli_env

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_smoke.py"
NO_GPU = "gpu_smoke: no GPU visible (torch.cuda.is_available() is false); nothing was run"


def load():
    spec = importlib.util.spec_from_file_location("gpu_smoke", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_without_a_gpu_one_line_and_exit_0(tmp_path):
    lines: list[str] = []
    assert load().main(["--keep", str(tmp_path / "out")], probe=lambda: None, echo=lines.append) == 0
    assert lines == [NO_GPU]
    assert not (tmp_path / "out").exists()  # nothing was built


@pytest.mark.slow  # a fresh interpreter that imports torch
def test_the_script_itself_with_no_visible_gpu():
    """As run by hand on a machine whose GPUs are hidden (CUDA_VISIBLE_DEVICES="")."""
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, check=False, timeout=120,
                          env=cli_env({"CUDA_VISIBLE_DEVICES": ""}))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [NO_GPU]


@pytest.mark.slow
@pytest.mark.train
def test_every_step_runs_with_the_cpu_standing_in(tmp_path):
    pytest.importorskip("trl")
    lines: list[str] = []
    assert load().main(["--keep", str(tmp_path), "--hidden-size", "64"], probe=lambda: "CPU (test)",
                       echo=lines.append) == 0, lines
    assert lines[0] == "gpu_smoke: CPU (test)"
    assert lines[1].startswith("step 1/3 LoRA fine-tune, 4 steps on NO: ") and lines[1].endswith(" tokens/s")
    assert lines[2].startswith("step 2/3 hf/ evaluation: 8 generations scored, ") and lines[2].endswith(" tokens/s")
    vllm = importlib.util.find_spec("vllm") is not None
    assert lines[3].startswith("step 3/3 vllm/ evaluation" if vllm else "step 3/3 vllm: skipped")
    assert (tmp_path / "ft" / "model.safetensors").is_file()  # merged, so hf/ and vllm/ load it alone
