#!/usr/bin/env bash
# The GPU checks of issue 13, in one device `run` call (timeout_s 600), from the repo root there.
#
#   bash scripts/gpu_checks.sh                # unpack the carried packages into /tmp/site, then steps a-f
#   bash scripts/gpu_checks.sh --only-unpack  # rejoin, verify and extract only (no pip, no GPU): a
#                                             # dry run that also works on the host (alias --dry-run)
#   PYTHON=venv/bin/python bash scripts/gpu_checks.sh --cpu-smoke
#                                             # no parts, no pip: every step's own code on the CPU
#                                             # (float32, tiny models), with that Python's packages
#
# Parts come from /tmp/gpu-parts/ (left there by the earlier calls, scripts/GPU_SESSION.md) and
# from .cache/gpu-wheels/parts/ (what this call carries). Each step runs under its own timeout,
# writes $OUT/<step>.log (8 files at most come back: unpack env tiny tiny-optimized bench-gpu
# scoring tensorrt summary), goes on after a failure, and prints one line. Time budget: the whole
# ends by GPU_CHECKS_DEADLINE (480 s) after its start; each step gets min(its cap, what is left
# minus the floors kept for the steps after it), and is skipped if that is under 10 s.
# Safe to re-run on a warm machine: install is skipped when the same tar is in, data is redone.
set -u

ROOT=$PWD
CARRIED=$ROOT/.cache/gpu-wheels/parts
PARTS=/tmp/gpu-parts
WORK=/tmp/gpu-wheels
SITE=/tmp/site
RUNS=/tmp/gpu-checks
TAR=gpu-site.tar.xz  # scripts/gpu_wheels.py: the carried wheels installed for Python 3.12, as a tree
PY=${PYTHON:-python3}
OUT=${OUT:-/tmp/gpu-checks-out}
DEADLINE=${GPU_CHECKS_DEADLINE:-480}
# --cpu-smoke exports GPU_CHECKS_DEVICE=cpu, so the steps (each a child of this script) see it too.
DEVICE=${GPU_CHECKS_DEVICE:-cuda}
SCALE=1  # each step's cap and floor, x5 in --cpu-smoke
PREPARE_WAIT=${PREPARE_WAIT:-150}
if [ "$DEVICE" = cpu ]; then DTYPE=float32; else DTYPE=float16; fi

say() { printf '%s\n' "$*" | tee -a "$OUT/summary.log"; }

unpack() {
  mkdir -p "$PARTS" "$WORK" || return 1
  for f in "$CARRIED"/part-* "$CARRIED"/SHA256SUMS "$CARRIED"/MANIFEST.json; do
    [ -f "$f" ] && cp -f "$f" "$PARTS"/
  done
  cd "$PARTS" || return 1
  [ -f SHA256SUMS ] || { echo "no SHA256SUMS in $PARTS or $CARRIED"; return 2; }
  local list missing=""
  list=$(awk '$2 ~ /^part-/ {print $2}' SHA256SUMS)
  for p in $list; do [ -f "$p" ] || missing="$missing $p"; done
  if [ -n "$missing" ]; then
    echo "missing parts:$missing (each earlier call copies one into $PARTS; see scripts/GPU_SESSION.md)"
    return 2
  fi
  grep ' part-' SHA256SUMS | sha256sum -c --quiet - || { echo "a part's sha256 differs"; return 3; }
  # shellcheck disable=SC2086  # $list: part names, no spaces
  cat $list >"$WORK/$TAR" || return 4
  (cd "$WORK" && grep "  $TAR\$" "$PARTS/SHA256SUMS" | sha256sum -c -) || { echo "the rejoined tar's sha256 differs"; return 4; }
  rm -rf "$WORK/site"
  if command -v xz >/dev/null; then  # on every core
    xz -T0 -dc "$WORK/$TAR" | tar -x -C "$WORK" || return 5
  else
    "$PY" -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2], filter="data")' "$WORK/$TAR" "$WORK" || return 5
  fi
  rm -f "$WORK/$TAR"
  echo "$(find "$WORK/site" -maxdepth 1 -name '*.dist-info' | wc -l) packages in $WORK/site ($(du -sh "$WORK/site" | cut -f1))"
}

install() {
  local want
  want=$(awk -v t="$TAR" '$2 == t {print $1}' "$PARTS/SHA256SUMS")
  # The image's CPU onnxruntime shares the package folder with onnxruntime-gpu; bench refuses both.
  if "$PY" -m pip show -q onnxruntime >/dev/null 2>&1; then "$PY" -m pip uninstall -y onnxruntime || return 1; fi
  if [ "$(cat "$SITE/.gpu-wheels-sha256" 2>/dev/null)" = "$want" ]; then
    echo "the tree of ${want:0:16} is already $SITE"
    rm -rf "$WORK/site"
    return 0
  fi
  # Installed on the host by pip --target for this Python: putting it in place is the install.
  rm -rf "$SITE" && mv "$WORK/site" "$SITE" || return 1
  echo "$want" >"$SITE/.gpu-wheels-sha256"
  echo "installed into $SITE: $(find "$SITE" -maxdepth 1 -name '*.dist-info' -printf '%f ' | sed 's/\.dist-info//g')"
}

# A table of what each run wrote: statuses per model x backend, and each failing group's first error.
report() {
  "$PY" - "$1" <<'PY'
import sys
from pathlib import Path

from bench import store

gen = store.read(Path(sys.argv[1]), "generations")
keys = ["model", "backend", "provider", "dtype", "status"]
print(gen.groupby(keys).size().rename("images").to_string())
bad = gen[gen["status"] != "ok"]
print(f"failed or not ok: {len(bad)} of {len(gen)}")
for (model, backend), group in bad.groupby(["model", "backend"]):
    print(f"  {model} {backend}: {len(group)} x {str(group['error'].iloc[0])[:400]}")
PY
}

suite() {  # the shipped tiny suite with ORT on CUDA, plus one [backend_options] table
  mkdir -p "$RUNS"
  sed "s/^provider = \"cpu\"/provider = \"$DEVICE\"/" bench/suites/tiny.toml >"$RUNS/$1.toml"
  printf '\n[backend_options.%s]\n%s\n' "$2" "$3" >>"$RUNS/$1.toml"
  echo "$RUNS/$1.toml"
}

bench_run() { "$PY" -m bench run --device "$DEVICE" --dtype "$DTYPE" --provider "$DEVICE" "$@"; }

# The steps, each run as `bash gpu_checks.sh --step NAME` under timeout.
step_env() {
  nvidia-smi
  local manifest=$PARTS/MANIFEST.json
  [ -f "$manifest" ] || manifest=$CARRIED/MANIFEST.json
  "$PY" - "$manifest" <<'PY'
import importlib.metadata as md
import json
import sys
from pathlib import Path

import torch

print("python", sys.version.split()[0], sys.executable)
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
if torch.cuda.is_available():
    print("gpu", torch.cuda.get_device_name(0), torch.cuda.get_device_capability(0))
    from bench.timing import EnergyMeter  # finds NVML's device by torch's UUID: None means no energy_j

    meter = EnergyMeter("cuda")
    print("nvml energy counter, mJ:", meter.read_mj(), "uuid", torch.cuda.get_device_properties(0).uuid,
          "unavailable:", meter.unavailable)
names = ["diffusers", "transformers", "huggingface-hub", "tokenizers", "optimum", "optimum-onnx", "peft",
         "open_clip_torch", "onnx", "onnxruntime", "onnxruntime-gpu", "pydantic", "typing-extensions",
         "timm", "accelerate", "safetensors", "torchvision", "numpy", "pandas", "pyarrow"]
for name in names:
    try:
        print(f"{name} {md.version(name)}")
    except md.PackageNotFoundError:
        print(f"{name} -")
# What the carried wheels (their metadata) and bench (pyproject) need from the image's own packages.
from packaging.requirements import Requirement

manifest = json.loads(Path(sys.argv[1]).read_text()) if Path(sys.argv[1]).is_file() else {}
unmet = 0
for name, wanted_by in manifest.get("from_image", {}).items():
    try:
        have = md.version(name)
    except md.PackageNotFoundError:
        have = None
    bad = [w for w in wanted_by if have is None or not Requirement(w.rsplit(" (", 1)[0]).specifier.contains(have, prereleases=True)]
    unmet += bool(bad)
    if bad:
        print(f"image: {name} {have or 'MISSING'}: does not meet {'; '.join(bad)}")
print(f"image: {len(manifest.get('from_image', {})) - unmet} of {len(manifest.get('from_image', {}))} required packages met"
      + ("" if manifest else f" (no {sys.argv[1]})"))
import onnxruntime

print("onnxruntime", onnxruntime.__version__, onnxruntime.__file__)
print("providers", onnxruntime.get_available_providers())
PY
}

step_tiny_ort() {  # b: the first of the three backends wipes the run's data
  rm -rf "$RUNS/tiny" && bench_run --suite tiny --backends onnxruntime --data-dir "$RUNS/tiny/data" --images-dir "$RUNS/tiny/images"
}
step_tiny_pytorch() { bench_run --suite tiny --backends pytorch --data-dir "$RUNS/tiny/data" --images-dir "$RUNS/tiny/images"; }
step_tiny_compile() {
  # mode "default": max-autotune (the CUDA default) is step d's; here the CLI path on CUDA is the point
  bench_run --suite "$(suite tiny-compile pytorch-compile 'mode = "default"')" --backends pytorch-compile \
    --data-dir "$RUNS/tiny/data" --images-dir "$RUNS/tiny/images"
}
step_tiny_report() {
  "$PY" -m bench summary --data-dir "$RUNS/tiny/data" --images-dir "$RUNS/tiny/images"
  report "$RUNS/tiny/data"
}
step_tiny_optimized() {  # c
  rm -rf "$RUNS/opt"
  bench_run --suite "$(suite tiny-optimized onnxruntime 'optimize = true')" --backends onnxruntime \
    --data-dir "$RUNS/opt/data" --images-dir "$RUNS/opt/images"
  local rc=$?
  "$PY" -m bench summary --data-dir "$RUNS/opt/data" --images-dir "$RUNS/opt/images"
  report "$RUNS/opt/data"
  return $rc
}
# d's CPU-only work, started in the background before step a: the full-size model, its fp32 export
# and ORT's optimized fp16 graphs take about 5 minutes of CPU (3-4 of them single-threaded Python,
# 18 GB of RAM at peak) that would otherwise eat bench-gpu's 300 s. Its log goes into bench-gpu.log.
prepare_start() {
  mkdir -p "$RUNS" && rm -f "$RUNS/prepare.rc" "$RUNS/prepare.pid"
  local tiny=""
  [ "$DEVICE" = cpu ] && tiny=--tiny
  (
    # shellcheck disable=SC2086  # $tiny: empty or one flag
    nice -n 10 env OMP_NUM_THREADS=8 "$PY" scripts/bench_gpu.py --prepare $tiny >"$RUNS/prepare.log" 2>&1 &
    echo $! >"$RUNS/prepare.pid"
    wait $!
    echo $? >"$RUNS/prepare.rc"
  ) </dev/null >/dev/null 2>&1 &  # holds none of this script's output open
}
# Timings start only once the prepare has ended: waits up to PREPARE_WAIT s, then stops it (the race
# then makes what is missing itself, inside its own time).
prepare_wait() {
  local pid waited=0
  pid=$(cat "$RUNS/prepare.pid" 2>/dev/null) || { echo "prepare: not started"; return 0; }
  # prepare.rc is written when it ends: a pid alone could by then name another process
  while [ ! -f "$RUNS/prepare.rc" ] && kill -0 "$pid" 2>/dev/null && [ "$waited" -lt "$PREPARE_WAIT" ]; do
    sleep 2
    waited=$((waited + 2))
  done
  if [ ! -f "$RUNS/prepare.rc" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    sleep 2
    echo "prepare: stopped after a wait of $waited s; the race makes what is missing itself"
  else
    echo "prepare: ended with rc $(cat "$RUNS/prepare.rc" 2>/dev/null || echo '?'), $waited s of waiting"
  fi
  cat "$RUNS/prepare.log"
}
# d: mode auto (max-autotune-no-cudagraphs); BENCH_GPU_ARGS="--calls 4 --warmup 1 --mode default" trades it for time
# shellcheck disable=SC2086  # word splitting of the arguments is the point
step_bench_gpu() {
  prepare_wait
  if [ "$DEVICE" = cpu ]; then "$PY" scripts/bench_gpu.py --tiny --calls 1 --warmup 1; return; fi
  "$PY" scripts/bench_gpu.py ${BENCH_GPU_ARGS:---calls 4 --warmup 1}
}
step_scoring() {                                                       # e
  if [ "$DEVICE" = cpu ]; then "$PY" scripts/bench_scoring.py --device cpu --tiny --skip-full-size --images 8 --repeats 1; return; fi
  "$PY" scripts/bench_scoring.py --device cuda
}
step_tensorrt() {                                                      # f
  if [ -d "$SITE/tensorrt_libs" ]; then export LD_LIBRARY_PATH="$SITE/tensorrt_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; fi
  rm -rf "$RUNS/trt"
  "$PY" -m bench run --suite tiny --models tiny-sd --schedulers euler-a --seeds 0 --backends onnxruntime \
    --device "$DEVICE" --dtype "$DTYPE" --provider tensorrt --metrics clip_tiny \
    --data-dir "$RUNS/trt/data" --images-dir "$RUNS/trt/images"
  local rc=$?
  report "$RUNS/trt/data"
  return $rc
}

# run LOG NAME CAP RESERVE: step NAME under min(CAP, time left - RESERVE), appended to $OUT/LOG.log
run() {
  local log=$1 name=$2 cap=$(($3 * SCALE)) reserve=$(($4 * SCALE)) left limit t0 rc status
  left=$((DEADLINE - (SECONDS - START) - reserve))
  limit=$((cap < left ? cap : left))
  if [ "$limit" -lt 10 ]; then
    say "$(printf '%-15s %-15s %5s s' "$name" "skipped" 0) (no time left)"
    return
  fi
  echo "== $name (limit ${limit} s) $(date -u +%T)" >>"$OUT/$log.log"
  t0=$SECONDS
  timeout -k 10 "$limit" bash "$0" --step "$name" >>"$OUT/$log.log" 2>&1
  rc=$?
  case $rc in
    0) status=ok ;;
    124 | 137) status="timed out" ;;
    *) status="failed rc=$rc" ;;
  esac
  say "$(printf '%-15s %-15s %5s s' "$name" "$status" $((SECONDS - t0))) (limit $limit s, $OUT/$log.log)"
}

case "${1:-}" in
  --step)
    cd "$ROOT" && "step_${2//-/_}"
    exit $?
    ;;
  --only-unpack | --dry-run) ONLY_UNPACK=1 ;;
  --cpu-smoke) ONLY_UNPACK=0 SMOKE=1 SCALE=5 DEADLINE=${GPU_CHECKS_DEADLINE:-2400} PREPARE_WAIT=750 ;;  # 2 CPU cores, not an H200
  "") ONLY_UNPACK=0 ;;
  -h | --help)
    sed -n '2,18p' "$0"
    exit 0
    ;;
  *)
    echo "gpu_checks.sh: unknown argument $1 (try --help)" >&2
    exit 2
    ;;
esac

START=$SECONDS
mkdir -p "$OUT"
: >"$OUT/summary.log"
t0=$SECONDS
if [ "${SMOKE:-0}" = 1 ]; then
  # Only the steps: the carried wheels are cp312 and the GPU image's, so $PY brings its own packages.
  DEVICE=cpu DTYPE=float32
  export GPU_CHECKS_DEVICE=cpu PYTHONPATH=$ROOT HF_HUB_OFFLINE=1 BENCH_CACHE=${BENCH_CACHE:-/tmp/bench-cache} PYTHONUNBUFFERED=1
  say "cpu smoke: $("$PY" -c 'import sys, torch; print(sys.executable, "torch", torch.__version__)')"
else
  (unpack) >"$OUT/unpack.log" 2>&1
  rc=$?
  tail -n 1 "$OUT/unpack.log"
  if [ $rc -ne 0 ]; then
    say "unpack          failed rc=$rc   $((SECONDS - t0)) s: $(tail -n 1 "$OUT/unpack.log")"
    exit 1
  fi
  if [ "$ONLY_UNPACK" = 1 ]; then
    say "unpack          ok              $((SECONDS - t0)) s (--only-unpack: no pip, no GPU steps)"
    exit 0
  fi
  install >>"$OUT/unpack.log" 2>&1
  rc=$?
  say "$(printf '%-15s %-15s %5s s' unpack+install "$([ $rc -eq 0 ] && echo ok || echo "failed rc=$rc")" $((SECONDS - t0)))"
  [ $rc -eq 0 ] || { tail -n 20 "$OUT/unpack.log"; exit 1; }
  export PYTHONPATH="$SITE:$ROOT" HF_HUB_OFFLINE=1 BENCH_CACHE=/tmp/bench-cache PYTHONUNBUFFERED=1
fi
export PREPARE_WAIT
prepare_start
# Floors kept for later steps: env 15, tiny-ort 60, tiny-pytorch 30, tiny-compile 40, tiny-report 15,
# tiny-optimized 30, bench-gpu 120, scoring 40, tensorrt 25 (RESERVE = the sum of the floors after).
run env env 45 360
run tiny tiny-ort 150 300
run tiny tiny-pytorch 75 270
run tiny tiny-compile 120 230
run tiny tiny-report 30 215
run tiny-optimized tiny-optimized 90 185
run bench-gpu bench-gpu 300 65
run scoring scoring 100 25
run tensorrt tensorrt 60 0

# A prepare still running (bench-gpu skipped) would outlive the call.
[ -f "$RUNS/prepare.rc" ] || { pid=$(cat "$RUNS/prepare.pid" 2>/dev/null) && kill "$pid" 2>/dev/null; }
echo
for log in env tiny tiny-optimized bench-gpu scoring tensorrt; do
  echo "---- $log.log (tail)"
  tail -n 8 "$OUT/$log.log" 2>/dev/null | cut -c1-220
done
echo "---- summary ($((SECONDS - START)) s in all; logs in $OUT)"
cat "$OUT/summary.log"
