"""What a Ray worker does: the sweep's own code, run in an actor that keeps its models loaded.

This module never imports ray: `bench.ray_driver` wraps `Worker` with `ray.remote`, so the
class stays a plain object that tests and the driver's own process can use directly. A worker
returns encoded images and rows through the object store; the driver alone writes `images/`
and Parquet, so the cluster needs no shared disk.
"""

from __future__ import annotations

import io
import os
import socket
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

from bench import scoring
from bench.console import quiet_libraries
from bench.environment import describe
from bench.errors import WeightsError
from bench.files import cache_dir
from bench.images import encode_png
from bench.plan import Cell, resolve_runtimes
from bench.sweep import Loaded, failed_rows
from bench.weights import lock as weights_lock
from bench.weights.check import preflight


class Worker:
    def __init__(self, keep_models: int = 2):
        # A worker is a process of its own: the driver's quieting of the libraries (their
        # loading bars, import-time notes) does not reach it, and Ray forwards its output.
        # The loading bars are turned off when a model or scorer first loads (_quiet_bars): that
        # needs diffusers and transformers imported, seconds a worker that only answers where()
        # or fails its preflight need not spend.
        quiet_libraries()
        self.bars_off = False
        # Models stay loaded between units, the least recently used let go first: a worker
        # handed the same model again swaps schedulers instead of loading it again.
        self.keep_models = keep_models
        self.loaded: OrderedDict[tuple[str, str], Loaded] = OrderedDict()
        self.scorers: dict[str, object] = {}
        self.loads = 0  # models loaded by this worker, for the driver's log

    def where(self) -> dict:
        """Its process, host and the GPUs it sees (Ray sets CUDA_VISIBLE_DEVICES to the one it
        placed the worker on). The first answer says the worker has started."""
        return {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "gpus": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "cache": str(cache_dir()),  # the driver's BENCH_CACHE, sent with the worker
            "hf_offline": os.environ.get("HF_HUB_OFFLINE"),
        }

    def machine(self) -> dict:
        """describe() of this worker's machine, with torch imported: its GPU, driver, packages."""
        import torch  # noqa: F401 - describe() reads the GPU through it

        return describe()

    def runtimes(self, suite, specs) -> dict:
        """What the suite's runtime means on a worker's machine (its GPU, its ONNX Runtime
        build): the driver may well have neither."""
        return resolve_runtimes(suite, specs)

    def preflight(self, specs, schedulers, metrics) -> None:
        preflight(specs, schedulers, metrics)

    def observe_weights(self, specs, metrics) -> tuple[list[dict], list[str]]:
        """The weights lock's entries for what this worker's machine holds; the driver, which
        keeps the data dir and so the lock, compares them (bench.weights.lock)."""
        return weights_lock.observe(specs, metrics)

    def _quiet_bars(self) -> None:
        if not self.bars_off:
            quiet_libraries(progress_bars=True)
            self.bars_off = True

    def _model(self, spec, cell: Cell) -> Loaded:
        key = cell.group
        if key in self.loaded:
            self.loaded.move_to_end(key)
            return self.loaded[key]
        # On a GPU, one model at a time: a second one resident would be counted in every call's
        # peak memory (torch's max allocated), unlike a single-process sweep's rows, and two SDXL
        # models do not fit a 24 GB card. The driver hands a worker units of its loaded model first.
        keep = 1 if cell.runtime.device == "cuda" else self.keep_models
        while len(self.loaded) >= keep:
            _, old = self.loaded.popitem(last=False)
            old.close()
        # The driver checked the weights on its first worker only: a node without them (no
        # `bench fetch` there) says so here, instead of failing every cell it is handed.
        preflight([spec], {spec.key: [cell.scheduler] if cell.scheduler else []}, [])
        self._quiet_bars()
        self.loaded[key] = Loaded.of(spec, cell)
        self.loads += 1
        return self.loaded[key]

    def make(self, cells: list[Cell], spec, batch_size: int, run_id: str) -> tuple[list[dict], dict[str, bytes]]:
        """One unit: cells of one (model, backend, scheduler). Returns its rows and its images
        as PNG bytes by relative path (a row's image_sha256 is set when the driver saves it)."""
        try:
            loaded = self._model(spec, cells[0])
        except WeightsError:
            raise  # this machine lacks the weights: the driver stops the sweep, naming the host
        except Exception as e:  # noqa: BLE001 - a model that will not load fails its cells only
            return failed_rows(run_id, cells, None, e), {}
        # PNGs are encoded in a thread while the next batch generates (zlib releases the GIL):
        # encoded in line, each image kept the GPU idle for tens of ms (60 ms per 512 px image
        # on the H200's host, as the single-process sweep measured before its writer thread).
        rows, pending = [], []
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="png") as encoder:
            for _batch, batch_rows, saves in loaded.make(cells, batch_size, run_id):
                rows += batch_rows
                pending += [(row["image_path"], encoder.submit(encode_png, image)) for row, image in saves]
        return rows, {path: png.result() for path, png in pending}

    def score(self, metric: str, prompts: list[str], pngs: list[bytes]) -> tuple[list[tuple], str]:
        """(value, truncated prompt tokens) per image, None where an image does not decode;
        and the scorer's version string."""
        from PIL import Image

        if metric not in self.scorers:
            self._quiet_bars()
            self.scorers[metric] = scoring.make_scorer(metric)
        scorer = self.scorers[metric]

        def load(i: int):
            try:
                with Image.open(io.BytesIO(pngs[i])) as im:
                    return im.convert("RGB")
            except (OSError, ValueError):
                return None

        values = list(scorer.stream(list(range(len(pngs))), prompts, load=load))
        return scoring.with_truncation(scorer, values, prompts), scorer.version
