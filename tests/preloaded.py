"""`python -m MODULE ARGS...` started as a fork of an interpreter that has already imported the
heavy libraries: a fork server, as multiprocessing's forkserver and gunicorn's --preload are.

Why: every `python -m bench.cli run` a test starts (to kill it, signal it, race it) spends about
9 s of CPU importing torch, diffusers and transformers before it reads its arguments, and every
`mkdocs build` about a second and a half importing mkdocs and its theme; on the 2-core machine
the suite runs on, that is a minute and a half of its time.

What is the same as a fresh `python -m`: the module runs as `__main__` through runpy's own
entry for `-m`, with the given arguments, environment, working directory (first on sys.path)
and fds 0-2, in a process of its own. Its signals, exit status (a kill -9 included), output
and atexit handlers are its own, and `Preloaded.popen` returns a subprocess.Popen whose poll,
wait, communicate and send_signal work on it. What differs: the libraries were imported before
the arguments were parsed, under the server's environment. So a server is only used for an
environment equal to its own, apart from variables the caller names as read at run time
(RANK, WORLD_SIZE: read when the sweep plans); any other environment, or any other command
than `sys.executable -m MODULE`, starts a fresh interpreter. The server runs no Python thread,
and has run no torch operator, when it forks (the one native thread its imports start is
jemalloc's, in pyarrow, whose fork handlers take care of it, as under multiprocessing's fork).
"""

from __future__ import annotations

import atexit
import json
import os
import socket
import subprocess
import sys
import threading
import warnings

from bench.console import QUIET_ENV

SERVER = r"""
import importlib, json, os, runpy, select, socket, sys
sock = socket.socket(fileno=int(sys.argv[1]))
for name in json.loads(sys.argv[2]):  # "module", or "module:attribute" for a lazy module's
    module, _, attribute = name.partition(":")
    module = importlib.import_module(module)
    if attribute:
        getattr(module, attribute)
sock.send(b"{}")  # ready
running, job = set(), None
while job is None:
    readable, _, _ = select.select([sock], [], [], 0.02)
    while running:  # reap: each child's raw wait status goes back to the tests' process
        pid, status = os.waitpid(-1, os.WNOHANG)
        if not pid:
            break
        running.discard(pid)
        sock.send(json.dumps({"pid": pid, "status": status}).encode())
    if not readable:
        continue
    message, fds, _, _ = socket.recv_fds(sock, 1 << 20, 3)
    if not message:  # the tests' process is gone
        sys.exit(0)
    pid = os.fork()
    if pid == 0:
        job = json.loads(message)
        sock.close()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        for fd in fds:
            if fd > 2:
                os.close(fd)
        continue
    for fd in fds:
        os.close(fd)
    running.add(pid)
    sock.send(json.dumps({"started": pid}).encode())
os.chdir(job["cwd"])
os.environ.clear()
os.environ.update(job["env"])
sys.path[0] = job["cwd"]  # as `python -m` puts the working directory first
sys.argv = ["-m", *job["args"]]
_run, _module = runpy._run_module_as_main, job["module"]  # what `python -m` runs
for _name in [n for n in globals() if not n.startswith("_")]:  # __main__ as `python -m` finds it
    del globals()[_name]
_run(_module)
"""
# Variables that the tests' own process gains as it runs, which no preloaded module reads as it
# imports: not a difference. Any other is, since a fresh interpreter would import under it.
NOT_COMPARED = (
    "PYTEST_CURRENT_TEST",  # pytest's name of the running test
    "_TORCHINDUCTOR_PYOBJECT_TENSOR_DATA_PTR",  # an address in a process that compiled, for its kernels
    "PYTHONBREAKPOINT",  # read by breakpoint() when called (ray.init sets it)
    "RAY_AUTH_MODE",  # ray.init's, in the process that ran it; no server imports ray
    "RAY_CLIENT_MODE",
    "RAY_USAGE_STATS_ENABLED",
    "NO_MKDOCS_2_WARNING",  # set by material's import; read by it only in a process that MkDocs started
)
# The environment of this process as the tests start (conftest has set its variables; no test's
# monkeypatch is active yet): what the servers run under.
BASE_ENV = {k: v for k, v in os.environ.items() if k not in NOT_COMPARED}


class Preloaded:
    """One fork server with `modules` imported, started at its first use in this process."""

    def __init__(self, modules: list[str], env: dict[str, str], defaults: dict[str, str] | None = None):
        """`defaults`: variables the command itself sets where unset, before it imports anything
        (bench.console.QUIET_ENV): the server imports with them set, and an environment without
        them is the same as one with them."""
        self.modules, self.defaults = modules, defaults or {}
        self.env = self.defaults | env
        self._sock: socket.socket | None = None
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()  # one start at a time: replies come in order
        self._changed = threading.Condition()
        self._started: list[int] = []
        self._status: dict[int, int] = {}

    def popen(self, cmd: list[str], *, run_time_env: tuple[str, ...] = (), **kwargs) -> subprocess.Popen:
        """subprocess.Popen(cmd, **kwargs), forked from the server where that is the same."""
        env = dict(os.environ if kwargs.get("env") is None else kwargs["env"])
        module = cmd[2] if cmd[:2] == [sys.executable, "-m"] and len(cmd) > 2 else None
        if module is None or kwargs.get("preexec_fn") or kwargs.get("start_new_session") or kwargs.get("pass_fds"):
            return subprocess.Popen(cmd, **kwargs)
        ignored = (*NOT_COMPARED, *run_time_env)
        asked = {k: v for k, v in (self.defaults | env).items() if k not in ignored}
        own = {k: v for k, v in self.env.items() if k not in ignored}
        if asked != own:
            differ = sorted(k for k in asked.keys() | own.keys() if asked.get(k) != own.get(k))
            warnings.warn(
                f"{module}: a fresh interpreter: the environment differs from the fork server's in {differ}",
                stacklevel=2,
            )
            return subprocess.Popen(cmd, **kwargs)
        self._ensure_started()
        return _Forked(self, module, env, cmd, **kwargs)

    def run(self, cmd: list[str], *, timeout: float | None = None, run_time_env=(), **kwargs):
        """subprocess.run with capture_output/text, forked from the server where that is the same."""
        check, given = kwargs.pop("check", False), kwargs.pop("input", None)
        if given is not None:
            kwargs["stdin"] = subprocess.PIPE
        if kwargs.pop("capture_output", False):
            kwargs.update(stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        with self.popen(cmd, run_time_env=run_time_env, **kwargs) as proc:
            try:
                out, err = proc.communicate(given, timeout=timeout)
            except BaseException:
                proc.kill()
                raise
        done = subprocess.CompletedProcess(cmd, proc.returncode, out, err)
        if check:
            done.check_returncode()
        return done

    def _ensure_started(self) -> None:
        with self._lock:
            if self._proc is None:
                self._start()
            if self._sock is None:
                raise RuntimeError(f"the fork server for {self.modules} died")

    def _start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._proc = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(theirs.fileno()), json.dumps(self.modules)],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            env=self.env,
        )
        theirs.close()
        if ours.recv(1 << 16) != b"{}":
            raise RuntimeError(f"the fork server for {self.modules} did not start (its error is above)")
        self._sock = ours
        atexit.register(ours.close)  # the server exits when this end closes
        threading.Thread(target=self._listen, name="preloaded", daemon=True).start()

    def _listen(self) -> None:
        try:
            messages = iter(lambda: self._sock.recv(1 << 16), b"")
            for message in messages:
                self._reply(json.loads(message))
        except OSError:  # closed at exit
            pass
        with self._changed:  # the server is gone: nothing more will come
            self._sock = None
            self._changed.notify_all()

    def _reply(self, reply: dict) -> None:
        with self._changed:
            if "started" in reply:
                self._started.append(reply["started"])
            else:
                self._status[reply["pid"]] = reply["status"]
            self._changed.notify_all()

    def _fork(self, module: str, args: list[str], cwd: str, env: dict[str, str], fds: list[int]) -> int:
        with self._lock, self._changed:
            job = {"module": module, "args": args, "cwd": cwd, "env": env}
            socket.send_fds(self._sock, [json.dumps(job).encode()], fds)
            if not self._changed.wait_for(lambda: self._started or self._sock is None, timeout=60):
                raise RuntimeError("the fork server did not answer within 60 s")
            if not self._started:
                raise RuntimeError("the fork server died")
            return self._started.pop(0)

    def status(self, pid: int, block: bool) -> int | None:
        """The child's raw wait status, once it has ended (waiting for that if `block`)."""
        with self._changed:
            if block:
                self._changed.wait_for(lambda: pid in self._status or self._sock is None)
            return self._status.get(pid)


class _Forked(subprocess.Popen):
    """A subprocess.Popen whose child is forked by a Preloaded server instead of exec'd here."""

    def __init__(self, server: Preloaded, module: str, job_env: dict[str, str], cmd: list[str], **kwargs):
        self._server, self._module, self._job_env = server, module, job_env
        super().__init__(cmd, **kwargs)

    def _execute_child(self, args, executable, preexec_fn, close_fds, pass_fds, cwd, env, startupinfo,
                       creationflags, shell, p2cread, p2cwrite, c2pread, c2pwrite, errread, errwrite, *_):  # fmt: skip
        # -1: the stream is inherited, as a fresh process would inherit this one's fds 0-2
        fds = [p2cread if p2cread != -1 else 0, c2pwrite if c2pwrite != -1 else 1, errwrite if errwrite != -1 else 2]
        try:
            self.pid = self._server._fork(
                self._module, list(args[3:]), os.fspath(cwd or os.getcwd()), self._job_env, fds
            )
            self._child_created = True
        finally:
            self._close_pipe_fds(p2cread, p2cwrite, c2pread, c2pwrite, errread, errwrite)

    def _try_wait(self, wait_flags):
        status = self._server.status(self.pid, block=not wait_flags & os.WNOHANG)
        if status is None:
            if not wait_flags & os.WNOHANG:
                raise ChildProcessError(f"the fork server died before child {self.pid} ended")
            return 0, 0
        return self.pid, status

    def _internal_poll(self, _deadstate=None, **_):
        if self.returncode is None:
            status = self._server.status(self.pid, block=False)
            if status is not None:
                self._handle_exitstatus(status)
        return self.returncode


# The `bench run` processes the tests start: the CLI, and what a tiny PyTorch sweep imports.
BENCH = Preloaded(
    ["bench.cli", "bench.sweep", "bench.backends.pytorch", "bench.scoring", "torch", "open_clip",
     "diffusers:StableDiffusionPipeline", "diffusers:StableDiffusionXLPipeline", "transformers:CLIPTextModel"],
    BASE_ENV,
    QUIET_ENV,
)  # fmt: skip
# The `mkdocs build` processes of the site's tests (bench.report.synthetic.mkdocs_build's environment).
MKDOCS = Preloaded(["mkdocs.__main__", "mkdocs.commands.build", "material", "bench.report.plugin"],
                   BASE_ENV | {"NO_MKDOCS_2_WARNING": "1"}, QUIET_ENV)  # fmt: skip
