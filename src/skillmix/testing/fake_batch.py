"""A loopback OpenAI Files + Batches API for testing ``--batch`` (docs/performance.md, "Batch APIs").

Extends ``FakeOpenAI`` (chat completions) with the endpoints inspect's OpenAI batcher uses:

- ``POST /v1/files`` (multipart upload of the request JSONL) -> a file object;
- ``POST /v1/batches`` -> a batch, ``in_progress``;
- ``GET /v1/batches/{id}`` -> the batch; it completes ``batch_latency`` seconds after creation,
  when every line is answered by the same ``reply_fn`` as a direct call (so batch and direct
  runs give the same texts) and lines matching ``batch_fail_when`` go to the error file;
- ``GET /v1/files/{id}/content`` -> the output or error JSONL.

Batch lines are recorded on ``batch_requests`` (never on ``requests``/``calls``, which count
direct calls), so a test can tell the two paths apart. Standard library only.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler
from typing import Any

from skillmix.testing.fake_openai import (
    FakeOpenAI,
    completion_json,
    error_json,
    make_handler,
)

BatchFailFn = Callable[[dict[str, Any]], bool]


def multipart_file(content_type: str, body: bytes) -> bytes:
    """The bytes of the ``file`` part of a multipart/form-data body."""
    message = BytesParser(policy=policy.default).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "file":
            return part.get_content() if isinstance(part.get_content(), bytes) else part.get_content().encode()
    raise ValueError("no 'file' part in the upload")


class FakeOpenAIBatch(FakeOpenAI):
    """``FakeOpenAI`` plus Files and Batches; see the module docstring."""

    def __init__(self, *args: Any, batch_latency: float = 0.5, batch_fail_when: BatchFailFn | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batch_latency = batch_latency
        self.batch_fail_when = batch_fail_when
        self._batch_lock = threading.RLock()  # finish() adds files while holding it
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.batch_requests: list[dict[str, Any]] = []
        self.batch_polls = 0

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return make_batch_handler(self)

    # -- state -------------------------------------------------------------
    def add_file(self, data: bytes) -> dict[str, Any]:
        with self._batch_lock:
            file_id = f"file-{len(self.files)}"
            self.files[file_id] = data
        return {"id": file_id, "object": "file", "bytes": len(data), "created_at": int(time.time()),
                "filename": f"{file_id}.jsonl", "purpose": "batch", "status": "processed"}

    def create_batch(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._batch_lock:
            batch_id = f"batch-{len(self.batches)}"
            self.batches[batch_id] = {
                "id": batch_id, "object": "batch", "endpoint": body.get("endpoint", "/v1/chat/completions"),
                "completion_window": body.get("completion_window", "24h"), "input_file_id": body["input_file_id"],
                "status": "in_progress", "created_at": int(time.time()), "output_file_id": None,
                "error_file_id": None, "errors": None,
                "request_counts": {"total": 0, "completed": 0, "failed": 0}, "_started": time.monotonic(),
            }
            return self.public(self.batches[batch_id])

    def in_progress_lines(self) -> list[dict[str, Any]]:
        """The request bodies of the batches not answered yet (what a kill now would leave in flight)."""
        with self._batch_lock:
            files = [self.files[b["input_file_id"]] for b in self.batches.values() if b["status"] == "in_progress"]
        return [json.loads(line)["body"] for data in files for line in data.decode().splitlines() if line.strip()]

    def lines_finished_since(self, moment: float) -> int:
        """Lines of the batches answered at or after ``moment`` (time.monotonic())."""
        with self._batch_lock:
            return sum(b["request_counts"]["total"] for b in self.batches.values() if b.get("_finished", -1) >= moment)

    @staticmethod
    def public(batch: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in batch.items() if not k.startswith("_")}

    def retrieve(self, batch_id: str) -> dict[str, Any] | None:
        with self._batch_lock:
            self.batch_polls += 1
            batch = self.batches.get(batch_id)
            if batch is None:
                return None
            if batch["status"] == "in_progress" and time.monotonic() - batch["_started"] >= self.batch_latency:
                self.finish(batch)
            return self.public(batch)

    def finish(self, batch: dict[str, Any]) -> None:
        """Answer every line of the batch (called under the lock)."""
        ok, failed = [], []
        for line in self.files[batch["input_file_id"]].decode().splitlines():
            if not line.strip():
                continue
            entry = json.loads(line)
            body = entry["body"]
            self.batch_requests.append(body)
            if self.batch_fail_when is not None and self.batch_fail_when(body):
                failed.append({"id": f"r-{len(self.batch_requests)}", "custom_id": entry["custom_id"],
                               "response": None, "error": {"code": 500, "message": "injected batch failure"}})
                continue
            n = int(body.get("n") or 1)
            completion = completion_json(body, [self.reply_fn(body) for _ in range(n)], len(self.batch_requests))
            ok.append({"id": f"r-{len(self.batch_requests)}", "custom_id": entry["custom_id"],
                       "response": {"status_code": 200, "request_id": "fake", "body": completion}, "error": None})
        for key, rows in (("output_file_id", ok), ("error_file_id", failed)):
            if rows:
                batch[key] = self.add_file("".join(json.dumps(r) + "\n" for r in rows).encode())["id"]
        batch["request_counts"] = {"total": len(ok) + len(failed), "completed": len(ok), "failed": len(failed)}
        batch["status"] = "completed"
        batch["completed_at"] = int(time.time())
        batch["_finished"] = time.monotonic()


def make_batch_handler(fake: FakeOpenAIBatch) -> type[BaseHTTPRequestHandler]:
    base = make_handler(fake)

    class BatchHandler(base):  # type: ignore[valid-type, misc]
        def do_GET(self) -> None:
            path = self.path.rstrip("/")
            if path.startswith("/v1/batches/"):
                batch = fake.retrieve(path.rsplit("/", 1)[1])
                self.send_json(200, batch) if batch else self.send_json(404, error_json("no batch", "not_found"))
            elif path.startswith("/v1/files/") and path.endswith("/content"):
                data = fake.files.get(path.split("/")[3])
                if data is None:
                    self.send_json(404, error_json("no file", "not_found"))
                    return
                self.send_body(200, data, "application/octet-stream")
            else:
                super().do_GET()

        def do_POST(self) -> None:
            path = self.path.rstrip("/")
            if path not in ("/v1/files", "/v1/batches"):
                super().do_POST()
                return
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if path == "/v1/files":
                self.send_json(200, fake.add_file(multipart_file(self.headers["Content-Type"], raw)))
            else:
                self.send_json(200, fake.create_batch(json.loads(raw)))

    return BatchHandler
