"""The docs are true: every `--option` they give a `skillmix` command exists, and the cheap documented commands
(catalog, sample, dry runs, help) run as written."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from skillmix.cli import _register, app

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]

# Options that belong to other tools named in the same breath as skillmix (never skillmix's own).
OTHER_TOOLS = frozenset({
    "--log-dir",  # inspect view
    "--num_processes", "--num-processes", "--multi_gpu", "--config_file", "--mixed_precision",  # accelerate launch
    "--tensor-parallel-size", "--port", "--host", "--model",  # vllm serve
    "--nproc_per_node", "--nproc-per-node",  # torchrun
    "--index-url", "--extra-index-url", "-e", "-c", "-q",  # pip
    "--log-dir-allow-dirty",  # inspect's own option, quoted in an error message
    "--slots", "--verbose",  # llama.cpp's server, started by the `local` engine
    "--reuse", "--keep", "--repeats", "--label", "--doc", "--profile",  # benchmarks/*.py
    "--temperature",  # the reference SKILL-MIX code's argument
})
COMMAND_END = re.compile(r"\s(?:&&|\|\||\||;|>|#)\s")


def root_command():
    _register()
    return typer.main.get_command(app)


def code_spans(text: str) -> list[str]:
    """Fenced code blocks (line continuations joined) and inline code, in document order."""
    spans: list[str] = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.S):
        spans += block.replace("\\\n", " ").splitlines()
    prose = re.sub(r"```[a-z]*\n.*?```", "", text, flags=re.S)
    spans += re.findall(r"`([^`\n]+)`", prose)
    return spans


def skillmix_commands(span: str) -> list[list[str]]:
    """The token lists of each `skillmix ...` invocation in a span (cut at shell operators and comments)."""
    found = []
    for match in re.finditer(r"(?:^|\s)skillmix\s+(.*)", span):
        line = COMMAND_END.split(" " + match.group(1) + " ")[0]
        try:
            found.append(shlex.split(line))
        except ValueError:  # an unbalanced quote in prose: split on spaces
            found.append(line.split())
    return found


def resolve(root, tokens: list[str]):
    """(command, the tokens after its name) or None when the first word is no skillmix command."""
    command, rest = root, list(tokens)
    while rest and hasattr(command, "commands"):
        if rest[0] in command.commands:
            command, rest = command.commands[rest[0]], rest[1:]
        elif command is not root and "serve" in command.commands and not rest[0].startswith("-"):
            command = command.commands["serve"]  # `skillmix annotate DIR`: the group's default command
        else:
            break
    return None if command is root and not (tokens and tokens[0].startswith("-")) else (command, rest)


def option_names(command) -> set[str]:
    names = {"-h", "--help"}
    for param in command.params:
        names.update(param.opts)
        names.update(getattr(param, "secondary_opts", []))
    for sub in getattr(command, "commands", {}).values():
        names.update(option_names(sub))
    return names


def options_in(tokens: list[str]) -> list[str]:
    out = []
    for token in tokens:
        for part in token.split("/"):  # `--cache/--no-cache`
            name = part.split("=")[0].rstrip(".,:;)…")
            if re.fullmatch(r"--[a-z][a-z0-9-_]*|-[a-zA-Z]", name):
                out.append(name)
    return out


def documented_options() -> list[tuple[str, str, str]]:
    """(doc, command, option) for every option written after a skillmix command in the docs; an option in
    inline code of its own (`--max-connections`) gets the command "any": some skillmix command must have it."""
    root, found = root_command(), []
    for doc in DOCS:
        for span in code_spans(doc.read_text(encoding="utf-8")):
            if re.fullmatch(r"--[a-z][a-z0-9-]*(/--[a-z][a-z0-9-]*)?( \S+)?", span):
                found += [(doc.name, "any", o) for o in options_in(span.split()[:1]) if o not in OTHER_TOOLS]
            for tokens in skillmix_commands(span):
                resolved = resolve(root, tokens)
                if resolved is None:
                    continue
                command, rest = resolved
                for option in options_in(rest):
                    if option not in OTHER_TOOLS:
                        found.append((doc.name, command.name or "skillmix", option))
    return found


def test_the_checker_sees_the_docs_options():
    found = documented_options()
    assert len(found) > 100  # the docs name well over a hundred options: the parser reads them
    assert ("README.md", "eval", "--combinations") in found and ("README.md", "any", "--max-connections") in found
    assert ("cli.md", "skillmix", "--version") in found


def test_every_documented_option_exists():
    root = root_command()
    commands = {}

    def walk(command):
        commands.setdefault(command.name or "skillmix", []).append(command)
        for sub in getattr(command, "commands", {}).values():
            walk(sub)

    walk(root)
    commands["any"] = [root]
    missing = sorted({(doc, name, option) for doc, name, option in documented_options()
                      if not any(option in option_names(c) for c in commands[name])})
    assert not missing, "options in the docs that the CLI does not have: " + "; ".join(
        f"{doc}: skillmix {name} {option}" for doc, name, option in missing)


def test_the_checker_catches_a_missing_option():
    root = root_command()
    command, rest = resolve(root, shlex.split("eval --student local --no-such-option 3 --out x"))
    assert "--no-such-option" in options_in(rest) and "--no-such-option" not in option_names(command)
    command, _ = resolve(root, shlex.split("annotate runs/x --annotator me"))
    assert command.name == "serve"


def runnable(tokens: list[str], inline: bool) -> bool:
    """A documented command that makes no model call and writes nothing (catalog, sample, dry runs, help), written
    out in full: no placeholder, no file of the reader's own; inline code only when it gives arguments."""
    cheap = tokens[:1] in (["catalog"], ["sample"]) or "--dry-run" in tokens or tokens[-1:] in (
        ["-h"], ["--help"], ["--version"], ["-V"])
    placeholder = any(re.search(r"[A-Z]{2,}|\.\.\.|…|\[|<|\*", t) for t in tokens)
    own_file = any(re.search(r"\.(csv|txt|yaml|json|jsonl)$", t) and not (ROOT / t).is_file() for t in tokens)
    mention = inline and len([t for t in tokens if t not in ("catalog", "sample")]) < 2
    return cheap and not placeholder and not own_file and not mention


def cheap_commands() -> list[tuple[str, str]]:
    found = set()
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        blocks = {line for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.S)
                  for line in block.replace("\\\n", " ").splitlines()}
        for span in code_spans(text):
            for tokens in skillmix_commands(span):
                if runnable(tokens, inline=span not in blocks):
                    found.add((doc.name, shlex.join(tokens)))
    return sorted(found)


def test_there_are_cheap_documented_commands():
    commands = {line for _, line in cheap_commands()}
    assert "sample --k 3 --n 5" in commands and "catalog skills --split heldout" in commands
    assert any("--dry-run" in line for line in commands)


@pytest.mark.parametrize(("doc", "line"), cheap_commands())
def test_cheap_documented_command_runs(doc, line, tmp_path, monkeypatch):
    _register()
    tokens = [str(ROOT / t) if (ROOT / t).is_file() else t for t in shlex.split(line)]  # configs/*.yaml
    monkeypatch.chdir(tmp_path)
    keys = {"OPENAI_API_KEY": "sk-test", "ANTHROPIC_API_KEY": "sk-test"}  # presence only: a dry run calls nothing
    result = CliRunner().invoke(app, tokens, env=keys)
    if tokens[0] == "run" and result.exit_code == 2:
        # The documented dry run of a grid prints the plan, then anything that would stop it (a missing package).
        assert "plan" in result.stdout and result.stderr.startswith("error: the run cannot start"), result.output
        assert len(result.stderr.strip().splitlines()) == 1
    else:
        assert result.exit_code == 0, f"{doc}: skillmix {line}\n{result.output}"
    assert list(tmp_path.iterdir()) == [], f"{doc}: skillmix {line} wrote files"


# --- the docs stand on their own ---------------------------------------------------------------------

# "round 1" alone stays allowed: the reference code numbers its generation rounds (docs/interop.md).
WORK_TRACKING = re.compile(r"\b(?:issue|stop|point) #?\d+\b(?!%)|\b(?:this|that|later) (?:round|stop)\b"
                           r"|\bnot done yet\b", re.I)


def test_no_work_tracking_words():
    hits = [f"{doc.name}:{i}: {line.strip()[:80]}" for doc in DOCS
            for i, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), start=1)
            if WORK_TRACKING.search(line)]
    assert not hits, "words that mean something only to the people who wrote the code:\n" + "\n".join(hits)


def test_metrics_are_defined_where_readers_meet_them():
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    for definition in ("**Ratio of Full Marks**: the share of combinations with a text that earns all k + 3 points",
                       "**Ratio of All Skills**: the share of combinations with a text that earns every skill point "
                       "*and* at least 2 of the 3 other points",
                       "**Skill Fraction**: the mean over combinations of the best text's share of skill points"):
        assert definition in readme
    protocol = " ".join((ROOT / "docs" / "protocol.md").read_text(encoding="utf-8").split())
    assert "**s** = the number of skill points earned (0 to k)" in protocol
    assert "**r** = the number of the three other points earned" in protocol


def test_report_md_starts_with_how_to_read_it():
    from skillmix.analysis.render import md_title

    text = md_title({"run_dir": "runs/x", "teacher_data_only": False})
    assert text.startswith("# SKILL-MIX report: `runs/x`\n\n## How to read this report\n")
    for words in ("s = k and r = 3", "s = k and r ≥ 2", "s / k for a text that earns all 3 other points",
                  "**best of its G texts**", "*per text*"):
        assert words in text


def test_licence_and_citation():
    import tomllib
    import yaml

    licence = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in licence and "Version 2.0, January 2004" in licence
    assert "END OF TERMS AND CONDITIONS" in licence and len(licence.splitlines()) > 190  # the full text
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == {"text": "Apache-2.0"}
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert citation["cff-version"] == "1.2.0" and citation["license"] == "Apache-2.0"
    assert citation["version"] == project["version"]
    assert {r["year"] for r in citation["references"]} == {2024}
    citing = (ROOT / "README.md").read_text(encoding="utf-8").split("## Citing")[1]
    entries = re.findall(r"@(\w+)\{(\w+),", citing)
    assert entries == [("software", "skillmix"), ("inproceedings", "zhao2024skillcomposition"),
                       ("inproceedings", "yu2024skillmix")]
    assert "Can Models Learn Skill Composition from Examples?" in citing and "Skill-Mix: a Flexible" in citing
