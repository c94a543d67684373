"""The tests' fork server (tests/preloaded.py) behaves as a fresh `python -m` would: exit codes,
kill -9, output, arguments, working directory, atexit; and any other environment gets a fresh
interpreter, said in a warning. (BASE_ENV is given explicitly: the environment of a test worker
gains variables as tests run in it.)"""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
from preloaded import BASE_ENV, Preloaded

MODULE = """
import atexit, os, sys, time
atexit.register(lambda: print("atexit ran", flush=True))
print(sys.argv[1:], os.getcwd(), os.environ.get("RANK"), __name__, flush=True)
print("to stderr", file=sys.stderr, flush=True)
if sys.argv[1] == "sleep":
    time.sleep(60)
sys.exit(int(sys.argv[1]) if sys.argv[1].isdigit() else 0)
"""


@pytest.fixture(scope="module")
def server():
    return Preloaded(["json"], BASE_ENV)


@pytest.fixture
def module(tmp_path):
    (tmp_path / "probe.py").write_text(MODULE)
    return tmp_path


def test_a_forked_module_runs_as_main_with_its_arguments_output_and_exit_code(server, module):
    cmd = [sys.executable, "-m", "probe", "3", "x y"]
    done = server.run(cmd, cwd=module, env=BASE_ENV, capture_output=True, text=True)
    assert done.returncode == 3
    assert done.stdout.splitlines() == [f"['3', 'x y'] {module} None __main__", "atexit ran"]
    assert done.stderr == "to stderr\n"


def test_signals_reach_the_child_and_its_status_is_the_kill(server, module):
    cmd = [sys.executable, "-m", "probe", "sleep"]
    proc = server.popen(cmd, cwd=module, env=BASE_ENV, stdout=subprocess.PIPE, text=True)
    assert type(proc).__name__ == "_Forked" and proc.stdout.readline().startswith("['sleep']")
    assert proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=10) == -signal.SIGKILL
    proc.stdout.close()


def test_run_time_variables_reach_the_child_and_any_other_change_gets_a_fresh_interpreter(server, module):
    env = BASE_ENV | {"RANK": "2"}
    cmd = [sys.executable, "-m", "probe", "0"]
    forked = server.run(cmd, cwd=module, env=env, run_time_env=("RANK",), capture_output=True, text=True)
    assert " 2 __main__" in forked.stdout
    with pytest.warns(UserWarning, match=r"probe: a fresh interpreter: .* in \['RANK'\]"):
        proc = server.popen(cmd, cwd=module, env=env, stdout=subprocess.PIPE, text=True)
    assert type(proc) is subprocess.Popen and " 2 __main__" in proc.communicate(timeout=30)[0]
