"""Embedded-model servers side by side: llama-cpp-python's server vs xllamacpp (issue: fast install).

For each engine it starts a server on 127.0.0.1 with the embedded Gemma 3 270M GGUF, measures the
start-up time (process start to a healthy ``/v1/models``), then the generated tokens per second with
1 and with 4 requests in flight (same prompt, ``max_tokens`` fixed, temperature 0, usage from the
server's own token counts), and a grammar-constrained grading request (the local grader's path).

    python benchmarks/bench_local_server.py [--engines llama-cpp-python,xllamacpp] [--requests 8]

Both engines must be installed (``pip install -e '.[local,llama-cpp]'``). Results go to stdout as a
Markdown table; docs/local-model.md keeps them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from skillmix.engine.gguf import gguf_path
from skillmix.engine.local_server import LocalServerConfig, free_port, server_command, server_env

PROMPT = "Write a short story about a lighthouse keeper who finds a message in a bottle."
GRAMMAR = 'root ::= "| Criteria | Points Earned |\\n" ("| " [a-z ]+ " | " ("0" | "1") " |\\n"){3}'


def launch(engine: str, model: Path, port: int, slots: int) -> subprocess.Popen[bytes]:
    """The server exactly as skillmix starts it (engine/local_server.server_command)."""
    config = LocalServerConfig(model_path=model, engine=engine, slots=slots)  # type: ignore[arg-type]
    return subprocess.Popen(server_command(config, port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=server_env(os.environ, port, config.wait_policy), start_new_session=True)


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=600) as response:
        return json.loads(response.read())


def wait_healthy(base: str, process: subprocess.Popen[bytes], timeout: float = 300) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with code {process.returncode}")
        try:
            post(f"{base}/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1})
            return time.monotonic() - started
        except Exception:  # not up yet: connection refused or 503 while loading
            time.sleep(0.25)
    raise RuntimeError("server did not come up")


def throughput(base: str, concurrent: int, requests: int, max_tokens: int) -> float:
    body = {"messages": [{"role": "user", "content": PROMPT}], "max_tokens": max_tokens, "temperature": 0.0}
    started = time.monotonic()
    with ThreadPoolExecutor(concurrent) as pool:
        replies = list(pool.map(lambda _: post(f"{base}/v1/chat/completions", body), range(requests)))
    elapsed = time.monotonic() - started
    return sum(r["usage"]["completion_tokens"] for r in replies) / elapsed


def grammar_ok(base: str) -> bool:
    body = {"messages": [{"role": "user", "content": "Grade it."}], "max_tokens": 64, "grammar": GRAMMAR}
    text = post(f"{base}/v1/chat/completions", body)["choices"][0]["message"]["content"]
    return text.startswith("| Criteria | Points Earned |")


def measure(engine: str, model: Path, requests: int, max_tokens: int) -> dict:
    port = free_port()
    process = launch(engine, model, port, slots=4)
    base = f"http://127.0.0.1:{port}"
    try:
        startup = wait_healthy(base, process)
        return {
            "engine": engine,
            "startup_s": round(startup, 1),
            "tok_s_1": round(throughput(base, 1, requests, max_tokens), 1),
            "tok_s_4": round(throughput(base, 4, requests, max_tokens), 1),
            "grammar": grammar_ok(base),
        }
    finally:
        process.terminate()
        process.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="llama-cpp-python,xllamacpp")
    parser.add_argument("--requests", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=128)
    args = parser.parse_args()
    model = gguf_path()
    rows = [measure(e, model, args.requests, args.max_tokens) for e in args.engines.split(",")]
    print("| engine | start-up (s) | tok/s, 1 in flight | tok/s, 4 in flight | grammar |")
    print("|---|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r['engine']} | {r['startup_s']} | {r['tok_s_1']} | {r['tok_s_4']} | {r['grammar']} |")


if __name__ == "__main__":
    main()
