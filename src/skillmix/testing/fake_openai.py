"""A loopback OpenAI-compatible chat-completions server for tests and benchmarks.

Stands in for the API teachers, students and graders of the pipeline (protocol
§3 generation, §4 grading) so that tests can script replies, inject failures and
measure concurrency without a network or a key. It serves, on 127.0.0.1 and a
free port:

- ``POST /v1/chat/completions``: a valid ``chat.completion`` object with ``usage``;
- ``GET /v1/models``: one model.

Each request is handled on its own thread, so a fixed ``latency`` overlaps across
concurrent calls, as it does with a real API. Use it as a context manager; the
server stops on exit::

    with FakeOpenAI(reply_fn=lambda req: "Answer: hi") as fake:
        model = get_model("openai-api/fake/m", base_url=fake.base_url, api_key="x")

A test utility (``skillmix.testing``), not a pipeline stage; standard library only.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

ReplyFn = Callable[[dict[str, Any]], str]
FailFn = Callable[[dict[str, Any]], bool]
ErrorFn = Callable[[str, str], dict[str, Any]]  # (message, kind) -> a provider's error body

GRADER_PREFIX = "Greetings! I was wondering if you could help me grade"


@dataclass(frozen=True)
class RecordedRequest:
    """One received chat-completions request, as the server saw it."""

    index: int  # 0-based arrival order
    body: dict[str, Any]
    authorization: str | None
    received_at: float  # time.monotonic()


def last_user_text(request: dict[str, Any]) -> str:
    """The text of the last user message (string or list-of-parts content)."""
    for message in reversed(request.get("messages", [])):
        if message.get("role") == "user":
            return message_text(message)
    return ""


def first_user_text(request: dict[str, Any]) -> str:
    """The text of the first user message: it tells a grader call from a student call."""
    for message in request.get("messages", []):
        if message.get("role") == "user":
            return message_text(message)
    return ""


def message_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def is_grader_request(request: dict[str, Any]) -> bool:
    return first_user_text(request).startswith(GRADER_PREFIX)


def echo_reply(request: dict[str, Any]) -> str:
    """Default reply: echo the last user message, so tests see what was sent."""
    return f"echo: {last_user_text(request)}"


def count_words(text: str) -> int:
    # A stand-in for tokens: deterministic and good enough for `usage` accounting.
    return len(text.split())


def completion_json(request: dict[str, Any], texts: list[str], index: int) -> dict[str, Any]:
    """An OpenAI ``chat.completion`` object with one choice per reply text."""
    prompt_tokens = sum(count_words(message_text(m)) for m in request.get("messages", []))
    completion_tokens = sum(count_words(t) for t in texts)
    return {
        "id": f"chatcmpl-fake-{index}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model", "m"),
        "system_fingerprint": "fake",
        "choices": [
            {
                "index": i,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
            for i, text in enumerate(texts)
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def error_json(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


class FakeOpenAI:
    """The server plus its scripted behaviour, call counter and request log.

    - ``reply_fn(request_json) -> str`` decides each reply (called once per choice, ``n``).
    - ``latency``: seconds each call sleeps before answering (on its own thread).
    - ``fail_first``: the first N calls get HTTP ``fail_status``.
    - ``fail_when(request_json) -> bool``: matching calls get HTTP ``fail_status``.
    - ``retry_after_ms``: sent as ``retry-after-ms`` on injected failures, so client
      retries (openai SDK, inspect) come back fast in tests; None sends no header.
    """

    def __init__(
        self,
        reply_fn: ReplyFn = echo_reply,
        *,
        latency: float = 0.0,
        fail_first: int = 0,
        fail_when: FailFn | None = None,
        fail_status: int = 500,
        retry_after_ms: int | None = 10,
        model: str = "m",
    ) -> None:
        self.reply_fn = reply_fn
        self.latency = latency
        self.fail_first = fail_first
        self.fail_when = fail_when
        self.fail_status = fail_status
        self.retry_after_ms = retry_after_ms
        self.model = model
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._failures = 0
        self._responded = 0
        self._in_flight = 0
        self._max_in_flight = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------
    def __enter__(self) -> FakeOpenAI:
        server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler_class(), bind_and_activate=False)
        server.daemon_threads = True  # a stuck request must not keep pytest alive
        # The default listen backlog (5) drops bursts of concurrent connects, which then
        # retry after a second and would make latency look serial. Two pools of 256 may connect at once.
        server.request_queue_size = 1024
        server.handle_error = _quiet_when_client_gone(server.handle_error)  # type: ignore[method-assign]
        try:
            server.server_bind()
            server.server_activate()
        except OSError:
            server.server_close()
            raise
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="fake-openai", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        """The request handler; subclasses (e.g. the Batch API fake) add routes."""
        return make_handler(self)

    # -- what tests read ---------------------------------------------------
    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeOpenAI is not running: use it as a context manager")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def calls(self) -> int:
        """Chat-completions requests received so far (failed ones included)."""
        with self._lock:
            return len(self._requests)

    def settled_calls(self, quiet: float = 0.5) -> int:
        """The request count once none has arrived for ``quiet`` seconds: after a client is killed,
        requests it sent just before may still be on their way."""
        calls, since = self.calls, time.monotonic()
        while time.monotonic() - since < quiet:
            time.sleep(0.05)
            if self.calls != calls:
                calls, since = self.calls, time.monotonic()
        return calls

    @property
    def failures(self) -> int:
        with self._lock:
            return self._failures

    @property
    def responded(self) -> int:
        """Chat-completions replies fully written back so far; ``calls - responded`` are in flight."""
        with self._lock:
            return self._responded

    def mark_responded(self) -> None:
        with self._lock:
            self._responded += 1

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    # -- what the handler calls --------------------------------------------
    def record(self, body: dict[str, Any], authorization: str | None) -> RecordedRequest:
        with self._lock:
            recorded = RecordedRequest(len(self._requests), body, authorization, time.monotonic())
            self._requests.append(recorded)
            return recorded

    def should_fail(self, recorded: RecordedRequest) -> bool:
        fail = recorded.index < self.fail_first or (
            self.fail_when is not None and self.fail_when(recorded.body)
        )
        if fail:
            with self._lock:
                self._failures += 1
        return fail

    def admit(
        self, body: dict[str, Any], authorization: str | None, error: ErrorFn, fail_kind: str
    ) -> tuple[RecordedRequest, tuple[int, dict[str, Any]] | None]:
        """Record one direct call and wait out the latency; also the error reply when it is refused
        (streaming asked for, or an injected failure), in the provider's ``error(message, kind)`` shape."""
        recorded = self.record(body, authorization)
        if self.latency > 0:
            self._wait_out_latency()
        if body.get("stream"):
            return recorded, (400, error("the fake server does not stream", "invalid_request_error"))
        if self.should_fail(recorded):
            return recorded, (self.fail_status, error("injected failure", fail_kind))
        return recorded, None

    def _wait_out_latency(self) -> None:
        # Counted so that tests can see calls overlap without timing them (timing belongs in benchmarks/).
        with self._lock:
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
        try:
            time.sleep(self.latency)
        finally:
            with self._lock:
                self._in_flight -= 1

    @property
    def max_in_flight(self) -> int:
        """The most calls that were waiting out their latency at the same time."""
        with self._lock:
            return self._max_in_flight

    def respond(self, body: dict[str, Any], authorization: str | None) -> tuple[int, dict[str, Any]]:
        """Status and JSON body for one chat-completions request (latency included)."""
        recorded, refused = self.admit(body, authorization, error_json, "server_error")
        if refused is not None:
            return refused
        n = int(body.get("n") or 1)
        texts = [self.reply_fn(body) for _ in range(n)]
        return 200, completion_json(body, texts, recorded.index)

    def models_json(self) -> dict[str, Any]:
        return {"object": "list", "data": [{"id": self.model, "object": "model", "created": 0, "owned_by": "fake"}]}


def _quiet_when_client_gone(report):
    """A client killed mid-run (the kill-and-resume tests) leaves replies in flight that fail with a
    broken pipe or a reset connection. That is the test working, not a server error; anything else
    is still reported."""

    def handle_error(request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            report(request, client_address)

    return handle_error


def make_handler(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    """A request-handler class bound to one FakeOpenAI (http.server wants a class)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as httpx expects

        def do_GET(self) -> None:
            if self.path.rstrip("/") == "/v1/models":
                self.send_json(200, fake.models_json())
            else:
                self.send_json(404, error_json(f"no route {self.path}", "not_found"))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if self.path.rstrip("/") != "/v1/chat/completions":
                self.send_json(404, error_json(f"no route {self.path}", "not_found"))
                return
            try:
                body = json.loads(raw)
            except json.JSONDecodeError as e:
                self.send_json(400, error_json(f"bad JSON: {e}", "invalid_request_error"))
                return
            try:
                status, payload = fake.respond(body, self.headers.get("Authorization"))
            except Exception as e:  # a broken reply_fn must show up in the test, not hang it
                status, payload = 500, error_json(f"reply_fn raised {type(e).__name__}: {e}", "server_error")
            retry_ms = fake.retry_after_ms if status >= 400 else None
            self.send_json(status, payload, retry_ms)
            fake.mark_responded()

        def send_json(self, status: int, payload: dict[str, Any], retry_after_ms: int | None = None) -> None:
            extra = {} if retry_after_ms is None else {"retry-after-ms": str(retry_after_ms)}
            self.send_body(status, json.dumps(payload).encode(), "application/json", extra)

        def send_body(self, status: int, data: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
            """One complete response: status, content type, any extra headers, length and body."""
            self.send_response(status, HTTPStatus(status).phrase)
            self.send_header("Content-Type", content_type)
            for name, value in (extra or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean; the request log is on `fake.requests`

    return Handler


def skillmix_reply(request: dict[str, Any], answer: str = "The seam held like a promise.", points: str = "1") -> str:
    """Canned SKILL-MIX replies: a full-marks rubric table for grader requests, else an answer."""
    if is_grader_request(request):
        k = last_user_text(request).count("Correctly illustrates")
        rows = "\n".join(f"| criterion {i + 1} | {points} |" for i in range(k + 3))
        return f"Here's the grading table:\n| Criteria | Points Earned |\n|---|---|\n{rows}\n| Total | {k + 3} |\n\nExplanation: ok"
    return f"Answer: {answer} Explanation: metaphor."


def content_digest(request: dict[str, Any]) -> int:
    """A stable number from everything that defines a request's reply (messages and seed), never arrival order."""
    import hashlib

    key = json.dumps([request.get("messages"), request.get("seed")], sort_keys=True)
    return int(hashlib.sha256(key.encode()).hexdigest()[:12], 16)


def varied_reply(request: dict[str, Any]) -> str:
    """Like ``skillmix_reply``, but answers and points vary with the request's content (a pure function of it):
    identity tests then compare real, differing texts and a mix of kept and dropped ones."""
    digest = content_digest(request)
    if is_grader_request(request):
        # Judged on the graded text alone, so that the J gradings of one text agree (a vote can fail it).
        text_digest = content_digest({"messages": [{"content": last_user_text(request)}]})
        return skillmix_reply(request, points="0" if text_digest % 3 == 0 else "1")
    return skillmix_reply(request, answer=f"The seam held like promise number {digest % 100000}.")
