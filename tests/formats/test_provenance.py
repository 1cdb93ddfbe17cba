"""Provenance: skillmix's version and commit, frameworks, GPUs, checkpoint hashes (skillmix.formats.provenance)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from skillmix.formats import provenance as prov

ROOT = Path(prov.__file__).resolve().parents[3]


def test_version_is_the_installed_distribution():
    assert prov.skillmix_version() == metadata.version("skillmix")


def test_git_commit_of_this_checkout():
    if not (ROOT / ".git").exists():
        pytest.skip("skillmix is not installed from a git checkout here")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)
    assert prov.git_commit() == head.stdout.strip()


def test_git_failures_are_none(tmp_path, monkeypatch):
    assert prov._git(tmp_path, "rev-parse", "HEAD") is None  # not a repository
    monkeypatch.setenv("PATH", str(tmp_path))  # no git at all
    assert prov._git(ROOT, "rev-parse", "HEAD") is None


def test_provenance_fields_without_importing_torch():
    code = ("import json, sys; from skillmix.formats.provenance import provenance; "
            "print(json.dumps({'p': provenance(), 'torch': 'torch' in sys.modules}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    import json

    got = json.loads(out.stdout)
    assert got["torch"] is False
    p = got["p"]
    assert p["skillmix_version"] == metadata.version("skillmix")
    assert p["python"] == ".".join(map(str, sys.version_info[:3]))
    assert "gpu" not in p  # torch was not loaded, and not asked for
    for name in prov.FRAMEWORK_PACKAGES:
        installed = prov.package_version(name)
        assert p["packages"].get(name) == installed  # present exactly when installed


def test_gpu_info_when_torch_is_loaded():
    torch = pytest.importorskip("torch")
    info = prov.gpu_info()
    assert info is not None and info["cuda"] == torch.version.cuda
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    assert info["count"] == count == len(info["devices"])
    assert prov.provenance()["gpu"] == info


def test_weights_sha256_of_a_folder(tmp_path):
    (tmp_path / "model-00001.safetensors").write_bytes(b"abc")
    (tmp_path / "pytorch_model.bin").write_bytes(b"xyz")
    (tmp_path / "training_args.bin").write_bytes(b"settings")
    (tmp_path / "config.json").write_text("{}")
    got = prov.weights_sha256(tmp_path)
    files = {"model-00001.safetensors": hashlib.sha256(b"abc").hexdigest(),
             "pytorch_model.bin": hashlib.sha256(b"xyz").hexdigest()}
    assert got["files"] == files
    lines = "".join(f"{d}  {n}\n" for n, d in sorted(files.items()))
    assert got["sha256"] == hashlib.sha256(lines.encode()).hexdigest()


def test_weights_cache_follows_size_and_mtime(tmp_path, monkeypatch):
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"one")
    first = prov.weights_sha256(tmp_path)["sha256"]
    calls = []
    from skillmix.formats import files

    real = files.file_sha256
    monkeypatch.setattr(files, "file_sha256", lambda p: calls.append(p) or real(p))
    assert prov.weights_sha256(tmp_path)["sha256"] == first and calls == []  # cached
    weights.write_bytes(b"two!")
    os.utime(weights, ns=(1, 1))
    assert prov.weights_sha256(tmp_path)["sha256"] != first and len(calls) == 1


def test_weights_of_a_hub_id_or_empty_folder_are_null_with_reason(tmp_path):
    hub = prov.weights_sha256("meta-llama/Llama-2-13b-chat-hf")
    assert hub["sha256"] is None and "not a local folder" in hub["reason"]
    empty = prov.weights_sha256(tmp_path)
    assert empty["sha256"] is None and "no *.safetensors" in empty["reason"]


def test_training_run_record_provenance():
    pytest.importorskip("torch")
    from skillmix.train.outputs import run_provenance

    record = run_provenance()
    assert record["skillmix_version"] == metadata.version("skillmix")
    assert record["gpu"] == prov.gpu_info()  # asked even before torch is loaded: training uses the GPUs
    assert record["packages"]["trl"] == metadata.version("trl") and "datasets" in record["packages"]


class _Model:
    """What student_provenance reads of an inspect Model: its id, name and model arguments."""

    def __init__(self, model_id: str, **model_args):
        self.id, self.name, self.model_args = model_id, model_id.partition("/")[2], model_args

    def __str__(self) -> str:
        return self.id


def test_hf_and_vllm_students_record_their_weights(tmp_path):
    from skillmix.engine.evaluate import student_provenance

    (tmp_path / "model.safetensors").write_bytes(b"weights")
    expected = prov.weights_sha256(tmp_path)
    hf = student_provenance(_Model("hf/train/ft-D12", model_path=str(tmp_path)))  # a fine-tuned checkpoint
    vllm = student_provenance(_Model(f"vllm/{tmp_path}"))
    assert hf["weights"] == vllm["weights"] == expected and expected["sha256"]
    if prov.package_version("torch"):
        assert hf["gpu"] == prov.gpu_info()  # GPU students are asked for their GPUs
    hub = student_provenance(_Model("hf/meta-llama/Llama-2-13b-chat-hf"))
    assert hub["weights"]["sha256"] is None and "hub id" in hub["weights"]["reason"]
    assert "weights" not in student_provenance(_Model("openai/gpt-4o"))


def _full_grader(users, config) -> str:
    from skillmix.testing.scripted import prompt_k, table

    return table([1] * (prompt_k(users[-1]) + 3))


def test_results_and_stats_json_record_provenance(tmp_path, monkeypatch):
    import json

    from skillmix.engine.teacher import DataConfig, generate_dataset
    from skillmix.testing.scripted import scripted_model

    monkeypatch.setenv("INSPECT_CACHE_DIR", str(tmp_path / "cache"))
    config = DataConfig(teacher="mock", grader="mock", display="none", k=(1,), n=(2,))
    teacher = scripted_model(lambda users, c: "Answer: Bees hum softly.\nExplanation: it works.")
    stats = generate_dataset(config, tmp_path / "data", teacher, scripted_model(_full_grader))
    results = json.loads((tmp_path / "data" / "runs" / "k1" / "results.json").read_text())
    on_disk = json.loads((tmp_path / "data" / "stats.json").read_text())
    for record in (results["provenance"], stats["provenance"], on_disk["provenance"]):
        assert record["skillmix_version"] == metadata.version("skillmix")
        assert record["python"] == ".".join(map(str, sys.version_info[:3]))
        assert record["packages"]["inspect_ai"] == metadata.version("inspect_ai")
