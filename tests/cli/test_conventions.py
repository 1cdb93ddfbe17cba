"""One set of CLI conventions (docs/cli.md): -h and --version, comma lists, --out, switches, one-line usage
errors, one style of defaults, the accepted values listed, numbers without float noise, progress lines."""

from __future__ import annotations

import io
import json
import re
import time
from importlib.metadata import version
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from skillmix.cli import _register, app
from skillmix.cli._common import interval, num, progress
from skillmix.cli.merge import out_and_shards
from skillmix.errors import SkillmixError


@pytest.fixture(scope="module")
def cli():
    _register()
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, list(args), env={"COLUMNS": "250"})

    return invoke


def command_paths() -> list[tuple[str, ...]]:
    _register()

    def walk(command, path):
        yield path
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            yield from walk(sub, (*path, name))

    return list(walk(typer.main.get_command(app), ()))


def test_short_help_on_every_command(cli):
    for path in command_paths():
        result = cli(*path, "-h")
        assert result.exit_code == 0, (path, result.output)
        assert "Usage:" in result.output, path


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(cli, flag):
    result = cli(flag)
    assert result.exit_code == 0
    assert result.output.strip() == f"skillmix {version('skillmix')}"


def test_sample_takes_comma_lists_of_k_and_n(cli):
    both = json.loads(cli("sample", "--k", "1,2", "--n", "2,3", "--seed", "4", "--json").output)
    assert [c["k"] for c in both] == [1, 1, 2, 2, 2]
    alone = json.loads(cli("sample", "--k", "2", "--n", "3", "--seed", "4", "--json").output)
    assert both[2:] == alone  # each k draws from the seed, as it does alone
    one_n = json.loads(cli("sample", "--k", "1,3", "--n", "2", "--json").output)
    assert [c["k"] for c in one_n] == [1, 1, 3, 3]


@pytest.mark.parametrize(("args", "message"), [
    (["eval", "--nope"], "No such option: --nope"),
    (["sample"], "Missing option '--k'"),
    (["sample", "--k", "1", "--seed", "x"], "Invalid value for '--seed'"),
    (["generate", "--dry-run", "true"], "switches take no value"),
    (["report"], "Missing argument"),
    (["nosuchcommand"], "No such command"),
    (["sample", "--k", "1,2", "--n", "1,2,3"], "--n takes one value or one per k"),
    (["report", "runs/x", "--resamples", "0"], "Invalid value for '--resamples'"),
])
def test_usage_errors_are_one_line_exit_2(cli, args, message):
    result = cli(*args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert "╭" not in result.output and "Traceback" not in result.output


def test_switches_show_no_placeholder_and_defaults_one_style(cli):
    for path in command_paths():
        text = cli(*path, "-h").output
        assert "<bool>" not in text, path
        assert "[default:" not in text, path  # typer's style; ours is (default: X)
    eval_help = cli("eval", "-h").output
    assert "(default: --cache)" in eval_help and "(default: --no-batch)" in eval_help
    assert "(default: 100)" in eval_help  # --combinations, from EvalConfig
    assert "(default: 0.0)" in eval_help  # --max-error-rate, a plain typer default


def test_help_lists_exactly_the_accepted_values(cli):
    from typing import get_args

    from skillmix.engine.settings import EvalConfig

    accepted = get_args(EvalConfig.model_fields["display"].annotation)
    assert len(accepted) == 5
    line = " ".join(cli("eval", "-h").output.split())
    assert f"(one of: {', '.join(accepted)}; default: rich)" in line
    run = " ".join(cli("run", "-h").output.split())
    assert f"(one of: {', '.join(accepted)})" in run


def test_numbers_print_without_float_noise():
    assert num(-5.551115123125783e-16) == "0.000"
    assert interval([-5.551115123125783e-16, 7.771561172376096e-16]) == "[0.000, 0.000]"
    assert num(0.12345) == "0.123" and num(-0.0004, signed=True) == "+0.000" and num(0.25, signed=True) == "+0.250"
    assert num(None) == "–" and num(12000) == "12,000" and interval(None) == "–"


def test_progress_prints_a_line_while_a_piped_command_runs():
    stream = io.StringIO()  # not a terminal, as a pipe or a log file
    with progress("report", every=0.01, stream=stream):
        deadline = time.monotonic() + 5
        while stream.getvalue().count("\n") < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    lines = stream.getvalue().splitlines()
    assert len(lines) >= 2
    assert all(re.fullmatch(r"skillmix: report: still running \(\d+ s\)", line) for line in lines), lines
    count = len(stream.getvalue())
    time.sleep(0.05)
    assert len(stream.getvalue()) == count  # the heartbeat ends with the command


def test_merge_takes_out_and_keeps_the_old_spelling(tmp_path):
    shard = tmp_path / "s1"
    shard.mkdir()
    (shard / "data.jsonl").write_text("")
    (shard / "stats.json").write_text("{}")
    new = tmp_path / "merged"
    assert out_and_shards(new, [shard]) == (new, [shard], False)
    assert out_and_shards(None, [new, shard]) == (new, [shard], True)  # `merge OUT SHARD...`, as before
    with pytest.raises(SkillmixError, match="--out"):
        out_and_shards(None, [shard, tmp_path / "s2"])  # a forgotten --out never overwrites a shard
    with pytest.raises(SkillmixError, match="--out"):
        out_and_shards(None, [new])


def test_every_writing_command_takes_out(cli):
    for path in (("merge",), ("audit",), ("report",), ("analyze",), ("generate",), ("eval",), ("train",),
                 ("data", "mix"), ("data", "subsample"), ("annotate", "export")):
        assert re.search(r"--out\b", cli(*path, "-h").output), path


def test_audit_out_writes_there_and_not_into_the_evaluation(cli, tmp_path):
    from tests.analysis.test_audit import annotation_lines, folder, write_lines

    ev = folder(tmp_path)
    ann = write_lines(tmp_path / "ann.jsonl", annotation_lines())
    before = sorted(p.name for p in ev.iterdir())
    result = cli("audit", str(ev), "--annotations", str(ann), "--out", str(tmp_path / "audit"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "audit" / "audit.json").is_file() and (tmp_path / "audit" / "audit.md").is_file()
    assert sorted(p.name for p in ev.iterdir()) == before
    assert str(Path(tmp_path / "audit" / "audit.json")) in result.output


def test_piped_report_prints_progress_lines(cli, tmp_path, monkeypatch):
    import skillmix.cli._common as common
    from tests.analysis.test_audit import folder

    monkeypatch.setattr(common, "HEARTBEAT_SECONDS", 0.01)  # the report takes well over 0.01 s
    ev = folder(tmp_path / "run")
    result = cli("report", str(ev.parent), "--out", str(tmp_path / "rep"))
    assert result.exit_code == 0, result.output
    assert re.search(r"^skillmix: report: still running \(\d+ s\)$", result.stderr, re.M), result.stderr
    assert (tmp_path / "rep" / "report.md").is_file()
