"""The stages of an experiment, their keys and their status (docs/experiments.md, protocol §6–9).

    data:<set>  ->  mix:<mixture>  ->  train:<finetune>  ->  eval:<model>:<setting>  ->  report

A stage's key is the hash of its identity (``identity.py``) and its inputs' keys.
A training stage is keyed by the content hash of its training data instead: until
that data exists its key is *pending* and it (and everything after it) is to do.
Fine-tuned students are named by their run-relative folder (``hf/train/ft-D12``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from skillmix.engine.model_args import select_roles
from skillmix.errors import SkillmixError
from skillmix.experiment.config import ORIGINAL, ExperimentConfig, Finetune
from skillmix.experiment.identity import config_identity, digest, file_digest, launcher_identity, stage_key
from skillmix.protocol.catalog import SETTING_POOLS
from skillmix.train.recipe import recipe_file

STAGE_FILE = ".skillmix-stage.json"
PENDING = "pending"
Kind = Literal["data", "mix", "train", "eval", "report"]


@dataclass(frozen=True)
class Stage:
    name: str  # e.g. "data:D1", "eval:original:II"
    kind: Kind
    folder: Path
    spec: dict[str, Any]  # the stage's identity: what changes its output, no paths
    inputs: tuple[str, ...] = ()
    config: Any = None  # the typed config the stage runs with (DataConfig, EvalConfig, Finetune)
    content: Callable[[], str | None] | None = field(compare=False, default=None)  # hash of input data


def stage_keys(stages: list[Stage], forced: set[str] | frozenset[str] = frozenset()) -> dict[str, str]:
    """Every stage's key, in dependency order; a stage whose input data is not final yet is pending."""
    keys: dict[str, str] = {}
    done: set[str] = set()
    for s in stages:
        inputs = [keys[i] for i in s.inputs]
        if s.content is not None:
            final = all(i in done for i in s.inputs)  # input data that is about to be redone is not final
            sha = s.content() if final else None
            keys[s.name] = f"{PENDING}-{stage_key(s.spec, inputs)}" if sha is None else stage_key({**s.spec, "data_sha256": sha}, [])
        elif any(k.startswith(PENDING) for k in inputs):
            keys[s.name] = f"{PENDING}-{stage_key(s.spec, inputs)}"
        else:
            keys[s.name] = stage_key(s.spec, inputs)
        if s.name not in forced and stage_status(s, keys[s.name]) == "done":
            done.add(s.name)
    return keys


def read_marker(folder: Path) -> dict[str, Any] | None:
    marker = folder / STAGE_FILE
    return json.loads(marker.read_text()) if marker.is_file() else None


def stage_status(stage: Stage, key: str) -> Literal["done", "stale", "todo"]:
    """done: finished with this key; todo: not started, or started with this key (it resumes in place);
    stale: its folder holds work of another key (set aside before the stage runs)."""
    marker = read_marker(stage.folder)
    if marker is None:
        return "todo"
    if marker.get("key") != key:
        return "stale"
    return "todo" if marker.get("status") == "running" else "done"


def data_folder(run_dir: Path, name: str) -> Path:
    return run_dir / "data" / name


def data_stage_name(config: ExperimentConfig, name: str) -> str:
    return f"data:{name}" if name in {d.name for d in config.datasets} else f"mix:{name}"


def finetuned_label(config: ExperimentConfig, name: str) -> str:
    """The run-relative model id of a fine-tuned student, as reports and logs show it."""
    return f"{config.models.finetuned_engine}/train/{name}"


def data_stages(config: ExperimentConfig, run_dir: Path) -> list[Stage]:
    from skillmix.engine.settings import DataConfig

    stages = []
    for d in config.datasets:
        dc = DataConfig(teacher=config.models.teacher, grader=config.models.grader, k=(d.k,), n=(d.n,),
                        skills=d.skills, topics=d.topics, **config.generation.model_dump(),
                        model_args=select_roles(config.models.args, ("teacher", "grader")))
        stages.append(Stage(f"data:{d.name}", "data", data_folder(run_dir, d.name),
                            config_identity(dc.model_dump(mode="json")), config=dc))
    for m in config.mixtures:
        stages.append(Stage(f"mix:{m.name}", "mix", data_folder(run_dir, m.name), m.model_dump(mode="json"),
                            tuple(data_stage_name(config, n) for n in m.datasets), config=m))
    return stages


def recipe_identity(f: Finetune) -> dict[str, Any]:
    """What of a fine-tune's recipe changes the checkpoint: the recipe file's content and the overrides."""
    try:
        recipe = file_digest(recipe_file(f.recipe))
    except SkillmixError:
        recipe = f"missing:{f.recipe}"  # preflight reports it; the plan can still be shown
    return {"recipe_sha256": recipe, "lora": f.lora, "overrides": dict(sorted(f.overrides.items()))}


def train_stages(config: ExperimentConfig, run_dir: Path) -> list[Stage]:
    stages = []
    for f in config.finetunes:
        data_file = data_folder(run_dir, f.data) / "data.jsonl"
        spec = {**recipe_identity(f), "base": config.models.student_base}
        if (launch := launcher_identity(config.launcher(f).model_dump(mode="json"))) is not None:
            spec["launcher"] = launch
        stages.append(Stage(f"train:{f.name}", "train", run_dir / "train" / f.name, spec,
                            (data_stage_name(config, f.data),), config=f,
                            content=lambda p=data_file: file_digest(p) if p.is_file() else None))
    return stages


def eval_stages(config: ExperimentConfig, run_dir: Path) -> list[Stage]:
    from skillmix.engine.settings import EvalConfig

    e = config.evaluation.model_dump()
    settings, evaluate_original = e.pop("settings"), e.pop("evaluate_original")
    models = ([ORIGINAL] if evaluate_original else []) + [f.name for f in config.finetunes]
    stages = []
    for model in models:
        student = config.models.student if model == ORIGINAL else finetuned_label(config, model)
        for setting in settings:
            skills, topics = SETTING_POOLS[setting]
            ec = EvalConfig(student=student, grader=config.models.grader, skills=skills, topics=topics, **e,
                            model_args=select_roles(config.models.args, ("student", "grader")))
            inputs = () if model == ORIGINAL else (f"train:{model}",)
            stages.append(Stage(f"eval:{model}:{setting}", "eval", run_dir / "eval" / model / setting,
                                config_identity(ec.model_dump(mode="json")), inputs, config=ec))
    return stages


def plan(config: ExperimentConfig, run_dir: Path) -> list[Stage]:
    """Every stage of the experiment, in dependency order."""
    run_dir = Path(run_dir)
    stages = data_stages(config, run_dir) + train_stages(config, run_dir) + eval_stages(config, run_dir)
    evals = tuple(s.name for s in stages if s.kind == "eval")
    stages.append(Stage("report", "report", run_dir / "report", {"report": 1}, evals))
    return stages


def downstream(stages: list[Stage], roots: set[str]) -> set[str]:
    """``roots`` and every stage that depends on them, transitively."""
    out = set(roots)
    for s in stages:  # dependency order: one pass suffices
        if any(i in out for i in s.inputs):
            out.add(s.name)
    return out


def resolve_force(stages: list[Stage], force: tuple[str, ...]) -> set[str]:
    """Stage names (or kinds: data, mix, train, eval, report) to redo, plus their dependants."""
    names = {s.name for s in stages}
    kinds = {s.kind for s in stages}
    roots: set[str] = set()
    for item in force:
        if item in names:
            roots.add(item)
        elif item in kinds:
            roots |= {s.name for s in stages if s.kind == item}
        else:
            raise SkillmixError(f"unknown stage {item!r}; choose a kind ({', '.join(sorted(kinds))}) or one of: {', '.join(names)}")
    return downstream(stages, roots)


def estimate_calls(stage: Stage) -> dict[str, int]:
    """Model calls a stage makes (before cache hits and retries)."""
    sp = stage.spec
    if stage.kind == "data":
        n = sum(sp["n"])
        return {"teacher": 2 * n, "grader": sp["gradings"] * n}
    if stage.kind == "eval":
        gens = sp["combinations"] * len(sp["k"]) * sp["generations"]
        return {"student": 2 * gens, "grader": sp["gradings"] * gens}
    return {}


def plan_rows(stages: list[Stage], keys: dict[str, str], forced: set[str], run_dir: Path) -> list[dict[str, Any]]:
    rows = []
    for s in stages:
        status = stage_status(s, keys[s.name])
        todo = status != "done" or s.name in forced
        rows.append({"stage": s.name, "status": "forced" if s.name in forced else status, "run": todo,
                     "folder": str(s.folder.relative_to(run_dir)), "key": keys[s.name], "calls": estimate_calls(s)})
    return rows


def plan_digest(rows: list[dict[str, Any]]) -> str:
    return digest([(r["stage"], r["key"]) for r in rows])
