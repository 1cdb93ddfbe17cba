"""Fine-tuning (protocol §7; docs/pitfalls.md #6-#8, #12): recipe, overrides, data, and real tiny training runs.

The heavy tests train a tiny llama model (tests/tiny_model.py) on CPU; nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported: no hub calls, ever

from skillmix.errors import SkillmixError  # noqa: E402
from skillmix.testing.tiny_model import fixture_conversations, write_dataset  # noqa: E402
from skillmix.train.base_model import resolve_base_model  # noqa: E402
from skillmix.train.outputs import (  # noqa: E402
    RECIPE_FILE,
    last_checkpoint,
    log_record,
    read_log,
    resume_checkpoint,
    resume_token_offset,
    trim_log,
)
from skillmix.train.recipe import (  # noqa: E402
    TrainRecipe,
    apply_overrides,
    gradient_accumulation,
    load_recipe,
    parse_overrides,
    train_plan,
)
from skillmix.train.sft_data import load_messages_dataset, mix_count, sample_mix  # noqa: E402

REPO = Path(__file__).resolve().parents[2]

# A fast recipe for the tiny model: full-batch steps, a high constant learning rate.
TINY = [
    "per_device_train_batch_size=8", "gradient_accumulation_steps=1", "learning_rate=3e-3", "warmup_steps=1",
    "logging_steps=1", "bf16=false", "save_steps=1000", "dataloader_pin_memory=false",
]


@pytest.fixture(scope="module")
def field_types():
    pytest.importorskip("trl", reason="needs skillmix[train]")
    from skillmix.train.recipe import trainer_field_types

    return trainer_field_types()


def recipe_with(field_types, *settings: str) -> TrainRecipe:
    return apply_overrides(TrainRecipe(), parse_overrides([*TINY, *settings]), field_types)


# -- recipe -------------------------------------------------------------------------------


def test_paper_yaml_is_the_default_recipe():
    paper = load_recipe(REPO / "configs/train/paper.yaml")
    assert paper == TrainRecipe()
    assert (paper.max_steps, paper.effective_batch_size) == (4000, 64)
    assert (paper.learning_rate, paper.warmup_steps) == (2e-5, 64)
    assert (paper.lr_scheduler_type, paper.weight_decay, paper.max_length, paper.packing) == (
        "constant_with_warmup", 0.0, 1024, "off")


def test_laptop_yaml_loads():
    laptop = load_recipe(REPO / "configs/train/laptop.yaml")
    assert laptop.lora and not laptop.bf16 and laptop.max_steps < 100


@pytest.mark.parametrize("name", ["paper", "laptop"])
def test_a_bare_recipe_name_is_the_shipped_recipe_from_any_folder(name, tmp_path, monkeypatch):
    from skillmix.train.recipe import recipe_file

    monkeypatch.chdir(tmp_path)  # no configs/ here: the name must resolve to package data
    assert load_recipe(recipe_file(name)) == load_recipe(REPO / f"configs/train/{name}.yaml")


def test_train_cli_names_an_unknown_recipe_in_one_line(cli, tmp_path):
    done = cli("train", "--data", str(tmp_path), "--base-model", "local", "--out", str(tmp_path / "o"),
                   "--recipe", "papr", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == "error: unknown recipe 'papr'; shipped recipes: laptop, paper, or give a YAML file"
    assert not (tmp_path / "o").exists()


def test_recipe_is_frozen_and_rejects_unknown_yaml_keys(tmp_path):
    with pytest.raises(Exception):
        TrainRecipe().max_steps = 3  # type: ignore[misc]
    bad = tmp_path / "bad.yaml"
    bad.write_text("max_stepz: 3\n")
    with pytest.raises(SkillmixError, match="max_stepz: Extra inputs are not permitted"):
        load_recipe(bad)


def test_overrides_are_coerced_from_field_types(field_types):
    recipe = apply_overrides(
        TrainRecipe(),
        parse_overrides([
            "max_steps=8", "learning_rate=1e-3", "per_device_train_batch_size=4", "gradient_accumulation_steps=1",
            "warmup_steps=1", "lora=true", "lora_target_modules=[q_proj, v_proj]", "adam_beta2=0.95",
            "dataloader_drop_last=true", "max_grad_norm=0.5",
        ]),
        field_types,
    )
    assert (recipe.max_steps, recipe.learning_rate, recipe.per_device_train_batch_size) == (8, 1e-3, 4)
    # Fixing accumulation clears the effective batch size it would otherwise be derived from.
    assert (recipe.gradient_accumulation_steps, recipe.effective_batch_size) == (1, None)
    assert recipe.lora is True and recipe.lora_target_modules == ("q_proj", "v_proj")
    assert recipe.trainer_args == {"adam_beta2": 0.95, "dataloader_drop_last": True}
    assert recipe.max_grad_norm == 0.5


@pytest.mark.parametrize(
    "setting, fragment",
    [
        ("lerning_rate=1", "unknown setting 'lerning_rate'; did you mean learning_rate"),
        ("zzz=1", "valid keys are the recipe keys (name, seed, max_steps"),
        ("packing_strategy=wrapped", "packing_strategy is set by skillmix: use packing=bfd"),
        ("max_steps=many", "max_steps: Input should be a valid integer"),
        ("packing=yes", "packing: Input should be 'off', 'padding_free' or 'bfd'"),
        ("adam_beta2=high", "adam_beta2='high' is not a valid float"),
        ("max_steps", "is not key=value"),
    ],
)
def test_bad_overrides_are_one_line_errors(field_types, setting, fragment):
    with pytest.raises(SkillmixError) as e:
        apply_overrides(TrainRecipe(), parse_overrides([setting]), field_types)
    assert fragment in str(e.value)
    assert "\n" not in str(e.value)


# -- batch arithmetic, mixing, logs --------------------------------------------------------


@pytest.mark.parametrize(
    "settings, world, accumulation",
    [((), 1, 16), ((), 4, 4), (("per_device_train_batch_size=8",), 2, 4), (("gradient_accumulation_steps=3",), 8, 3)],
)
def test_gradient_accumulation_reaches_the_effective_batch(field_types, settings, world, accumulation):
    recipe = apply_overrides(TrainRecipe(), parse_overrides(list(settings)), field_types)
    assert gradient_accumulation(recipe, world) == accumulation


def test_effective_batch_must_divide(field_types):
    recipe = apply_overrides(TrainRecipe(), parse_overrides(["per_device_train_batch_size=3"]), field_types)
    with pytest.raises(SkillmixError, match="not a multiple of per_device_train_batch_size x processes = 3 x 1"):
        gradient_accumulation(recipe, 1)


def test_train_plan_tokens_per_step_and_epochs():
    # 64 rows/step, 6400 rows of 300 tokens on average: 19200 tokens/step, 4000 steps = 40 epochs.
    plan = train_plan(TrainRecipe(), world_size=4, rows=6400, tokens=6400 * 300)
    assert (plan.gradient_accumulation_steps, plan.rows_per_step) == (4, 64)
    assert plan.tokens_per_step == 19200 and plan.epochs == 40


@pytest.mark.parametrize("n, ratio, expected", [(100, 0.0, 0), (90, 0.1, 10), (50, 0.5, 50), (3, 0.25, 1)])
def test_mix_count(n, ratio, expected):
    assert mix_count(n, ratio) == expected


def test_sample_mix_is_seeded_and_bounded():
    texts = [f"t{i}" for i in range(10)]
    assert sample_mix(texts, 3, random.Random(1)) == sample_mix(texts, 3, random.Random(1))
    with pytest.raises(SkillmixError, match="needs 11 generic texts but mix_dataset has 10"):
        sample_mix(texts, 11, random.Random(1))


def test_log_record_tokens_per_step():
    first = log_record(2, {"loss": 3.0, "learning_rate": 0.1, "num_tokens": 200.0, "epoch": 0.5}, None)
    assert first["tokens_per_step"] == 100
    second = log_record(6, {"loss": 2.0, "learning_rate": 0.1, "num_tokens": 1000.0, "epoch": 1.5}, first)
    assert (second["step"], second["loss"], second["lr"], second["tokens"], second["tokens_per_step"]) == (
        6, 2.0, 0.1, 1000.0, 200.0)


@pytest.mark.parametrize(
    "records, resume_step, offset",
    [
        ([], 0, 0.0),
        ([{"step": 2, "tokens": 600.0, "tokens_per_step": 300.0}], 2, 600.0),
        ([{"step": 2, "tokens": 600.0, "tokens_per_step": 300.0}], 4, 1200.0),  # logged every 2, saved at 4
    ],
)
def test_resume_token_offset(records, resume_step, offset):
    assert resume_token_offset(records, resume_step) == offset


def test_trim_log_and_last_checkpoint(tmp_path):
    log = tmp_path / "train_log.jsonl"
    log.write_text("".join(json.dumps({"step": s}) + "\n" for s in (1, 2, 3, 4)))
    trim_log(log, 2)
    assert [r["step"] for r in read_log(log)] == [1, 2]
    assert last_checkpoint(tmp_path) is None
    for name in ("checkpoint-2", "checkpoint-10", "checkpoint-9", "checkpoints", "checkpoint-11"):
        (tmp_path / name).mkdir()
        if name != "checkpoint-11":  # a save cut short by a kill has no trainer_state.json: never resumed from
            (tmp_path / name / "trainer_state.json").write_text("{}")
    assert last_checkpoint(tmp_path) == tmp_path / "checkpoint-10"


def test_check_resume_refuses_mismatches(tmp_path):
    record = {"recipe": TrainRecipe().model_dump(mode="json"), "data": [{"sha256": "a"}], "base_model": {"spec": "m"}}
    assert resume_checkpoint(tmp_path, resume=False, record=record) is None
    with pytest.raises(SkillmixError, match="no checkpoint-N folder"):
        resume_checkpoint(tmp_path, resume=True, record=record)
    (tmp_path / "checkpoint-5").mkdir()
    (tmp_path / "checkpoint-5" / "trainer_state.json").write_text("{}")
    (tmp_path / RECIPE_FILE).write_text(json.dumps(record))
    with pytest.raises(SkillmixError, match="already holds a training run; pass --resume"):
        resume_checkpoint(tmp_path, resume=False, record=record)
    longer = {**record, "recipe": {**record["recipe"], "max_steps": 9000}}
    assert resume_checkpoint(tmp_path, resume=True, record=longer) == tmp_path / "checkpoint-5"
    changed = {**record, "recipe": {**record["recipe"], "learning_rate": 1.0}, "data": [{"sha256": "b"}]}
    with pytest.raises(SkillmixError, match="settings differ .*: learning_rate, data"):
        resume_checkpoint(tmp_path, resume=True, record=changed)


# -- data and base model -------------------------------------------------------------------


def test_load_messages_dataset_concatenates(tmp_path):
    pytest.importorskip("datasets", reason="needs skillmix[train]")
    a = write_dataset(tmp_path / "a")
    b = write_dataset(tmp_path / "b", fixture_conversations()[:3])
    dataset = load_messages_dataset([a, b])
    assert len(dataset) == 11
    assert dataset[8]["messages"] == fixture_conversations()[0]["messages"]
    assert dataset[10]["source"] == str(b / "data.jsonl")


def test_load_messages_dataset_names_the_bad_line(tmp_path):
    pytest.importorskip("datasets", reason="needs skillmix[train]")
    records = [*fixture_conversations()[:2], {"text": "no messages here"}]
    folder = write_dataset(tmp_path / "bad", records)
    with pytest.raises(SkillmixError, match=r"bad/data.jsonl:3: expected a 'messages' list of 4"):
        load_messages_dataset([folder])


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ("/nonexistent/model", "not a Hugging Face model folder"),
        ("./missing.gguf", "base model ./missing.gguf not found"),
    ],
)
def test_resolve_base_model_errors(spec, fragment):
    with pytest.raises(SkillmixError, match=fragment):
        resolve_base_model(spec)


def test_resolve_base_model_kinds(tmp_path):
    (tmp_path / "m.gguf").write_bytes(b"GGUF")
    assert resolve_base_model(str(tmp_path / "m.gguf")).gguf_file == "m.gguf"
    assert resolve_base_model("org/model").path == "org/model"  # a hub id, loaded (offline) later


# -- the command line: bad input is one line on stderr and exit code 2 ----------------------


@pytest.mark.parametrize(
    "case, fragment",
    [
        ("no_messages", "data.jsonl:1: expected a 'messages' list of 4"),
        ("missing_model", "base model /nonexistent/base is not a Hugging Face model folder"),
        ("unknown_key", "unknown setting 'max_stepz'; did you mean max_steps"),
    ],
)
@pytest.mark.slow
def test_cli_bad_input_is_one_line_and_exit_2(cli, tmp_path, tiny, case, fragment):
    good = write_dataset(tmp_path / "good")
    bad = write_dataset(tmp_path / "bad", [{"text": "hello", "k": 1}])
    args = {
        "no_messages": ["--data", str(bad), "--base-model", str(tiny)],
        "missing_model": ["--data", str(good), "--base-model", "/nonexistent/base"],
        "unknown_key": ["--data", str(good), "--base-model", str(tiny), "max_stepz=3"],
    }[case]
    result = cli("train", *args, "--out", str(tmp_path / "out"))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0]
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_cli_show_masks(cli, tmp_path, tiny, data):
    result = cli("train", "--data", str(data), "--base-model", str(tiny), "--show-masks", "2")
    assert result.returncode == 0, result.stderr
    first = fixture_conversations()[0]["messages"]
    assert f"[[{first[1]['content']}<end_of_turn>]]" in result.stdout
    assert f"[[{first[3]['content']}<end_of_turn>]]" in result.stdout
    assert result.stdout.count("[[") == 4  # two examples, two answers each


# -- real training runs (tiny model, CPU) --------------------------------------------------


@pytest.mark.slow
@pytest.mark.train
def test_overfitting_8_examples_lowers_the_loss_and_writes_a_loadable_model(tmp_path, tiny, data, field_types):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from skillmix.train.loop import train

    out = tmp_path / "out"
    record = train([data], str(tiny), out, recipe_with(field_types, "max_steps=25"), echo=lambda _: None)
    losses = [r["loss"] for r in read_log(out / "train_log.jsonl")]
    assert len(losses) == 25
    assert losses[-1] < 0.5 * losses[0], losses
    # Records (docs/pitfalls.md #6-#8): template, end-of-turn token, data hash, seed, versions, tokens and epochs.
    saved = json.loads((out / RECIPE_FILE).read_text())
    assert saved["status"] == "done" and saved["global_step"] == 25 == record["global_step"]
    assert saved["eot_tokens"] == ["<end_of_turn>"] and saved["chat_template"]["source"] == "tokenizer"
    assert saved["data"][0]["sha256"] and saved["seed"] == 42 and saved["versions"]["trl"]
    assert saved["plan"]["rows_per_step"] == 8 and saved["plan"]["epochs"] == 25.0
    log = read_log(out / "train_log.jsonl")
    assert log[-1]["epoch"] == 25.0 and log[-1]["tokens"] == 25 * saved["examples"]["tokens"]
    assert (out / "loss.png").stat().st_size > 1000
    # A normal HF model folder: config, weights, tokenizer, chat template; generation stops at <end_of_turn>.
    model = AutoModelForCausalLM.from_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert tokenizer.chat_template == saved["chat_template"]["text"]
    assert tokenizer.convert_tokens_to_ids("<end_of_turn>") in model.generation_config.eos_token_id


@pytest.mark.slow
@pytest.mark.train
def test_resume_continues_the_step_counter(tmp_path, tiny, data, field_types):
    from skillmix.train.loop import train

    out = tmp_path / "out"
    train([data], str(tiny), out, recipe_with(field_types, "max_steps=2", "save_steps=2"), echo=lambda _: None)
    assert last_checkpoint(out) == out / "checkpoint-2"
    with pytest.raises(SkillmixError, match="pass --resume"):
        train([data], str(tiny), out, recipe_with(field_types, "max_steps=4", "save_steps=2"), echo=lambda _: None)
    record = train([data], str(tiny), out, recipe_with(field_types, "max_steps=4", "save_steps=2"), resume=True,
                   echo=lambda _: None)
    assert record["global_step"] == 4 and record["resumed_from"] == str(out / "checkpoint-2")
    log = read_log(out / "train_log.jsonl")
    assert [r["step"] for r in log] == [1, 2, 3, 4]
    # The resumed run continues the token count (TRL's own counter restarts at 0).
    assert [r["tokens"] for r in log] == [log[0]["tokens"] * step for step in (1, 2, 3, 4)]
    assert last_checkpoint(out) == out / "checkpoint-4"


@pytest.mark.slow
@pytest.mark.train
def test_lora_saves_an_adapter_or_a_merged_model(tmp_path, tiny, data, field_types):
    from transformers import AutoModelForCausalLM

    from skillmix.train.loop import train

    adapter, merged = tmp_path / "adapter", tmp_path / "merged"
    train([data], str(tiny), adapter, recipe_with(field_types, "max_steps=2", "lora=true"), echo=lambda _: None)
    assert (adapter / "adapter_config.json").is_file() and not (adapter / "model.safetensors").exists()
    train([data], str(tiny), merged, recipe_with(field_types, "max_steps=2", "lora=true", "merge_lora=true"),
          echo=lambda _: None)
    assert not (merged / "adapter_config.json").exists()
    model = AutoModelForCausalLM.from_pretrained(merged)
    assert not any("lora" in name for name, _ in model.named_parameters())


@pytest.mark.slow
@pytest.mark.train
def test_packing_keeps_examples_apart_and_trains(tmp_path, tiny, data, field_types):
    """Padding-free rows (position_ids restart per example, no attention mask) give the same logits as
    separate forward passes: transformers builds a block-diagonal mask for sdpa/eager, so no leakage.
    It only does so without a KV cache; SFTTrainer.compute_loss passes use_cache=False, as here."""
    import torch
    from transformers import AutoModelForCausalLM

    from skillmix.train.loop import train

    model = AutoModelForCausalLM.from_pretrained(tiny, attn_implementation="sdpa").eval()
    a, b = torch.tensor([[1, 10, 11, 12, 13]]), torch.tensor([[1, 20, 21, 22]])
    with torch.no_grad():
        separate = torch.cat([model(a).logits, model(b).logits], dim=1)
        positions = torch.tensor([[0, 1, 2, 3, 4, 0, 1, 2, 3]])
        packed = model(torch.cat([a, b], dim=1), position_ids=positions, use_cache=False).logits
        leaky = model(torch.cat([a, b], dim=1), position_ids=positions, use_cache=True).logits  # b attends to a
    assert torch.allclose(packed, separate, atol=1e-5)
    assert not torch.allclose(leaky[:, 5:], separate[:, 5:], atol=1e-3)

    out = tmp_path / "packed"
    record = train([data], str(tiny), out, recipe_with(field_types, "max_steps=3", "packing=bfd",
                                                       "per_device_train_batch_size=1"), echo=lambda _: None)
    # 8 examples of ~200 tokens pack into fewer rows of max_length=1024.
    assert record["plan"]["rows"] < 8 and record["global_step"] == 3


def test_generic_text_mixing(tmp_path, tiny, data, field_types):
    from skillmix.train.sft_data import prepare

    mix = tmp_path / "mix.jsonl"
    mix.write_text("".join(json.dumps({"text": f"Generic text number {i} about bees."}) + "\n" for i in range(20)))
    recipe = recipe_with(field_types, f"mix_dataset={mix}", "mix_ratio=0.2")
    prepared = prepare([data], str(tiny), recipe)
    assert prepared.report.mix_examples == 2 and prepared.report.examples == 10
    generic = prepared.examples[8:]
    assert all(e.labels == e.input_ids for e in generic)  # loss on every generic token
    assert prepared.data[-1]["mix"] is True


@pytest.mark.slow
@pytest.mark.train
def test_two_process_data_parallel_on_cpu(tmp_path, tiny, data):
    """DDP over gloo with torchrun (2 CPU processes); the lead's GPUs use the same code path."""
    out = tmp_path / "ddp"
    launcher = tmp_path / "skillmix_main.py"
    launcher.write_text("from skillmix.cli import main\nmain()\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(REPO / "src") + os.pathsep + str(REPO)}
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
         str(launcher), "train", "--data", str(data), "--base-model", str(tiny), "--out", str(out),
         "max_steps=3", "per_device_train_batch_size=2", "effective_batch_size=8", "logging_steps=1",
         "bf16=false", "learning_rate=1e-3", "warmup_steps=0", "dataloader_pin_memory=false"],
        capture_output=True, text=True, env=env, timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    saved = json.loads((out / RECIPE_FILE).read_text())
    assert saved["plan"]["world_size"] == 2 and saved["plan"]["gradient_accumulation_steps"] == 2
    assert saved["global_step"] == 3 and (out / "model.safetensors").is_file()
    assert [r["step"] for r in read_log(out / "train_log.jsonl")] == [1, 2, 3]  # rank 0 only writes


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(("bf16", "mixed", "warns"), [
    (False, "no", False), (True, "bf16", False), (True, "fp16", False),
    (False, "bf16", True),  # a shipped accelerate config overriding the laptop recipe
    (True, "no", True),
])
def test_precision_warning(bf16, mixed, warns):
    from skillmix.train.outputs import precision_warning

    warning = precision_warning(bf16, mixed)
    assert (warning is not None) is warns
    if warning:
        assert f"mixed_precision={mixed}" in warning and "\n" not in warning
