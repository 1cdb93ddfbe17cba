"""Reading evaluation folders (docs/report.md, "Inputs").

An evaluation folder is what ``skillmix eval`` writes: ``results.json`` (config =
an EvalConfig dump, metrics per k, meta) and ``samples.jsonl`` (one record per
generation, see ``skillmix.formats.samples``). ``discover(run_dir)`` finds every
such folder below a run (``RUN/eval/<model>/<setting>/``, or one folder), streams
its samples into ``Generation`` records and labels each folder for the tables.
Teacher-data runs (``skillmix generate``, marked ``meta.purpose``) are left out
unless nothing else is there.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from skillmix.errors import SkillmixError
from skillmix.formats.files import iter_jsonl, read_json
from skillmix.formats.versions import RESULTS_VERSION, SAMPLES_VERSION, format_version
from skillmix.protocol.catalog import SETTING_POOLS
from skillmix.protocol.metrics import awarded as is_awarded

TEACHER_DATA = "teacher data"  # meta.purpose of the runs behind D(k)
ORIGINAL = "original"  # the label (and eval/<label>/ folder) of the untrained student in a run


@dataclass(frozen=True)
class Generation:
    """The part of one ``samples.jsonl`` record a report needs (no grader raw replies kept): the one
    generation type of the report and the analyses (``analysis.evaldata`` reads the vote its own way).

    ``reply`` is the graded (last assistant) message, which the format analysis of the
    report reads: keeping it here lets every section share this one parse of the file.
    """

    id: str
    epoch: int
    k: int
    combination: tuple[tuple[str, ...], str]  # (skills in rubric order, topic)
    answer: str | None
    points: tuple[tuple[float, ...] | None, ...]  # per grading, after the checks
    parsed: tuple[tuple[float, ...] | None, ...]  # per grading, before the checks
    voted: tuple[float, ...] | None
    error: str | None
    unscored_reasons: tuple[str | None, ...] = ()  # per grading; None for a scored grading
    panel: bool = False  # graded by a panel (gradings name their grader): ``voted`` is the decision
    reply: str | None = None  # the last assistant message: the graded (second-turn) reply

    @property
    def skills(self) -> tuple[str, ...]:
        return self.combination[0]

    @property
    def topic(self) -> str:
        return self.combination[1]

    @property
    def scored(self) -> bool:
        return self.voted is not None

    def awarded(self, i: int) -> bool:
        """Criterion i's voted point (protocol §5: awarded above ``metrics.AWARDED_ABOVE``)."""
        assert self.voted is not None
        return is_awarded(self.voted[i])

    def all_skills(self) -> bool:
        return all(self.awarded(i) for i in range(self.k))


@dataclass(frozen=True)
class EvalFolder:
    path: Path
    results: dict[str, Any]
    model: str
    setting: str
    student: str
    grader: str
    generations: tuple[Generation, ...]
    has_samples: bool
    label: str = ""  # unique row label within a setting, set by ``assign_labels``


# One tuple object per distinct criterion vector (points are mostly 0/1: a few hundred distinct
# vectors among a run's hundreds of thousands). Shared tuples cost no memory per generation, and a
# folder sent from a reading worker is pickled with references to them instead of copies. Keyed by
# the bytes of the doubles, so -0.0 and 0.0 stay apart; capped, so odd values cannot grow it forever.
_VECTORS: dict[bytes, tuple[float, ...]] = {}
_MAX_VECTORS = 1 << 16


def _vector(value: Any, k: int, where: str) -> tuple[float, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != k + 3:
        raise SkillmixError(f"{where}: expected null or a list of k+3={k + 3} criterion values, got {value!r}")
    vector = tuple(map(float, value))
    key = struct.pack(f"{len(vector)}d", *vector)
    if (shared := _VECTORS.get(key)) is not None:
        return shared
    if len(_VECTORS) < _MAX_VECTORS:
        _VECTORS[key] = vector
    return vector


def last_reply(messages: Any) -> str | None:
    """The last assistant message's text, or None (none, or not a string)."""
    replies = [m.get("content") for m in messages or [] if isinstance(m, dict) and m.get("role") == "assistant"]
    return replies[-1] if replies and isinstance(replies[-1], str) else None


def _reason(grading: dict[str, Any]) -> str | None:
    if grading.get("points") is not None:
        return None
    # samples.jsonl written before reasons were recorded has none: say so, don't guess.
    return str(grading.get("unscored_reason") or "not recorded")


def parse_generation(record: dict[str, Any], where: str) -> Generation:
    """One ``samples.jsonl`` record as a ``Generation``; bad shapes are a one-line error."""
    try:
        k = int(record["k"])
        gradings = record.get("gradings") or []
        return Generation(
            id=str(record["id"]),
            epoch=int(record["epoch"]),
            k=k,
            combination=(tuple(record.get("skills") or ()), str(record.get("topic"))),
            answer=record.get("answer"),
            points=tuple(_vector(g.get("points"), k, where) for g in gradings),
            parsed=tuple(_vector(g.get("parsed"), k, where) for g in gradings),
            voted=_vector(record.get("voted"), k, where),
            error=record.get("error"),
            unscored_reasons=tuple(_reason(g) for g in gradings),
            panel=any("grader" in g for g in gradings),
            reply=last_reply(record.get("messages")),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        if isinstance(e, SkillmixError):
            raise
        raise SkillmixError(f"{where}: not a skillmix sample record ({type(e).__name__}: {e})") from None


def iter_generations(path: Path) -> Iterator[Generation]:
    """Stream ``samples.jsonl`` one line at a time (never load it whole)."""
    for where, record in iter_jsonl(path, "re-export it with skillmix eval"):
        if isinstance(record, dict):
            format_version(record, SAMPLES_VERSION, where)
        yield parse_generation(record, where)


def read_results(path: Path) -> dict[str, Any] | None:
    """``results.json``'s content, or ``None`` if it is not an evaluation's results."""
    results = read_json(path, "re-run skillmix eval to rewrite it")
    if not isinstance(results, dict) or not isinstance(results.get("metrics"), dict) or "config" not in results:
        return None
    format_version(results, RESULTS_VERSION, str(path))
    return results


def setting_of(results: dict[str, Any]) -> str:
    """``meta.setting``, else the setting whose pools match, else the pools themselves."""
    meta = results.get("meta") or {}
    if meta.get("setting"):
        return str(meta["setting"])
    config = results.get("config") or {}
    pools = (config.get("skills"), config.get("topics"))
    for name, setting_pools in SETTING_POOLS.items():
        if pools == setting_pools:
            return name
    return f"{pools[0]} skills × {pools[1]} topics"


def load_folder(results_path: Path, results: dict[str, Any]) -> EvalFolder:
    """One evaluation folder: its results.json content plus its streamed samples."""
    config = results.get("config") or {}
    samples = results_path.parent / "samples.jsonl"
    generations = tuple(iter_generations(samples)) if samples.is_file() else ()
    return EvalFolder(
        path=results_path.parent,
        results=results,
        model=str((results.get("meta") or {}).get("model") or config.get("student", "?")),
        setting=setting_of(results),
        student=str(config.get("student", "?")),
        grader=str(config.get("grader", "?")),
        generations=generations,
        has_samples=samples.is_file(),
    )


def relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root)) or "."
    except ValueError:
        return str(path)


def assign_labels(folders: Sequence[EvalFolder], run_dir: Path) -> list[EvalFolder]:
    """Row labels: the model, plus the grader when a run has several, plus the path if still ambiguous."""
    several_graders = len({f.grader for f in folders}) > 1
    labelled = [replace(f, label=f"{f.model} [{f.grader}]" if several_graders else f.model) for f in folders]
    seen: dict[tuple[str, str], int] = {}
    for f in labelled:
        seen[(f.setting, f.label)] = seen.get((f.setting, f.label), 0) + 1
    return [
        replace(f, label=f"{f.label} ({relative(f.path, run_dir)})") if seen[(f.setting, f.label)] > 1 else f
        for f in labelled
    ]


def is_teacher_data(results: dict[str, Any]) -> bool:
    return (results.get("meta") or {}).get("purpose") == TEACHER_DATA


@dataclass(frozen=True)
class Discovery:
    folders: list[EvalFolder]
    skipped_teacher_data: list[str]  # teacher-data folders left out beside real evaluations
    teacher_data_only: bool  # nothing but teacher-data runs was found, so they are what is reported


FolderMap = Callable[[Callable[[tuple[Path, dict[str, Any]]], EvalFolder], Sequence[tuple[Path, dict[str, Any]]]],
                    list[EvalFolder]]


def _load(found: tuple[Path, dict[str, Any]]) -> EvalFolder:
    return load_folder(*found)


def discover(run_dir: Path, map_folders: FolderMap | None = None) -> Discovery:
    """Every evaluation folder below ``run_dir`` (recursively), labelled.

    ``map_folders(load, found)`` reads the folders (default: one after the other); a
    report passes one that reads them in parallel (``skillmix.analysis.parallel.fork_map``).
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise SkillmixError(
            f"run folder {run_dir} does not exist; pass a folder written by skillmix run or skillmix eval"
        )
    # Folders whose name starts with a dot (.stale/: work a run set aside) are never reported.
    found = [(p, r) for p in sorted(run_dir.rglob("results.json"))
             if not any(part.startswith(".") for part in p.relative_to(run_dir).parts[:-1])
             and (r := read_results(p)) is not None]
    if not found:
        raise SkillmixError(
            f"no evaluation results.json found under {run_dir}; run skillmix eval --out {run_dir} first"
        )
    evaluations = [(p, r) for p, r in found if not is_teacher_data(r)]
    only_teacher = not evaluations
    evaluations = evaluations or found
    kept = {p for p, _ in evaluations}
    skipped = [relative(p.parent, run_dir) for p, _ in found if p not in kept]
    loaded = map_folders(_load, evaluations) if map_folders is not None else [_load(e) for e in evaluations]
    folders = assign_labels(loaded, run_dir)
    return Discovery(folders, skipped, only_teacher)
