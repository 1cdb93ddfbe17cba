"""The one door to inspect_ai's private API: every name skillmix needs that inspect does not export.

inspect_ai keeps these behind leading underscores and may move them in any release. Reaching them
only here means an upgrade breaks one module, and ``tests/formats/test_inspect_private.py`` says which
name moved, for which inspect version. Each function says why the public API does not serve.
"""

from __future__ import annotations

from typing import Any

PRIVATE_NAMES = (
    # (module, attribute): what skillmix reads, checked by the test named above
    ("inspect_ai.log._recorders.eval", "_sample_filename"),
    ("inspect_ai._util.registry", "registry_find"),
    ("inspect_ai._util.registry", "registry_info"),
    ("inspect_ai.model._providers.providers", None),
    ("inspect_ai._util.error", "PrerequisiteError"),
)


def sample_member_name(sample_id: Any, epoch: int) -> str:
    """The zip member of one sample in an ``.eval`` log: reading members from one open zip is O(1) per
    sample, where the public ``read_eval_log_samples`` re-reads the zip's directory each time."""
    from inspect_ai.log._recorders.eval import _sample_filename

    return str(_sample_filename(sample_id, epoch))


def model_provider_names() -> set[str]:
    """The providers inspect knows (its registry of model APIs); inspect exports no listing of them."""
    import inspect_ai.model._providers.providers  # noqa: F401  (registers the providers)
    from inspect_ai._util.registry import registry_find, registry_info

    return {registry_info(o).name.removeprefix("inspect_ai/") for o in registry_find(lambda i: i.type == "modelapi")}


def prerequisite_error() -> type[BaseException]:
    """The error ``eval_set`` raises when a log folder holds other tasks' logs (not exported by inspect)."""
    from inspect_ai._util.error import PrerequisiteError

    return PrerequisiteError
