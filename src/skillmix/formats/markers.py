"""The "complete" marker of results.json and stats.json, read one way everywhere (docs/architecture.md).

A run writes ``complete: false`` when a sample errored or never ran. Files written before the marker
existed were written only by finished runs, so a missing marker reads as complete.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

COMPLETE_KEY = "complete"


def is_complete(doc: Mapping[str, Any]) -> bool:
    """Whether a results.json / stats.json document says its run finished (missing: yes, see above)."""
    return bool(doc.get(COMPLETE_KEY, True))
