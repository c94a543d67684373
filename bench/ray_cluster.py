"""The Ray side of `bench run --ray` and `bench score --ray`: connect (or start a local cluster),
place one worker per GPU (or a share of the CPUs), know which workers have started, replace
dead ones.

A worker holds one whole GPU (`num_gpus=1`), so its timings are its own. An actor Ray cannot
place yet (more workers asked than the cluster has GPUs, or an autoscaler still adding nodes)
waits without blocking the sweep: the driver hands work only to workers that have answered, and
one that starts late joins then.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import threading
import time
from dataclasses import dataclass, field

from bench.errors import BenchError, ConfigError, DeviceUnavailable, InstallError, first_line
from bench.interrupts import raise_if_stopped
from bench.ray_worker import Worker

log = logging.getLogger(__name__)
WAIT_WARN_S = 60.0  # no worker started after this long: say why the sweep waits
# How long joining a cluster may take. A head node that is up answers in a second or two, but
# an address that does not answer (a host that is down, a firewall dropping packets, a port
# that accepts and says nothing) makes Ray retry for many minutes; ray.init takes no timeout.
INIT_TIMEOUT_S = 60.0
INIT_TIMEOUT_ENV = "BENCH_RAY_INIT_TIMEOUT_S"
# Settings a worker must share with the driver: the HF cache and its offline switches, bench's
# own cache. Workers of a cluster made by `ray start` have that command's environment, not the
# driver's, so they are sent with each worker (Ray's runtime_env). Tokens are not: a runtime_env
# is kept in Ray's control store and shown by its dashboard; set HF_TOKEN where `ray start` runs.
FORWARDED_PREFIXES = ("HF_", "HUGGINGFACE_", "BENCH_", "TRANSFORMERS_", "DIFFUSERS_")


def _names_a_token(name: str) -> bool:
    return "TOKEN" in name.upper()


def forwarded_env(environ=None) -> dict[str, str]:
    """The driver's settings the workers get (FORWARDED_PREFIXES, less anything named a token)."""
    environ = os.environ if environ is None else environ
    return {k: v for k, v in environ.items() if k.startswith(FORWARDED_PREFIXES) and not _names_a_token(k)}


def init_timeout_s(environ=None) -> float:
    """INIT_TIMEOUT_S, or the seconds BENCH_RAY_INIT_TIMEOUT_S gives (a cluster far away)."""
    environ = os.environ if environ is None else environ
    raw = environ.get(INIT_TIMEOUT_ENV)
    if raw is None:
        return INIT_TIMEOUT_S
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise ConfigError(f"{INIT_TIMEOUT_ENV}={raw!r}: expected a number of seconds above 0")
    return seconds


def _target(address: str | None, environ=None) -> str | None:
    """What ray.init will join: the address, or RAY_ADDRESS where none (or "auto") is given, as
    Ray reads it; None for a local cluster started here."""
    environ = os.environ if environ is None else environ
    if environ.get("RAY_ADDRESS") and address in (None, "", "auto"):
        return environ["RAY_ADDRESS"]
    return address or None


class _NoThreadNote(logging.Filter):
    """Drops Ray's note that it set no SIGTERM handler off the main thread: bench's own handler
    (bench.interrupts) is the one wanted, which stops a run as Ctrl-C does (exit code 143)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "SIGTERM handler is not set" not in record.getMessage()


def connect(ray, address: str | None, timeout_s: float) -> None:
    """ray.init with a deadline, and its expected failures as one line each.

    No address starts a local cluster on this machine (how the tests run); "auto" joins the
    cluster `ray start` made; host:port a head node; ray://host:10001 one through Ray Client.
    Joining cannot be interrupted while Ray's C++ client waits, so it runs on a daemon thread
    that is left behind when the deadline passes (the process then exits with the error). A
    local cluster is started on this thread: Ray ties the processes it starts to the thread
    that starts them (PR_SET_PDEATHSIG), and bounds its own waits for them.
    """
    target = _target(address)
    shown = f"--ray {address}" if address else f"RAY_ADDRESS={target}" if target else "--ray"
    if target and target.startswith("ray://") and importlib.util.find_spec("grpc") is None:
        raise InstallError(
            f"{shown}: Ray Client (ray://) needs `pip install 'ray[client]'` on this machine, the same "
            "Ray version as the cluster's; or run bench on the head node with --ray auto"
        )

    def init() -> None:
        ray.init(address=address or None, include_dashboard=False, logging_level=logging.WARNING)

    if target is None:
        init()
        return
    failed: list[BaseException] = []

    def join() -> None:
        try:
            init()
        except BaseException as e:  # noqa: BLE001 - handed over to the caller's thread below
            failed.append(e)

    note = logging.getLogger("ray._private.worker")
    quiet = _NoThreadNote()
    note.addFilter(quiet)
    try:
        thread = threading.Thread(target=join, name="ray-join", daemon=True)
        thread.start()
        thread.join(timeout_s)
    finally:
        note.removeFilter(quiet)
    if thread.is_alive():
        raise DeviceUnavailable(
            f"{shown}: the Ray cluster at {target} did not answer within {timeout_s:g} s: check the address "
            f"(the head's host:6379, or ray://host:10001) and that `ray start --head` runs there; "
            f"{INIT_TIMEOUT_ENV} waits longer"
        )
    if not failed:
        return
    if isinstance(failed[0], ConnectionError):
        if target == "auto":
            raise DeviceUnavailable(
                f"{shown}: no Ray cluster is running on this machine: start one with `ray start --head`, "
                "give a cluster's address (--ray HOST:6379 or ray://HOST:10001), or give --ray alone "
                "for a local cluster"
            ) from None
        raise DeviceUnavailable(f"{shown}: cannot reach the Ray cluster: {first_line(failed[0])}") from None
    if isinstance(failed[0], ValueError):  # the address itself: "foo", "host:abc"
        raise ConfigError(
            f"{shown}: {first_line(failed[0])}; expected auto, HOST:PORT (a head node, 6379 by default) "
            "or ray://HOST:10001, or --ray alone for a local cluster"
        ) from None
    raise failed[0]


@dataclass
class Seat:
    """One worker: its actor, whether it has started, the models it has, and what it has done
    (for the progress line)."""

    actor: object
    name: str
    host: str = "?"
    started: bool = False
    groups: set = field(default_factory=set)
    images: int = 0
    busy_s: float = 0.0
    since: float = 0.0

    def rate(self) -> str:
        return f"{self.name} {self.images / self.busy_s:.2f}/s" if self.busy_s else f"{self.name} -"


class Cluster:
    """The workers of one sweep or scoring pass on a Ray cluster, and the cluster if it started it."""

    def __init__(self, address: str | None, workers: int | None, keep_models: int = 2, gpus_wanted: bool = False):
        """`gpus_wanted` (the suite says device = "cuda"): GPU workers even while the cluster has no
        GPU, so that an autoscaler adds GPU nodes for them instead of the sweep running on CPUs."""
        try:
            import ray
        except ImportError:
            raise InstallError("--ray needs Ray on the driver and every node: pip install -e '.[ray]'") from None

        self.ray = ray
        self.started_here = not ray.is_initialized()
        if self.started_here:
            connect(ray, address, init_timeout_s())
        resources = ray.cluster_resources()
        gpus, cpus = int(resources.get("GPU", 0)), int(resources.get("CPU", 1))
        if gpus or gpus_wanted:
            self.count, self.options, room = workers or max(gpus, 1), {"num_gpus": 1}, gpus
            self.holds = "one GPU"
        else:
            self.count = workers or max(1, cpus // 4)
            self.options, room = {"num_cpus": max(1, cpus // self.count)}, cpus // max(1, cpus // self.count)
            self.holds = "one CPU" if self.options["num_cpus"] == 1 else f"{self.options['num_cpus']} CPUs"
        if self.count > room:
            log.warning(
                "%d Ray workers asked for, room for %d now (each holds %s): the rest start when room "
                "appears (an autoscaler adding nodes); until then the sweep runs on those that started",
                self.count, room, self.holds,
            )  # fmt: skip
        if env := forwarded_env():
            self.options["runtime_env"] = {"env_vars": env}
        joined = address or not self.started_here  # a local cluster started here inherits everything
        if joined and any(k.startswith(FORWARDED_PREFIXES) and _names_a_token(k) for k in os.environ):
            log.info("HF tokens are not sent to Ray workers: set HF_TOKEN where `ray start` runs")
        # Two threads per actor: `where` answers while `make` runs (the driver never sends a
        # worker a second unit before the first comes back).
        self.remote = ray.remote(max_concurrency=2, **self.options)(Worker)
        self.keep_models = keep_models
        self.starting: dict[object, Seat] = {}  # a `where` call not answered yet -> its seat
        self.seats = [self._seat(i) for i in range(self.count)]
        self.made = self.count  # workers started, replacements included

    def _seat(self, i: int) -> Seat:
        seat = Seat(self.remote.remote(self.keep_models), f"w{i}")
        self.starting[seat.actor.where.remote()] = seat
        return seat

    def poll(self, timeout_s: float = 0.0) -> list[Seat]:
        """Seats whose worker has started since the last poll (waiting up to timeout_s for one)."""
        if not self.starting:
            return []
        ready, _ = self.ray.wait(list(self.starting), num_returns=len(self.starting), timeout=timeout_s)
        new = []
        for ref in ready:
            seat = self.starting.pop(ref)
            try:
                where = self.ray.get(ref)
            except self.ray.exceptions.RayError as e:  # died before it started: its seat stays empty
                log.error("Ray worker %s did not start: %s", seat.name, first_line(e))
                self.seats.remove(seat)
                continue
            log.debug("Ray worker %s started: %s", seat.name, where)
            seat.started, seat.host = True, where.get("host", "?")
            new.append(seat)
        if not self.seats:
            raise BenchError("no Ray worker started: every one died while starting (the errors are above)")
        return new

    def first(self) -> Seat:
        """A started worker, waiting for one if none has started yet."""
        if not any(s.started for s in self.seats):
            self.wait_started()
        return next(s for s in self.seats if s.started)

    def wait_started(self) -> list[Seat]:
        """The seats whose workers start next, waiting for at least one: the first ones, or the
        replacements of dead ones (which wait for room, e.g. a node coming back). The wait is
        said after WAIT_WARN_S, with what a worker needs and what the cluster has free."""
        waited, warned = time.perf_counter(), False
        while not (new := self.poll(timeout_s=1.0)):
            raise_if_stopped()
            if not self.starting:
                raise BenchError("no Ray worker left to wait for")
            if not warned and time.perf_counter() - waited > WAIT_WARN_S:
                log.warning(
                    "no Ray worker has started in %.0f s: each needs %s, and the cluster has %s free",
                    WAIT_WARN_S, self.holds, self.ray.available_resources(),
                )  # fmt: skip
                warned = True
        return new

    def replace(self, seat: Seat) -> None:
        """A new worker in a dead one's seat (its loaded models are gone with it); it joins the
        sweep when it has started (`poll`)."""
        self.ray.kill(seat.actor, no_restart=True)
        self.seats[self.seats.index(seat)] = self._seat(self.made)
        self.made += 1

    def close(self) -> None:
        for seat in self.seats:
            self.ray.kill(seat.actor, no_restart=True)
        if self.started_here:
            self.ray.shutdown()
