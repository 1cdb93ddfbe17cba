"""What ``skillmix eval`` (and each run of ``skillmix generate``) checks before its first model call (protocol §8).

A mistake that can be seen without a model must cost no call: prompt names, catalog files,
draws that would repeat combinations, and an output folder that holds another evaluation,
finished or killed. The settings of a run are recorded in ``OUT/settings.json`` before its
first call, so a killed run (logs, but no ``results.json``) is still compared against.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skillmix.errors import SkillmixError

if TYPE_CHECKING:
    from skillmix.engine.settings import EvalConfig

SETTINGS_FILE = "settings.json"  # an evaluation's settings, written before its first model call
RESULTS_FILE = "results.json"


def check_settings(config: EvalConfig, flag: str = "--combinations") -> None:
    """The prompt names, the catalog files, and that each k's draw fits its pool without repeating a
    combination; ``flag`` names the setting that sets the draw's size in the message."""
    from skillmix.protocol.catalog import load_catalog
    from skillmix.protocol.prompts import load_template
    from skillmix.protocol.sampling import check_fits

    load_template("generation", config.generation_prompt)
    load_template("grade", config.grade_prompt)
    catalog = load_catalog(config.skills_file, config.topics_file)
    for k in config.k:
        check_fits(catalog, k, config.combinations, config.skills, config.topics, flag)


def check_data_settings(configs: Iterable[EvalConfig], flag: str = "--n") -> None:
    """``check_settings`` for the evaluation of each k of a D(k) build (``teacher.eval_config``; its --n is the
    draw's size). Given the configs, not the build, so this module imports nothing that imports it."""
    for config in configs:
        check_settings(config, flag)


def recorded_config(out_dir: Path) -> dict[str, Any] | None:
    """The settings an earlier run into ``out_dir`` recorded (at its start, or in its results), or None."""
    for name in (SETTINGS_FILE, RESULTS_FILE):
        path = Path(out_dir) / name
        if path.is_file():
            return json.loads(path.read_text("utf-8")).get("config") or {}
    return None


def setting_changes(before: dict[str, Any], now: dict[str, Any], ignore: frozenset[str]) -> list[str]:
    """``name before -> now`` for every setting outside ``ignore`` whose value differs (``settings.config_diff``)."""
    from skillmix.engine.settings import config_diff

    return [f"{k} {a!r} -> {b!r}" for k, (a, b) in config_diff(before, now, ignore).items()]


def refuse_different(out_dir: Path, now: dict[str, Any], operational: frozenset[str]) -> None:
    """An evaluation folder holds one evaluation: the same settings resume it, others are refused,
    whether the earlier run finished or was killed."""
    out_dir = Path(out_dir)
    before = recorded_config(out_dir)
    if before is None:
        logs = out_dir / "logs"
        if logs.is_dir() and any(logs.iterdir()):
            raise SkillmixError(f"{out_dir} holds the logs of an evaluation whose settings were not recorded; "
                                f"pick a new --out, or delete {logs} to start over")
        return
    differ = setting_changes(before, now, operational)
    if differ:
        raise SkillmixError(f"{out_dir} already holds a different evaluation ({'; '.join(differ)}); "
                            "pick a new --out, or give the same settings to resume")


def record_settings(out_dir: Path, now: dict[str, Any]) -> None:
    """Write ``OUT/settings.json`` (atomically) before the first call."""
    from skillmix.formats.files import write_json

    write_json(Path(out_dir) / SETTINGS_FILE, {"config": now})


@contextmanager
def foreign_logs_refused(out_dir: Path) -> Iterator[None]:
    """inspect's refusal of logs made by other tasks, as skillmix's own one line (inspect's advice names
    an option skillmix does not have). Reached when a setting that shapes the tasks, such as --cache, differs."""
    from skillmix.formats.inspect_private import prerequisite_error

    PrerequisiteError = prerequisite_error()  # noqa: N806 (a class, named as inspect names it)
    try:
        yield
    except PrerequisiteError as e:
        if "log-dir-allow-dirty" not in str(e):
            raise
        raise SkillmixError(f"{Path(out_dir) / 'logs'} holds logs of tasks with other settings (e.g. --cache); "
                            "give the settings of the earlier run to resume, or pick a new --out") from None
