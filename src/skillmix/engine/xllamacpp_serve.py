"""The embedded model's server process when the engine is xllamacpp (docs/local-model.md).

``engine/local_server.py`` launches ``python -m skillmix.engine.xllamacpp_serve ...`` in its
own session and owns its whole life cycle (port, health wait, stop). This module only
turns the command line into xllamacpp's ``CommonParams``, starts llama.cpp's native HTTP
server (which serves ``/v1/chat/completions`` with ``grammar``, ``stop`` and ``seed``, and
decodes ``--slots`` requests in parallel), and then waits for SIGTERM.

It is a separate process, not a thread of skillmix, so that a crash in native code cannot
take a run down with it and so that the llama-cpp-python engine keeps the same life cycle.
"""

from __future__ import annotations

import argparse
import signal

REPEAT_PENALTY = 1.1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m skillmix.engine.xllamacpp_serve")
    parser.add_argument("--model", required=True)
    parser.add_argument("--alias", required=True)
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--n-ctx", type=int, required=True, help="context per slot")
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--slots", type=int, required=True)
    parser.add_argument("--chat-template", required=True)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    import xllamacpp

    args = parse_args(argv)
    params = xllamacpp.CommonParams()
    params.model.path = args.model
    params.model_alias = {args.alias}
    params.hostnames = [args.host]
    params.port = args.port
    params.n_parallel = args.slots
    # llama.cpp splits n_ctx across the slots: each request keeps the context it had alone.
    params.n_ctx = args.n_ctx * args.slots
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    # The base model's GGUF carries no instruction template we trust: pin llama.cpp's
    # built-in Gemma turn format by name (the same turns llama-cpp-python's "gemma" writes).
    params.use_jinja = False
    params.chat_template = args.chat_template
    # llama-cpp-python's server penalises repeats (1.1) where llama.cpp's does not (1.0); the base
    # model echoes its prompt readily, so both engines keep the penalty it was first run with.
    params.sampling.penalty_repeat = REPEAT_PENALTY
    server = xllamacpp.Server(params)  # loads the model, then serves HTTP on its own threads
    signal.signal(signal.SIGTERM, lambda *_: raise_exit())
    try:
        signal.pause()
    finally:
        del server


def raise_exit() -> None:
    raise SystemExit(0)


if __name__ == "__main__":
    main()
