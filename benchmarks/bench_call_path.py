"""CPU per model call, layer by layer (docs/performance.md, "Two fixes found by taking the call path apart").

`bench_scale.py` measures the whole `skillmix generate`; this script takes the call path
apart. Each layer sends the same grader-sized chat request N times with C in flight to the
loopback fake server (skillmix.testing.fake_openai, in a child process so its CPU is not
counted) and reports this process's CPU per call:

- ``aiohttp``: a bare aiohttp POST, the floor for any Python client;
- ``sdk+aiohttp`` / ``sdk+httpx``: the openai SDK with its aiohttp client / its default httpx pool;
- ``api+aiohttp`` / ``api+httpx``: inspect's provider (``ModelAPI.generate``), which converts
  messages and calls the SDK, with either client (httpx is inspect's default);
- ``model+aiohttp``: inspect's ``Model.generate`` (retries, concurrency, events), outside a task.

    python benchmarks/bench_call_path.py [--calls 2000] [--connections 256] [--latency 2]
        [--layers aiohttp,sdk+aiohttp,...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

LAYERS = ("aiohttp", "sdk+aiohttp", "sdk+httpx", "api+aiohttp", "api+httpx", "model+aiohttp")
SERVER = (
    "import sys, time\n"
    "from skillmix.testing.fake_openai import FakeOpenAI, skillmix_reply\n"
    "with FakeOpenAI(reply_fn=skillmix_reply, latency=float(sys.argv[1])) as fake:\n"
    "    print(fake.base_url, flush=True)\n"
    "    time.sleep(86400)\n"
)
PROMPT = "Grade the following text against the rubric. " * 40
MAX_TOKENS = 100


def sdk_caller(url: str, aio: bool):
    import openai

    client = openai.AsyncOpenAI(
        base_url=url, api_key="bench", max_retries=0,
        http_client=openai.DefaultAioHttpClient() if aio else openai.DefaultAsyncHttpxClient(),
    )

    async def call(i: int) -> str:
        messages = [{"role": "user", "content": f"{i} {PROMPT}"}]
        reply = await client.chat.completions.create(model="grader", messages=messages, max_tokens=MAX_TOKENS)
        return reply.choices[0].message.content or ""

    return call, client.close


def aiohttp_caller(url: str, connections: int):
    import aiohttp

    session: list[aiohttp.ClientSession] = []

    async def call(i: int) -> str:
        if not session:  # a session belongs to the running loop
            session.append(aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections)))
        body = {"model": "grader", "messages": [{"role": "user", "content": f"{i} {PROMPT}"}], "max_tokens": MAX_TOKENS}
        async with session[0].post(f"{url}/chat/completions", json=body, headers={"Authorization": "Bearer x"}) as r:
            return (await r.json())["choices"][0]["message"]["content"]

    async def close() -> None:
        if session:
            await session[0].close()

    return call, close


def inspect_caller(url: str, layer: str):
    from inspect_ai.model import ChatMessageUser, GenerateConfig, get_model

    extra = {}
    if layer.endswith("aiohttp"):
        from openai import DefaultAioHttpClient

        extra["http_client"] = DefaultAioHttpClient()
    config = GenerateConfig(max_tokens=MAX_TOKENS, max_connections=100_000)
    model = get_model("openai-api/fake/grader", base_url=url, api_key="bench", memoize=False, config=config, **extra)

    async def call(i: int) -> str:
        messages = [ChatMessageUser(content=f"{i} {PROMPT}")]
        if layer.startswith("model"):
            return (await model.generate(messages)).completion
        out = await model.api.generate(messages, [], "none", config)
        return (out[0] if isinstance(out, tuple) else out).completion

    return call, model.api.aclose


def caller(layer: str, url: str, connections: int):
    if layer == "aiohttp":
        return aiohttp_caller(url, connections)
    if layer.startswith("sdk"):
        return sdk_caller(url, layer.endswith("aiohttp"))
    return inspect_caller(url, layer)


async def run_layer(layer: str, url: str, calls: int, connections: int) -> dict:
    call, close = caller(layer, url, connections)
    gate = asyncio.Semaphore(connections)

    async def one(i: int) -> str:
        async with gate:
            return await call(i)

    await one(-1)  # warm-up: lazy imports and the first connection are start-up, not per call
    wall0, cpu0 = time.perf_counter(), time.process_time()
    replies = await asyncio.gather(*[one(i) for i in range(calls)])
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    await close()
    assert all(replies), f"{layer}: empty replies"
    return {"layer": layer, "calls": calls, "wall_s": round(wall, 1), "cpu_ms_per_call": round(1000 * cpu / calls, 2)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=2000)
    p.add_argument("--connections", type=int, default=256)
    p.add_argument("--latency", type=float, default=2.0)
    p.add_argument("--layers", default=",".join(LAYERS))
    args = p.parse_args()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(args.latency)], stdout=subprocess.PIPE, text=True,
                              env={"PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")})
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        rows = []
        for layer in args.layers.split(","):
            rows.append(asyncio.run(run_layer(layer, url, args.calls, args.connections)))
            print(json.dumps(rows[-1]), flush=True)
    finally:
        server.kill()
    ideal = args.calls * args.latency / args.connections
    print(f"\n{args.calls} calls, {args.connections} in flight, latency {args.latency:g} s (ideal wall {ideal:.1f} s)\n")
    print("| layer | wall s | CPU ms/call |\n|---|---:|---:|")
    for r in rows:
        print(f"| {r['layer']} | {r['wall_s']} | {r['cpu_ms_per_call']} |")


if __name__ == "__main__":
    main()
