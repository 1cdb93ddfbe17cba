"""The SKILL-MIX protocol as pure rules: catalog, sampling, prompts, rubric parsing, metrics.

No I/O beyond reading the packaged catalog and prompts, and no inspect_ai: every other layer
imports from here, never the other way round (docs/architecture.md).
"""
