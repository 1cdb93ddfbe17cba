"""The direct call path: OpenAI-compatible chat completions without inspect's per-call machinery.

Why it exists (docs/performance.md, "The direct call path"): every call through inspect's
``Model.generate`` costs about 9 ms of CPU before any skillmix work (cache entry deep copies,
transcript events, the openai SDK and its httpx pool), so a paper-size build (about 100,000
grader calls) is CPU-bound on one core long before a provider's rate limit. This module sends
the same requests with one aiohttp session per model and keeps what inspect gave the run:

- bounded concurrency per model (``max_connections``), handed out oldest text first, so the
  grader pool is fed while the teacher is still writing (``PriorityLimiter``);
- retries with exponential backoff and jitter from ``tenacity`` (inspect's own retry library),
  bounded by ``max_retries``, on connection errors, timeouts, 408, 409, 429 and 5xx;
- a content-addressed call journal (``CallJournal``): every finished reply is appended to
  ``calls.jsonl`` as it arrives, so a killed run loses at most the calls in flight, and a
  re-run sends only the requests whose replies are missing.

Only ``openai/...`` and ``openai-api/<service>/...`` models take this path, with the same
environment variables inspect reads (``direct_endpoint``). Protocol: none of its own; it only
carries the calls of docs/protocol.md §3 and §4.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import itertools
import json
from collections.abc import Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skillmix.engine.providers import parse_model_id

RETRYABLE_STATUS = frozenset({408, 409, 429}) | frozenset(range(500, 600))
OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"


@dataclass(frozen=True)
class Endpoint:
    """Where and how one model is called: its chat-completions URL, key and name on the server."""

    model_id: str
    url: str
    api_key: str
    model: str
    # OpenAI's own API wants max_completion_tokens (its reasoning models refuse max_tokens);
    # OpenAI-compatible servers take the older max_tokens.
    max_tokens_field: str = "max_tokens"


def direct_endpoint(model_id: str, env: Mapping[str, str], args: Mapping[str, Any] | None = None) -> Endpoint | None:
    """The endpoint of an OpenAI-compatible ``model_id``, from the variables inspect would read; else None.

    ``args``: the role's model arguments; their ``base_url`` and ``api_key`` win over the variables, as in inspect.
    """
    parsed = parse_model_id(model_id)
    if not parsed.facts.direct or not parsed.model or parsed.key_var is None or parsed.url_var is None:
        return None
    args = args or {}
    key, base = args.get("api_key") or env.get(parsed.key_var), args.get("base_url") or env.get(parsed.url_var)
    if not key or (parsed.facts.url_required and not base):
        return None
    if parsed.provider != "openai":
        return Endpoint(model_id, _chat_url(base or ""), key, parsed.model)
    base = base or OPENAI_DEFAULT_BASE_URL
    if "azure" in base:  # Azure routes deployments differently; inspect's provider knows how
        return None
    # OpenAI's own API wants max_completion_tokens (its reasoning models refuse max_tokens).
    return Endpoint(model_id, _chat_url(base), key, parsed.model, "max_completion_tokens")


def _chat_url(base: str) -> str:
    return base.rstrip("/") + "/chat/completions"


class CallError(Exception):
    """A call that failed for good: its text is recorded as errored, the run goes on."""

    def __init__(self, message: str, retryable: bool):
        super().__init__(message)
        self.retryable = retryable


class PriorityLimiter:
    """At most ``slots`` holders at once; a freed slot goes to the waiter with the lowest priority value.

    Priority is the text's position, so turn 2 of an early text goes before turn 1 of a later
    one: texts finish in order and reach the grader early, instead of every text's first turn
    being written before any second turn (which would leave the grader idle for most of the run).
    """

    def __init__(self, slots: int):
        self._free = slots
        self._waiters: list[tuple[int, int, asyncio.Future]] = []
        self._order = itertools.count()

    @asynccontextmanager
    async def slot(self, priority: int):
        await self._acquire(priority)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, priority: int) -> None:
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._order), future))
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self._release()  # the slot was handed over just as we were cancelled: pass it on
            raise

    def _release(self) -> None:
        while self._waiters:
            _, _, future = heapq.heappop(self._waiters)
            if not future.done():
                future.set_result(None)  # the slot passes straight to the waiter
                return
        self._free += 1


@dataclass
class CallJournal:
    """Finished replies by request key, appended to ``path`` one JSON line each as they arrive.

    A SIGKILL can cut the last line short; ``open`` drops such a tail (the call is simply
    made again), so the journal never holds a half reply.
    """

    path: Path
    replies: dict[str, dict[str, Any]] = field(default_factory=dict)
    _file: Any = None

    @classmethod
    def open(cls, path: Path) -> CallJournal:
        journal = cls(path)
        good = 0
        if path.exists():
            with path.open("rb") as f:
                for line in f:
                    try:
                        entry = json.loads(line)
                    except ValueError:
                        break  # a torn last line from a killed run
                    if not line.endswith(b"\n"):
                        break
                    journal.replies[entry["key"]] = entry
                    good += len(line)
            with path.open("r+b") as f:
                f.truncate(good)
        journal._file = path.open("ab", buffering=0)
        return journal

    def record(self, key: str, content: str, usage: dict[str, int]) -> dict[str, Any]:
        entry = {"key": key, "content": content, "usage": usage}
        # One unbuffered write per reply: it is in the OS's hands at once, so killing this
        # process loses no finished call.
        self._file.write((json.dumps(entry) + "\n").encode())
        self.replies[key] = entry
        return entry

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def request_key(model_id: str, payload: bytes, epoch: int) -> str:
    """Same model, same request bytes, same epoch -> same key; the epoch keeps G generations G real draws.

    The payload is serialised once per call from a body built in a fixed order, so equal
    requests have equal bytes and the key costs no second serialisation.
    """
    return hashlib.sha256(f"{model_id}\n{epoch}\n".encode() + payload).hexdigest()


def chat_body(endpoint: Endpoint, messages: list[dict[str, str]], temperature: float | None,
              max_tokens: int, seed: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"model": endpoint.model, "messages": messages, endpoint.max_tokens_field: max_tokens}
    if temperature is not None:
        body["temperature"] = temperature
    if seed is not None:
        body["seed"] = seed
    return body


@dataclass
class ModelClient:
    """One model's calls: its endpoint, concurrency limit, retry policy and the shared journal."""

    endpoint: Endpoint
    session: Any  # aiohttp.ClientSession
    limiter: PriorityLimiter
    journal: CallJournal
    max_retries: int
    first_wait: float = 1.0  # seconds before the first retry; doubles per retry (tests shorten it)
    usage: dict[str, int] = field(default_factory=lambda: {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0})

    async def complete(self, body: dict[str, Any], epoch: int, priority: int) -> str:
        """The reply's text: from the journal when this request was answered before, else from the server."""
        payload = json.dumps(body).encode()
        key = request_key(self.endpoint.model_id, payload, epoch)
        entry = self.journal.replies.get(key)
        if entry is None:
            async with self.limiter.slot(priority):
                content, usage = await self._send_with_retries(payload)
            entry = self.journal.record(key, content, usage)
        for name, value in entry["usage"].items():
            self.usage[name] = self.usage.get(name, 0) + value
        return entry["content"]

    async def _send_with_retries(self, payload: bytes) -> tuple[str, dict[str, int]]:
        try:  # the first try outside tenacity: building its state costs as much CPU as the request
            return await self._send(payload)
        except CallError as e:
            if not e.retryable or self.max_retries == 0:
                raise
            failed: CallError | None = e
        from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.max_retries + 1),
            # first_wait x (1, 2, 4, ...) s up to a minute, plus up to first_wait s of jitter
            wait=wait_exponential_jitter(multiplier=self.first_wait, max=60, jitter=self.first_wait),
            retry=retry_if_exception(lambda e: isinstance(e, CallError) and e.retryable),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                if failed is not None:  # replay the first failure, so tenacity counts it and waits before the next try
                    error, failed = failed, None
                    raise error
                return await self._send(payload)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    async def _send(self, payload: bytes) -> tuple[str, dict[str, int]]:
        import aiohttp

        headers = {"Authorization": f"Bearer {self.endpoint.api_key}", "Content-Type": "application/json"}
        try:
            async with self.session.post(self.endpoint.url, data=payload, headers=headers) as response:
                raw = await response.read()
                status = response.status
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            raise CallError(f"{self.endpoint.model_id}: {type(e).__name__}: {e}".strip(": "), retryable=True) from None
        if status != 200:
            text = raw[:300].decode(errors="replace").replace("\n", " ")
            raise CallError(f"{self.endpoint.model_id}: HTTP {status}: {text}", retryable=status in RETRYABLE_STATUS)
        return parse_completion(raw, self.endpoint.model_id)


def parse_completion(raw: bytes, model_id: str) -> tuple[str, dict[str, int]]:
    """(text, token usage) of a chat-completions reply; a reply without a text is an error, never ''."""
    try:
        data = json.loads(raw)
        content = data["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise CallError(f"{model_id}: reply is not a chat completion: {raw[:200]!r}", retryable=True) from None
    if not isinstance(content, str):
        raise CallError(f"{model_id}: reply has no text content", retryable=True)
    usage = data.get("usage") or {}
    tokens = {"input_tokens": int(usage.get("prompt_tokens") or 0), "output_tokens": int(usage.get("completion_tokens") or 0)}
    tokens["total_tokens"] = int(usage.get("total_tokens") or tokens["input_tokens"] + tokens["output_tokens"])
    return content, tokens
