"""A loopback Anthropic Messages + Message Batches API for testing ``anthropic/...`` models and ``--batch``
(docs/performance.md, "Batch APIs").

Serves, on 127.0.0.1 and a free port, what inspect's ``anthropic`` provider calls (anthropic SDK 2.x):

- ``POST /v1/messages``: the direct path, a ``message`` object with ``usage``;
- ``POST /v1/messages/batches`` (``{"requests": [{"custom_id", "params"}]}``) -> a batch, ``in_progress``;
- ``GET /v1/messages/batches/{id}`` -> the batch; it ends ``batch_latency`` seconds after creation, when every
  line is answered by the same ``reply_fn`` as a direct call (so batch and direct runs give the same texts)
  and lines matching ``batch_fail_when`` come back ``errored`` (a partial failure) with ``batch_error_type``;
- ``GET /v1/messages/batches/{id}/results`` (the batch's ``results_url``) -> the results JSONL.

Set ``ANTHROPIC_BASE_URL`` to ``base_url`` and any ``ANTHROPIC_API_KEY``. Batch lines are recorded on
``batch_requests`` (never on ``requests``/``calls``, which count direct calls), so a test can tell the two
paths apart. Server, request log and failure injection come from ``FakeOpenAI``. Standard library only.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler
from typing import Any

from skillmix.testing.fake_openai import FailFn, FakeOpenAI, count_words, make_handler, message_text

MESSAGES = "/v1/messages"
BATCHES = "/v1/messages/batches"
# The error type Anthropic sends with each HTTP status (https://docs.anthropic.com/en/api/errors).
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 429: "rate_limit_error", 500: "api_error", 529: "overloaded_error"}


def anthropic_error(message: str, kind: str) -> dict[str, Any]:
    """An Anthropic error body: ``{"type": "error", "error": {"type", "message"}}``."""
    return {"type": "error", "error": {"type": kind, "message": message}}


def system_text(request: dict[str, Any]) -> str:
    """The top-level ``system`` prompt (string or list of text blocks)."""
    return message_text({"content": request.get("system")})


def message_json(request: dict[str, Any], text: str, message_id: str) -> dict[str, Any]:
    """An Anthropic ``message`` object answering ``request`` with ``text``."""
    input_tokens = count_words(system_text(request)) + sum(count_words(message_text(m)) for m in request["messages"])
    return {
        "id": message_id, "type": "message", "role": "assistant", "model": request.get("model", "m"),
        "content": [{"type": "text", "text": text, "citations": None}],
        "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": count_words(text)},
    }


def iso(moment: float) -> str:
    """RFC 3339 time of a ``time.time()`` value, as the API writes its timestamps."""
    return datetime.fromtimestamp(moment, timezone.utc).isoformat().replace("+00:00", "Z")


def result_line(custom_id: str, message: dict[str, Any] | None, error_type: str) -> dict[str, Any]:
    """One line of a results JSONL: ``succeeded`` with ``message``, or ``errored`` with ``error_type``."""
    if message is not None:
        return {"custom_id": custom_id, "result": {"type": "succeeded", "message": message}}
    error = {"type": "error", "error": {"type": error_type, "message": "injected batch failure"}, "request_id": None}
    return {"custom_id": custom_id, "result": {"type": "errored", "error": error}}


class FakeAnthropic(FakeOpenAI):
    """``FakeOpenAI``'s server and scripting (``reply_fn``, ``latency``, ``fail_first``, ``fail_when``,
    ``fail_status``) speaking the Anthropic Messages API, plus Message Batches; see the module docstring."""

    def __init__(self, *args: Any, batch_latency: float = 0.5, batch_fail_when: FailFn | None = None,
                 batch_error_type: str = "api_error", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batch_latency = batch_latency
        self.batch_fail_when = batch_fail_when
        self.batch_error_type = batch_error_type
        self._batch_lock = threading.Lock()
        self.batches: dict[str, dict[str, Any]] = {}
        self.batch_requests: list[dict[str, Any]] = []  # the params of every batch line answered, in order
        self.batch_errored = 0  # lines answered `errored`
        self.batch_polls = 0

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return make_anthropic_handler(self)

    @property
    def base_url(self) -> str:
        """The value for ``ANTHROPIC_BASE_URL`` (the SDK adds ``/v1/...`` itself)."""
        return f"http://127.0.0.1:{self.port}"

    # -- direct calls --------------------------------------------------------
    def respond(self, body: dict[str, Any], authorization: str | None) -> tuple[int, dict[str, Any]]:
        """Status and JSON body for one ``POST /v1/messages`` (latency included)."""
        fail_kind = ERROR_TYPES.get(self.fail_status, "api_error")
        recorded, refused = self.admit(body, authorization, anthropic_error, fail_kind)
        if refused is not None:
            return refused
        return 200, message_json(body, self.reply_fn(body), f"msg_fake_{recorded.index}")

    # -- batches -------------------------------------------------------------
    def create_batch(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._batch_lock:
            batch_id = f"msgbatch_{len(self.batches)}"
            self.batches[batch_id] = {"id": batch_id, "requests": body["requests"], "created": time.time(),
                                      "started": time.monotonic(), "results": None, "finished": None}
            return self.public(self.batches[batch_id])

    def retrieve(self, batch_id: str) -> dict[str, Any] | None:
        with self._batch_lock:
            self.batch_polls += 1
            batch = self.batches.get(batch_id)
            if batch is None:
                return None
            if batch["results"] is None and time.monotonic() - batch["started"] >= self.batch_latency:
                self.finish(batch)
            return self.public(batch)

    def results(self, batch_id: str) -> bytes | None:
        """The results JSONL of an ended batch; None while it is unknown or still in progress."""
        with self._batch_lock:
            batch = self.batches.get(batch_id)
            rows = None if batch is None else batch["results"]
        return None if rows is None else "".join(json.dumps(r) + "\n" for r in rows).encode()

    def finish(self, batch: dict[str, Any]) -> None:
        """Answer every line of the batch (called under the lock)."""
        rows = []
        for line in batch["requests"]:
            params = line["params"]
            self.batch_requests.append(params)
            failed = self.batch_fail_when is not None and self.batch_fail_when(params)
            self.batch_errored += failed
            message = None if failed else message_json(params, self.reply_fn(params), f"msg_batch_{len(self.batch_requests)}")
            rows.append(result_line(line["custom_id"], message, self.batch_error_type))
        batch["results"] = rows
        batch["finished"] = time.monotonic()
        batch["ended_at"] = time.time()

    def public(self, batch: dict[str, Any]) -> dict[str, Any]:
        """The ``message_batch`` object the API returns for ``batch``."""
        rows = batch["results"]
        kinds = [r["result"]["type"] for r in rows] if rows is not None else []
        return {
            "id": batch["id"], "type": "message_batch",
            "processing_status": "in_progress" if rows is None else "ended",
            "request_counts": {"processing": len(batch["requests"]) - len(kinds), "succeeded": kinds.count("succeeded"),
                               "errored": kinds.count("errored"), "canceled": 0, "expired": 0},
            "created_at": iso(batch["created"]), "expires_at": iso(batch["created"] + timedelta(hours=24).total_seconds()),
            "ended_at": iso(batch["ended_at"]) if rows is not None else None,
            "archived_at": None, "cancel_initiated_at": None,
            "results_url": f"{self.base_url}{BATCHES}/{batch['id']}/results" if rows is not None else None,
        }

    # -- what tests read -----------------------------------------------------
    def in_progress_lines(self) -> list[dict[str, Any]]:
        """The params of the batches not answered yet (what a kill now would leave in flight)."""
        with self._batch_lock:
            return [line["params"] for b in self.batches.values() if b["results"] is None for line in b["requests"]]

    def lines_finished_since(self, moment: float) -> int:
        """Lines of the batches answered at or after ``moment`` (time.monotonic())."""
        with self._batch_lock:
            return sum(len(b["requests"]) for b in self.batches.values() if (b["finished"] or -1) >= moment)


def make_anthropic_handler(fake: FakeAnthropic) -> type[BaseHTTPRequestHandler]:
    """FakeOpenAI's handler (JSON replies, quiet log) with the Anthropic routes."""
    base = make_handler(fake)

    class AnthropicHandler(base):  # type: ignore[valid-type, misc]
        def route(self) -> str:
            # The SDK adds `?beta=true` when it calls a beta endpoint; the fake serves both alike.
            return self.path.split("?", 1)[0].rstrip("/")

        def do_GET(self) -> None:
            path = self.route()
            parts = path.removeprefix(BATCHES + "/").split("/")
            if not path.startswith(BATCHES + "/") or len(parts) > 2 or (len(parts) == 2 and parts[1] != "results"):
                self.send_json(404, anthropic_error(f"no route {self.path}", "not_found_error"))
            elif len(parts) == 1:
                batch = fake.retrieve(parts[0])
                self.send_json(200, batch) if batch else self.send_json(404, anthropic_error("no batch", "not_found_error"))
            else:
                self.send_results(fake.results(parts[0]))

        def send_results(self, data: bytes | None) -> None:
            if data is None:
                self.send_json(404, anthropic_error("no results (unknown or unfinished batch)", "not_found_error"))
                return
            self.send_body(200, data, "application/binary")

        def do_POST(self) -> None:
            path = self.route()
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if path not in (MESSAGES, BATCHES):
                self.send_json(404, anthropic_error(f"no route {self.path}", "not_found_error"))
                return
            try:
                body = json.loads(raw)
            except json.JSONDecodeError as e:
                self.send_json(400, anthropic_error(f"bad JSON: {e}", "invalid_request_error"))
                return
            if path == BATCHES:
                self.send_json(200, fake.create_batch(body))
                return
            try:
                # SDK 2.x sends the key as a bearer token, older ones as x-api-key: record whichever came.
                status, payload = fake.respond(body, self.headers.get("Authorization") or self.headers.get("x-api-key"))
            except Exception as e:  # a broken reply_fn must show up in the test, not hang it
                status, payload = 500, anthropic_error(f"reply_fn raised {type(e).__name__}: {e}", "api_error")
            self.send_json(status, payload, fake.retry_after_ms if status >= 400 else None)
            fake.mark_responded()

    return AnthropicHandler
