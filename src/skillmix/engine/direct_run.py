"""One SKILL-MIX evaluation on the direct call path (``skillmix.engine.direct``).

It draws the same combinations with the same ids and shards as the inspect task in
``skillmix.engine.tasks`` (protocol §2), holds the same two-turn conversation (§3), grades
the second answer J times with distinct seeds and the same parsing, checks and vote (§4,
``skillmix.protocol.grading``), and writes the same records to ``samples.jsonl`` and the
same metrics to ``results.json`` (§5), so everything downstream reads either path alike.
Every reply is journalled in ``OUT/calls.jsonl`` as it arrives; re-running resumes from it.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skillmix.engine.direct import CallError, CallJournal, Endpoint, ModelClient, PriorityLimiter, chat_body
from skillmix.engine.results import (
    metrics_for_k,
    results_document,
    run_status,
    sum_usage,
    write_results,
    write_samples_file,
)
from skillmix.engine.settings import EvalConfig
from skillmix.engine.shard import SHARD_FILE, shard_info, shard_slice
from skillmix.formats.files import write_json
from skillmix.formats.samples import make_record
from skillmix.protocol.catalog import Catalog, load_catalog
from skillmix.protocol.grading import score_gradings, vote
from skillmix.protocol.metrics import generation_metrics
from skillmix.protocol.prompts import generation_turns, grading_prompt
from skillmix.protocol.rubric import extract_answer
from skillmix.protocol.sampling import Combination, sample_combinations, sample_id

JOURNAL_FILE = "calls.jsonl"


@dataclass(frozen=True)
class Text:
    """One generation to write and grade; ``position`` is its place in the run (and its call priority)."""

    position: int
    id: str
    epoch: int
    combo: Combination
    turns: tuple[str, ...]


def planned_texts(config: EvalConfig, k: int, catalog: Catalog) -> list[Text]:
    """This shard's generations of SKILL-MIX(k), in inspect's order: sample id, then epoch."""
    combos = sample_combinations(catalog, k, config.combinations, random.Random(config.seed), config.skills,
                                 config.topics, config.skill_weights)
    drawn = [(sample_id(k, i), combo) for i, combo in enumerate(combos)]
    shard = config.shard
    mine = drawn if shard is None else shard_slice(drawn, shard.index, shard.count)
    pairs = [(sid, combo, epoch) for sid, combo in mine for epoch in range(1, config.generations + 1)]
    return [Text(i, sid, epoch, combo, tuple(generation_turns(combo, config.generation_prompt)))
            for i, (sid, combo, epoch) in enumerate(pairs)]


async def write_and_grade(text: Text, student: ModelClient, grader: ModelClient, config: EvalConfig) -> dict[str, Any]:
    """The conversation, the J gradings and the record of one generation; a failed call makes it an errored record."""
    messages: list[dict[str, str]] = []
    try:
        for turn in text.turns:
            messages.append({"role": "user", "content": turn})
            body = chat_body(student.endpoint, list(messages), config.student_temperature, config.student_max_tokens)
            messages.append({"role": "assistant", "content": await student.complete(body, text.epoch, text.position)})
        answer = extract_answer(messages[-1]["content"])
        prompt = [{"role": "user", "content": grading_prompt(text.combo, answer, config.grade_prompt)}]
        replies = await asyncio.gather(*(
            grader.complete(chat_body(grader.endpoint, prompt, config.grader_temperature, config.grader_max_tokens,
                                      config.grader_seed + j), text.epoch, text.position)
            for j in range(config.gradings)))
    except CallError as e:
        return _record(text, messages, None, [], str(e))
    # Replies arrive in bursts; the requests their freed slots let go are already queued on the
    # event loop. Yield once so they go out before this text's grading is parsed.
    await asyncio.sleep(0)
    gradings = score_gradings(list(replies), text.combo, answer, config.name_penalty, config.name_penalty_rule,
                              config.sentences)
    return _record(text, messages, answer, gradings, None)


def _record(text: Text, messages: list[dict[str, str]], answer: str | None, gradings: list[dict[str, Any]],
            error: str | None) -> dict[str, Any]:
    voted = vote(gradings) if error is None else None
    return make_record(
        id=text.id, epoch=text.epoch, k=text.combo.k, skills=list(text.combo.skill_names), topic=text.combo.topic.name,
        messages=messages, answer=answer, gradings=gradings, voted=voted, unscored=voted is None,
        metrics=None if voted is None else generation_metrics(voted, text.combo.k), error=error,
    )


async def run_texts(texts: list[Text], endpoints: tuple[Endpoint, Endpoint], config: EvalConfig, journal: CallJournal,
                    on_done: Callable[[], None]) -> tuple[list[dict[str, Any]], dict[str, dict[str, int]]]:
    """Every text's record (in ``texts`` order) and the token usage per model.

    At most a window of texts is in flight (a few times the connections: enough to keep both
    pools busy, few enough that memory does not grow with the run).
    """
    window = asyncio.Semaphore(4 * config.max_connections)
    async with _session(config) as s1, _session(config) as s2:
        student, grader = (ModelClient(e, s, PriorityLimiter(config.max_connections), journal, config.max_retries)
                           for e, s in zip(endpoints, (s1, s2)))
        records: list[dict[str, Any] | None] = [None] * len(texts)

        async def one(text: Text) -> None:
            try:
                records[text.position] = await write_and_grade(text, student, grader, config)
                on_done()
            finally:
                window.release()

        async with asyncio.TaskGroup() if hasattr(asyncio, "TaskGroup") else _Gather() as group:
            for text in texts:
                await window.acquire()
                group.create_task(one(text))
    # One entry per model, summed when one model plays both roles.
    usage = sum_usage({c.endpoint.model_id: c.usage} for c in (student, grader))
    return [r for r in records if r is not None], usage


def _session(config: EvalConfig):
    """One model's HTTP session: as many connections as it has slots, the run's timeout per request."""
    import aiohttp

    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=config.max_connections, limit_per_host=0),
                                 timeout=aiohttp.ClientTimeout(total=config.timeout))


class _Gather:
    """asyncio.TaskGroup for Python 3.10: wait for every task; the first failure propagates."""

    async def __aenter__(self) -> _Gather:
        self.tasks: list[asyncio.Task] = []
        return self

    def create_task(self, coro) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.append(task)
        return task

    async def __aexit__(self, *exc) -> None:
        await asyncio.gather(*self.tasks)


def run_direct_eval(config: EvalConfig, out_dir: Path, endpoints: tuple[Endpoint, Endpoint],
                    meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write and grade every planned text of ``config.k`` (one k), then write samples.jsonl and results.json."""
    (k,) = config.k
    out_dir.mkdir(parents=True, exist_ok=True)
    if config.shard is not None:
        write_json(out_dir / SHARD_FILE, shard_info(config.shard))
    catalog = load_catalog(config.skills_file, config.topics_file)
    texts = planned_texts(config, k, catalog)
    journal = CallJournal.open(out_dir / JOURNAL_FILE)
    try:
        with _progress(config.display, len(texts), f"k={k}") as advance:
            records, usage = asyncio.run(run_texts(texts, endpoints, config, journal, advance))
    finally:
        journal.close()
    write_samples_file(out_dir, records)
    results = direct_results(config, k, records, usage, len(texts), catalog.digest(), meta)
    write_results(out_dir, results)
    return results


def direct_results(config: EvalConfig, k: int, records: list[dict[str, Any]], usage: dict[str, dict[str, int]],
                   planned: int, catalog_digest: str, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """results.json's content (``results.results_document``, as the inspect path builds it)."""
    from skillmix.formats.provenance import host, package_versions

    # No intervals: a teacher-data run's metrics are never reported (stats.json has its pass rates), and the
    # interval libraries cost ~3 s of CPU to import, more than the calls of a 200-text shard (docs/performance.md).
    per_k = {str(k): metrics_for_k(records, k, config.gradings, intervals=False)}
    errors, missing = per_k[str(k)]["n_errors"], planned - len(records)
    status = run_status({str(k): "success" if errors == 0 and missing == 0 else "error"}, planned, errors, missing)
    engine = {**package_versions(["inspect_ai", "aiohttp"]), **host(), "call_path": "direct"}
    return results_document(config, status=status, metrics=per_k, usage=usage, engine=engine,
                            catalog_digest=catalog_digest, logs=[], view=None, meta=meta)


@contextmanager
def _progress(display: str, total: int, label: str) -> Iterator[Callable[[], None]]:
    """A rich progress bar of finished texts (none with --display none or log); yields its advance()."""
    if display in ("none", "log"):
        yield lambda: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn, TimeRemainingColumn

    columns = ("{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, refresh_per_second=2, transient=False) as progress:
        task = progress.add_task(f"generate {label}", total=total)
        yield lambda: progress.advance(task)
