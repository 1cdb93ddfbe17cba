"""What a finished run spent: its token usage priced with a ``--prices`` file, recorded as ``cost`` in
``results.json`` (``skillmix eval``) or ``stats.json`` (``skillmix generate``) (protocol §6, §8; docs/evaluation.md).

The token counts are the providers' own (``token_usage``, already in both files); ``cost`` adds their estimated
price (``engine.cost.priced``): dollars per model, the total, and the paid models the prices file does not name.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from skillmix.engine.cost import load_prices, priced


def record_cost(path: Path, document: Mapping[str, Any], usage: Mapping[str, Mapping[str, int]],
                prices_file: Path | None) -> dict[str, Any]:
    """``document`` (the content of ``path``) with ``cost``, rewritten atomically; unchanged without prices."""
    if prices_file is None:
        return dict(document)
    from skillmix.formats.files import write_json

    priced_document = {**document, "cost": priced(usage, load_prices(prices_file))}
    write_json(Path(path), priced_document)
    return priced_document


def spent_line(document: Mapping[str, Any], usage: Mapping[str, Mapping[str, int]]) -> str:
    """``spent: N input / M output tokens`` plus the estimated price when the document carries one."""
    line = (f"spent: {sum(u.get('input_tokens', 0) for u in usage.values()):,} input / "
            f"{sum(u.get('output_tokens', 0) for u in usage.values()):,} output tokens")
    cost = document.get("cost")
    if cost:
        line += f" (estimated ${cost['total_dollars']:,.2f}" + (
            f"; not priced: {', '.join(cost['unpriced'])})" if cost["unpriced"] else ")")
    return line
