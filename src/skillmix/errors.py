"""User-facing errors.

Anything the user can fix (a bad path, a bad flag, a bad config) is raised as
``SkillmixError`` with a one-line message that says what is wrong and how to fix
it. The CLI turns it into that line on stderr and exit code 2, with no traceback.
"""


class SkillmixError(ValueError):
    """Bad input: printed as one line by the CLI, exit code 2."""
