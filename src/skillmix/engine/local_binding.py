"""The embedded model as an inspect ``Model``: binding a running ``LocalServer`` to inspect (protocol §3, §4).

inspect reaches either engine's OpenAI-compatible server as ``llama-cpp-python/<alias>``; the
defaults here keep the base model from rambling.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from inspect_ai.model import GenerateConfig, Model

    from skillmix.engine.local_server import LocalServer

# The base model has no instruction tuning: left alone it echoes the prompt, writes the
# next user turn itself or rambles until max_tokens. Gemma's turn markers end a turn.
# "Explanation" ends the part anyone reads: answer extraction (protocol §3) stops at it
# and the grader's table (§4) comes before it, so what follows is only paid-for tokens.
STOP_SEQS = ("<end_of_turn>", "<start_of_turn>", "Explanation")
DEFAULT_MAX_TOKENS = 256


def local_generate_config(max_tokens: int = DEFAULT_MAX_TOKENS) -> GenerateConfig:
    """Defaults that keep the base model from rambling; per-call configs override them."""
    from inspect_ai.model import GenerateConfig

    return GenerateConfig(max_tokens=max_tokens, stop_seqs=list(STOP_SEQS))


def local_model(server: LocalServer, config: GenerateConfig | None = None) -> Model:
    """An inspect ``Model`` bound to a running ``LocalServer``.

    ``config`` is merged over ``local_generate_config()``. Not memoized: two servers
    with the same alias live on different ports.
    """
    from inspect_ai.model import get_model

    merged = local_generate_config().merge(config) if config is not None else local_generate_config()
    return get_model(server.model_id, base_url=server.base_url, config=merged, memoize=False)
