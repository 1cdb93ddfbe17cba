"""One config reproduces the paper's grid: plan and run its stages (protocol §6–9).

An ``ExperimentConfig`` (typed, frozen; YAML is its saved form) names the models
by role, the D(k) sets and their mixtures, the fine-tuning runs and the
evaluation settings. ``plan`` turns it into stages in dependency order:

    data:<set>  ->  mix:<mixture>  ->  train:<finetune>  ->  eval:<model>:<setting>  ->  report

Each stage writes into its own folder under the run folder and records a key,
the hash of its own config and of its inputs' keys, in ``.skillmix-stage.json``
when it finishes. A finished stage whose key still matches is skipped; a stage
whose key changed is moved aside to ``.stale/`` (never deleted) and redone.
Stages that call models are themselves resumable (inspect logs and cache), so a
killed run loses nothing it finished.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from skillmix.protocol.catalog import Pool
from skillmix.errors import SkillmixError

Setting = Literal["I", "II", "III"]
# [P1 §3.3]: I = train skills x train topics, II = held-out x held-out (the main result), III = all x all.
SETTING_POOLS: dict[str, tuple[Pool, Pool]] = {"I": ("train", "train"), "II": ("heldout", "heldout"), "III": ("all", "all")}
STAGE_FILE = ".skillmix-stage.json"
ORIGINAL = "original"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Models(_Frozen):
    teacher: str = "local"
    grader: str = "local"
    student: str = "local"  # the original student, as an inspect model id (or local)
    student_base: str = "local"  # the same model as training loads it: HF folder/id, .gguf, or local
    finetuned_engine: Literal["hf", "vllm"] = "hf"  # how fine-tuned checkpoints are served to inspect


class DataSet(_Frozen):
    name: str
    k: int = Field(ge=1)
    n: int = Field(ge=1)
    skills: Pool | None = None  # None: the paper's pools for this k (protocol §6)
    topics: Pool | None = None


class Mixture(_Frozen):
    name: str
    datasets: tuple[str, ...]
    subsample: int | None = Field(None, ge=1)  # a fixed number of random texts (data-efficiency ablation)
    seed: int = 0


class Finetune(_Frozen):
    name: str
    data: str  # a data set or mixture name
    recipe: str = "configs/train/paper.yaml"
    lora: bool = False
    overrides: dict[str, str | int | float | bool] = Field(default_factory=dict)


class Generation(_Frozen):
    gradings: int = Field(3, ge=1)
    keep: Literal["full_marks", "all_skills", "all"] = "full_marks"
    seed: int = 0
    teacher_max_tokens: int = Field(512, ge=1)
    grader_max_tokens: int = Field(1024, ge=1)
    max_connections: int = Field(16, ge=1)


class Evaluation(_Frozen):
    settings: tuple[Setting, ...] = ("I", "II", "III")
    k: tuple[int, ...] = (1, 2, 3, 4, 5)
    combinations: int = Field(100, ge=1)
    generations: int = Field(3, ge=1)
    gradings: int = Field(3, ge=1)
    seed: int = 0
    student_max_tokens: int = Field(512, ge=1)
    grader_max_tokens: int = Field(1024, ge=1)
    max_connections: int = Field(16, ge=1)
    evaluate_original: bool = True


class ExperimentConfig(_Frozen):
    name: str = "experiment"
    description: str = ""
    models: Models = Models()
    generation: Generation = Generation()
    datasets: tuple[DataSet, ...] = ()
    mixtures: tuple[Mixture, ...] = ()
    finetunes: tuple[Finetune, ...] = ()
    evaluation: Evaluation = Evaluation()

    @model_validator(mode="after")
    def _names_resolve(self) -> ExperimentConfig:
        data_names = [d.name for d in self.datasets] + [m.name for m in self.mixtures]
        if len(set(data_names)) != len(data_names):
            raise ValueError("data set and mixture names must be unique")
        for m in self.mixtures:
            unknown = [d for d in m.datasets if d not in data_names]
            if unknown:
                raise ValueError(f"mixture {m.name!r} uses unknown data set(s) {unknown}; defined: {data_names}")
        for f in self.finetunes:
            if f.data not in data_names:
                raise ValueError(f"finetune {f.name!r} uses unknown data {f.data!r}; defined: {data_names}")
        if ORIGINAL in [f.name for f in self.finetunes]:
            raise ValueError(f"{ORIGINAL!r} is reserved for the untrained student")
        return self


def load_config(path: Path) -> ExperimentConfig:
    if not Path(path).is_file():
        raise SkillmixError(f"config file not found: {path}")
    try:
        raw = yaml.safe_load(Path(path).read_text()) or {}
    except yaml.YAMLError as e:
        raise SkillmixError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    return ExperimentConfig.model_validate(raw)


def config_yaml(config: ExperimentConfig) -> str:
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)


@dataclass(frozen=True)
class Stage:
    name: str  # e.g. "data:D1", "eval:original:II"
    kind: Literal["data", "mix", "train", "eval", "report"]
    folder: Path
    spec: dict[str, Any]
    inputs: tuple[str, ...] = ()
    run: Callable[[], Any] = field(compare=False, default=lambda: None)


def stage_key(spec: dict[str, Any], input_keys: list[str]) -> str:
    blob = json.dumps({"spec": spec, "inputs": input_keys}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def stage_keys(stages: list[Stage]) -> dict[str, str]:
    keys: dict[str, str] = {}
    for s in stages:  # stages are in dependency order
        keys[s.name] = stage_key(s.spec, [keys[i] for i in s.inputs])
    return keys


def stage_status(stage: Stage, key: str) -> Literal["done", "stale", "todo"]:
    marker = stage.folder / STAGE_FILE
    if not marker.is_file():
        return "todo"
    return "done" if json.loads(marker.read_text()).get("key") == key else "stale"


def data_folder(run_dir: Path, name: str) -> Path:
    return run_dir / "data" / name


def student_id(config: ExperimentConfig, run_dir: Path, model: str) -> str:
    """The inspect model id of a model label: the original student or a fine-tuned checkpoint."""
    if model == ORIGINAL:
        return config.models.student
    return f"{config.models.finetuned_engine}/{(run_dir / 'train' / model).resolve()}"


def data_stages(config: ExperimentConfig, run_dir: Path, display: str) -> list[Stage]:
    from skillmix.engine import teacher as data

    stages = []
    for d in config.datasets:
        dc = data.DataConfig(
            teacher=config.models.teacher, grader=config.models.grader, k=(d.k,), n=(d.n,), skills=d.skills,
            topics=d.topics, keep=config.generation.keep, seed=config.generation.seed,
            gradings=config.generation.gradings, teacher_max_tokens=config.generation.teacher_max_tokens,
            grader_max_tokens=config.generation.grader_max_tokens, max_connections=config.generation.max_connections,
            display=display,
        )
        out = data_folder(run_dir, d.name)
        stages.append(Stage(f"data:{d.name}", "data", out, dc.model_dump(mode="json", exclude={"display"}),
                            run=lambda dc=dc, out=out: data.generate_dataset(dc, out)))
    for m in config.mixtures:
        dirs = [data_folder(run_dir, n) for n in m.datasets]
        out = data_folder(run_dir, m.name)
        run = (lambda dirs=dirs, out=out: data.mix_datasets(dirs, out)) if m.subsample is None else (
            lambda dirs=dirs, out=out, m=m: data.subsample_dataset(dirs, m.subsample, m.seed, out))
        stages.append(Stage(f"mix:{m.name}", "mix", out, m.model_dump(mode="json"),
                            tuple(f"data:{n}" if n in {d.name for d in config.datasets} else f"mix:{n}" for n in m.datasets),
                            run=run))
    return stages


def train_stages(config: ExperimentConfig, run_dir: Path) -> list[Stage]:
    dataset_names = {d.name for d in config.datasets}
    stages = []
    for f in config.finetunes:
        data_stage = f"data:{f.data}" if f.data in dataset_names else f"mix:{f.data}"
        recipe_path = Path(f.recipe)
        spec = {**f.model_dump(mode="json"), "base": config.models.student_base,
                "recipe_text": recipe_path.read_text() if recipe_path.is_file() else None}
        out = run_dir / "train" / f.name
        stages.append(Stage(f"train:{f.name}", "train", out, spec, (data_stage,),
                            run=lambda f=f, out=out: run_finetune(config, run_dir, f, out)))
    return stages


def run_finetune(config: ExperimentConfig, run_dir: Path, f: Finetune, out: Path) -> Any:
    from skillmix.train import loop as train

    recipe = train.load_recipe(Path(f.recipe))
    overrides = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in f.overrides.items()}
    if f.lora:
        overrides.setdefault("lora", "true")
    recipe = train.apply_overrides(recipe, overrides, train.trainer_field_types())
    resume = out.is_dir() and train.last_checkpoint(out) is not None  # an interrupted run continues
    return train.train([data_folder(run_dir, f.data)], config.models.student_base, out, recipe, resume=resume)


def eval_stages(config: ExperimentConfig, run_dir: Path, display: str) -> list[Stage]:
    from skillmix.engine.evaluate import EvalConfig, run_eval

    e = config.evaluation
    models = ([ORIGINAL] if e.evaluate_original else []) + [f.name for f in config.finetunes]
    stages = []
    for model in models:
        for setting in e.settings:
            skills, topics = SETTING_POOLS[setting]
            ec = EvalConfig(
                student=student_id(config, run_dir, model), grader=config.models.grader, k=e.k, skills=skills,
                topics=topics, combinations=e.combinations, generations=e.generations, gradings=e.gradings,
                seed=e.seed, student_max_tokens=e.student_max_tokens, grader_max_tokens=e.grader_max_tokens,
                max_connections=e.max_connections, display=display,
            )
            out = run_dir / "eval" / model / setting
            meta = {"model": model, "setting": setting}
            inputs = () if model == ORIGINAL else (f"train:{model}",)
            stages.append(Stage(f"eval:{model}:{setting}", "eval", out, ec.model_dump(mode="json", exclude={"display"}), inputs,
                                run=lambda ec=ec, out=out, meta=meta: run_eval(ec, out, meta=meta)))
    return stages


def plan(config: ExperimentConfig, run_dir: Path, display: str = "rich") -> list[Stage]:
    """Every stage of the experiment, in dependency order (``display`` is not part of any key)."""
    from skillmix.analysis.report import build_report

    run_dir = Path(run_dir)
    stages = data_stages(config, run_dir, display) + train_stages(config, run_dir) + eval_stages(config, run_dir, display)
    evals = tuple(s.name for s in stages if s.kind == "eval")
    stages.append(Stage("report", "report", run_dir / "report", {"report": 1}, evals,
                        run=lambda: build_report(run_dir, run_dir / "report")))
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


def plan_rows(stages: list[Stage], keys: dict[str, str], forced: set[str]) -> list[dict[str, Any]]:
    rows = []
    for s in stages:
        status = stage_status(s, keys[s.name])
        todo = status != "done" or s.name in forced
        rows.append({"stage": s.name, "status": "forced" if s.name in forced else status, "run": todo,
                     "folder": str(s.folder), "key": keys[s.name], "calls": estimate_calls(s)})
    return rows


def set_aside(run_dir: Path, stage: Stage) -> Path:
    """Move an outdated stage folder to ``.stale/`` rather than delete it (no data is lost)."""
    target = run_dir / ".stale" / f"{stage.name.replace(':', '_')}-{time.strftime('%Y%m%d-%H%M%S')}"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(stage.folder), target)
    return target


def run_stage(run_dir: Path, stage: Stage, key: str, status: str, forced: bool, echo: Callable[[str], None]) -> None:
    if stage.folder.exists() and (status == "stale" or forced):
        echo(f"  moved the previous {stage.name} aside to {set_aside(run_dir, stage)}")
    started = time.time()
    stage.run()
    stage.folder.mkdir(parents=True, exist_ok=True)
    marker = {"stage": stage.name, "key": key, "seconds": round(time.time() - started, 1),
              "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    (stage.folder / STAGE_FILE).write_text(json.dumps(marker, indent=2))
    echo(f"  {stage.name} done in {marker['seconds']} s")


def run_experiment(
    config: ExperimentConfig,
    run_dir: Path,
    force: tuple[str, ...] = (),
    dry_run: bool = False,
    display: str = "rich",
    echo: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Run (or with ``dry_run`` only plan) every stage that is not already done; return the plan rows."""
    run_dir = Path(run_dir)
    stages = plan(config, run_dir, display)
    keys = stage_keys(stages)
    forced = resolve_force(stages, force)
    rows = plan_rows(stages, keys, forced)
    if dry_run:
        return rows
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(config_yaml(config))
    (run_dir / "plan.json").write_text(json.dumps(rows, indent=2))
    for stage, row in zip(stages, rows):
        if not row["run"]:
            echo(f"[skip] {stage.name} (done, key {row['key']})")
            continue
        echo(f"[run]  {stage.name} -> {stage.folder}")
        run_stage(run_dir, stage, keys[stage.name], row["status"], stage.name in forced, echo)
    return plan_rows(stages, keys, set())
