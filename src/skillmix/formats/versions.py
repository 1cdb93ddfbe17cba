"""Format versions of the versioned artifacts, and the one check every reader applies (docs/architecture.md).

Each artifact carries an integer ``"format_version"`` (``samples.jsonl`` on every record). A
reader accepts any version up to the one this code writes; a newer one was written by a newer
skillmix whose fields this code may misread, so it is refused with a one-line error. A file
without the field predates versioning and reads as version 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from skillmix.errors import SkillmixError

FORMAT_VERSION_KEY = "format_version"
# Bump an artifact's version when a reader of the old version would misread the new one.
RESULTS_VERSION = 1  # OUT/results.json of `skillmix eval`
SAMPLES_VERSION = 1  # each record of OUT/samples.jsonl
STATS_VERSION = 1  # stats.json of a dataset folder
REPORT_VERSION = 1  # report.json of `skillmix report`
AUDIT_VERSION = 1  # audit.json of `skillmix audit`
UNVERSIONED = 1  # what a file written before versioning counts as


def format_version(doc: Mapping[str, Any], current: int, where: str) -> int:
    """The version of ``doc`` (a missing field reads as 1); refuses a version newer than ``current``."""
    version = doc.get(FORMAT_VERSION_KEY, UNVERSIONED)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise SkillmixError(f"{where}: format_version must be a positive integer, got {version!r}; regenerate the file")
    if version > current:
        raise SkillmixError(
            f"{where}: format_version {version} is newer than this skillmix reads ({current}); upgrade skillmix"
        )
    return version


def versioned(doc: Mapping[str, Any], current: int) -> dict[str, Any]:
    """``doc`` with ``format_version`` first, so a reader sees it before any other field."""
    return {FORMAT_VERSION_KEY: current, **{k: v for k, v in doc.items() if k != FORMAT_VERSION_KEY}}
