"""The README's two commands stay true: CI runs exactly its test command."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start (two commands)")[1].split("\n## ")[0]
    return re.findall(r"```bash\n(.*?)\n```", section, re.S)


def test_readme_has_two_commands():
    install_and_run, install_and_test = readme_commands()
    assert "skillmix run configs/quickstart.yaml" in install_and_run
    assert "pytest" in install_and_test
    assert (ROOT / "configs" / "quickstart.yaml").is_file()


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    block = ci.split("# BEGIN TEST COMMAND\n")[1].split("\n# END TEST COMMAND")[0]
    assert block.strip() == readme_commands()[1].strip()
