"""Fetch the wheels the offline GPU image lacks and pack them into parts the device tool can carry.

Runs on the host (network to PyPI), never on the GPU machine:

    python scripts/gpu_wheels.py                  # download, pack, verify, print the run plan
    python scripts/gpu_wheels.py --with-ray       # also ray 2.60.0 (+79 MB: two more calls)
    python scripts/gpu_wheels.py --with-tensorrt  # also try TensorRT 10's libs (PyPI has a stub only)
    python scripts/gpu_wheels.py --pack-only      # re-pack what is in .cache/gpu-wheels/

Wheels land in .cache/gpu-wheels/ (git-ignored), for Python 3.12 manylinux x86_64 (the image's
python3), at the versions of constraints.txt; a wheel already there with the right name and
version is not fetched again. They are installed here into .cache/gpu-wheels/site/ as the image's
pip would install them (`--target`, for Python 3.12), and that tree is packed into one tar.xz
(sorted, mtimes zeroed: the same wheels give the same bytes; 223 MiB against 288 MiB of wheels),
split like `split -b` into .cache/gpu-wheels/parts/part-NN, each small enough that it plus the
working tree stays under the tool's 64 MiB a call, with SHA256SUMS and MANIFEST.json beside them.
scripts/gpu_checks.sh rejoins, verifies and unpacks it there (no pip); the plan printed at the end
(and scripts/GPU_SESSION.md) says which `run` calls carry which part.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WHEELS = ROOT / ".cache" / "gpu-wheels"
PARTS = WHEELS / "parts"
TAR_NAME = "gpu-site.tar.xz"
MIB = 1024 * 1024
CALL_LIMIT_MIB = 64  # the device tool's limit on what travels in one call: tree + carried paths
PIP_TARGET = [
    "--no-deps",
    "--only-binary=:all:",
    "--python-version",
    "3.12",
    "--platform",
    "manylinux_2_28_x86_64",
    "--platform",
    "manylinux_2_17_x86_64",
    "--platform",
    "manylinux2014_x86_64",
    "--platform",
    "any",
]

# What the image (torch 2.11.0+cu130, Python 3.12) lacks or holds at a version that breaks the pins.
# Versions come from constraints.txt where it pins the name, else from here.
BASE = [
    "diffusers",
    "transformers",
    "huggingface-hub",  # the image has 1.x; transformers 4.57 wants <1.0
    "tokenizers",  # the image has 0.23.2; transformers 4.57 wants <=0.23.0
    "open_clip_torch",
    "ftfy",
    "wcwidth",  # ftfy's one requirement
    "optimum",
    "optimum-onnx",
    "peft",
    "pytorch-pretrained-biggan",
    "boto3",  # pytorch-pretrained-biggan imports it
    "botocore",
    "s3transfer",
    "jmespath",
    "torchmetrics",
    "lightning-utilities",
    "nvidia-ml-py",
    "pydantic",  # not in the image at all
    "pydantic-core",
    "annotated-types",
    "typing-inspection",
    "filelock",
    "typing-extensions",  # pydantic 2.14 wants >=4.16; the image's may be older
    "onnxruntime-gpu",  # 255 MB, CUDA 13; gpu_checks.sh uninstalls the image's CPU onnxruntime
]
RAY = ["ray", "jsonschema", "jsonschema-specifications", "referencing", "rpds-py"]
UNPINNED = {  # not in constraints.txt: the newest that fit the pins on 2026-11-27
    "ftfy": "6.3.1",
    "wcwidth": "0.9.4",
    "boto3": "1.44.8",
    "botocore": "1.44.8",  # boto3 1.44.8: >=1.44.8,<1.45.0
    "s3transfer": "0.19.3",  # boto3 1.44.8: >=0.19.0,<0.20.0
    "jmespath": "1.1.0",
    "pydantic-core": "2.50.5",  # pydantic 2.14.4 pins it exactly (checked below)
    "annotated-types": "0.8.0",
    "typing-inspection": "0.4.5",
    "typing-extensions": "4.16.0",
    "jsonschema": "4.26.0",
    "jsonschema-specifications": "2025.9.1",
    "referencing": "0.37.0",
    "rpds-py": "2026.9.1",
}
TENSORRT = ("tensorrt-cu13-libs", "10.16.1.11")  # the last TensorRT 10 (README "### TensorRT")
NVIDIA_INDEX = "https://pypi.nvidia.com"
# The rest is left to the image (torch, numpy, pandas, ...): MANIFEST.json's from_image lists what
# the carried wheels' metadata and bench's pyproject require of it, and gpu_checks.sh's env step
# checks each requirement there.


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        m = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s#;]+)", line)
        if m:
            found[norm(m.group(1))] = m.group(2)
    return found


def wanted(args) -> list[tuple[str, str]]:
    pinned = pins(ROOT / "constraints.txt")
    names = BASE + (RAY if args.with_ray else [])
    out = []
    for name in names:
        version = pinned.get(norm(name)) or UNPINNED.get(norm(name))
        if version is None:
            sys.exit(f"gpu_wheels: no version for {name}: pin it in constraints.txt or UNPINNED")
        out.append((name, version))
    return out


def wheel_id(path: Path) -> tuple[str, str]:
    """(normalised name, version) from a wheel's file name."""
    dist, version = path.name.split("-")[:2]
    return norm(dist), version


def usable(path: Path) -> bool:
    """A whole wheel: its zip central directory (at the end of the file) reads."""
    try:
        with zipfile.ZipFile(path) as z:
            return any(n.endswith(".dist-info/METADATA") for n in z.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def present(name: str, version: str) -> Path | None:
    for path in sorted(WHEELS.glob("*.whl")):
        if wheel_id(path) == (norm(name), version) and usable(path):
            return path
    return None


def pip_download(spec: str, extra: list[str]) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "pip", "download", *PIP_TARGET, *extra, "-d", str(WHEELS), spec]
    return subprocess.run(cmd, capture_output=True, text=True)


def fetch(name: str, version: str) -> Path:
    have = present(name, version)
    if have:
        print(f"  have  {have.name} ({have.stat().st_size / MIB:.1f} MiB)")
        return have
    print(f"  fetch {name}=={version} ...", flush=True)
    done = pip_download(f"{name}=={version}", [])
    have = present(name, version)
    if done.returncode != 0 or have is None:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
        sys.exit(f"gpu_wheels: pip could not download {name}=={version}:\n{tail}")
    print(f"        {have.name} ({have.stat().st_size / MIB:.1f} MiB)")
    return have


def fetch_tensorrt() -> tuple[Path | None, str]:
    """TensorRT 10's libs, if pip's normal client can get a real wheel; else (None, why)."""
    name, version = TENSORRT
    have = present(name, version)
    if have:
        return have, f"{have.name} was already here"
    tries = [("PyPI", []), (NVIDIA_INDEX, ["--extra-index-url", NVIDIA_INDEX])]
    why = []
    for where, extra in tries:
        print(f"  fetch {name}=={version} from {where} ...", flush=True)
        done = pip_download(f"{name}=={version}", extra)
        have = present(name, version)
        if done.returncode == 0 and have:
            return have, f"{have.name} from {where}"
        last = (done.stderr or done.stdout).strip().splitlines()
        why.append(f"{where}: {last[-1] if last else 'pip failed'}")
    return None, (
        f"no wheel of {name}=={version}: PyPI holds only a 15 kB sdist stub that downloads the real "
        f"wheel from {NVIDIA_INDEX} while it installs, and that index did not answer a wheel here ("
        + "; ".join(why)
        + "). The TensorRT check (f) will fail with the install hint, as expected."
    )


# The GPU image's interpreter, for the environment markers of the carried wheels' requirements.
TARGET_ENV = {
    "python_version": "3.12", "python_full_version": "3.12.3", "implementation_name": "cpython",
    "platform_python_implementation": "CPython", "sys_platform": "linux", "platform_system": "Linux",
    "os_name": "posix", "platform_machine": "x86_64", "extra": "",
}  # fmt: skip


def check_requirements(paths: list[Path]) -> tuple[list[str], dict[str, list[str]]]:
    """(requirements of the carried wheels on one another that the carried versions break, and
    what they require of the image: {name: [requirement, ...]}, which gpu_checks.sh checks there)."""
    try:
        from packaging.requirements import Requirement
    except ImportError:
        from pip._vendor.packaging.requirements import Requirement
    versions = dict(wheel_id(p) for p in paths)
    problems, from_image = [], {}
    for path in paths:
        with zipfile.ZipFile(path) as z:
            meta = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))).decode()
        for line in meta.splitlines():
            if not line.startswith("Requires-Dist:"):
                continue
            req = Requirement(line.split(":", 1)[1].strip())
            if req.marker and not req.marker.evaluate(TARGET_ENV):
                continue  # an extra's, or another platform's
            have = versions.get(norm(req.name))
            if have is None:
                from_image.setdefault(norm(req.name), []).append(f"{req} ({wheel_id(path)[0]})")
            elif not req.specifier.contains(have, prereleases=True):
                problems.append(f"{path.name} wants {req}, carried {have}")
    return problems, dict(sorted(from_image.items()))


def bench_requirements() -> list[str]:
    """The names bench itself imports on a GPU: pyproject's dependencies and its torch and
    onnxruntime-gpu extras."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    specs = project["dependencies"] + extras["torch"] + extras["onnxruntime-gpu"]
    return [norm(re.match(r"[A-Za-z0-9_.\-]+", spec).group(0)) for spec in specs]


def tree_mib() -> float:
    """What travels without carry: the files git tracks and the untracked ones it does not ignore."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout  # fmt: skip
    paths = {ROOT / name for name in listed.decode().split("\0") if name}
    return sum(p.stat().st_size for p in paths if p.is_file()) / MIB


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(8 * MIB):
            h.update(chunk)
    return h.hexdigest()


def install_site(paths: list[Path]) -> Path:
    """The wheels installed here as the image's pip would install them there (`--target`, for
    Python 3.12 x86_64 Linux): the device then only unpacks, and an installed tree compresses
    to 77 % of the wheels' bytes with xz (their zip deflate is weaker)."""
    site = WHEELS / "site"
    if site.exists():
        shutil.rmtree(site)
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
           "--no-cache-dir", "--target", str(site), *PIP_TARGET[1:], *map(str, paths)]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"gpu_wheels: pip install --target failed:\n{done.stderr[-2000:]}")
    shutil.rmtree(site / "bin", ignore_errors=True)  # console scripts with this host's shebang
    return site


def make_tar_xz(site: Path, out: Path) -> None:
    """site/ as a tar (sorted, mtimes and owners zeroed: the same wheels give the same bytes),
    compressed by xz on every core (xz's blocks do not depend on the thread count)."""

    def clean(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
        info.mode = 0o755 if info.isdir() else 0o644
        return info

    tar = out.with_suffix(".tmp")
    with tarfile.open(tar, "w", format=tarfile.GNU_FORMAT) as t:
        t.add(site, arcname="site", filter=clean)  # recursive adds go in sorted order
    with open(out.with_suffix(".tmp.xz"), "wb") as xz:
        subprocess.run(["xz", "-T0", "-6", "-c", str(tar)], stdout=xz, check=True)
    tar.unlink()
    out.with_suffix(".tmp.xz").replace(out)


def split(tar: Path, part_bytes: int) -> list[Path]:
    PARTS.mkdir(parents=True, exist_ok=True)
    for old in PARTS.glob("part-*"):
        old.unlink()
    parts = []
    with open(tar, "rb") as src:
        while chunk := src.read(part_bytes):
            part = PARTS / f"part-{len(parts):02d}"
            part.write_bytes(chunk)
            parts.append(part)
    return parts


def rejoined_sha(parts: list[Path]) -> str:
    h = hashlib.sha256()
    for part in parts:
        with open(part, "rb") as f:
            while chunk := f.read(8 * MIB):
                h.update(chunk)
    return h.hexdigest()


def plan(parts: list[Path], tree: float) -> list[dict]:
    """One `run` call per part; the last one also runs gpu_checks.sh (it copies its own part)."""
    rel = [str(p.relative_to(ROOT)) for p in parts]
    meta = [str((PARTS / n).relative_to(ROOT)) for n in ("SHA256SUMS", "MANIFEST.json")]
    copy = "mkdir -p /tmp/gpu-parts && cp {part} " + " ".join(meta) + " /tmp/gpu-parts/ && "
    check = "cd /tmp/gpu-parts && ls -l && sha256sum -c --ignore-missing SHA256SUMS"
    env = (
        "nvidia-smi -L; python3 -c 'import sys, torch; print(sys.version.split()[0], torch.__version__, "
        "torch.cuda.is_available())'; python3 -m pip list 2>/dev/null | grep -iE "
        "'^(onnx|onnxruntime|tokenizers|huggingface|transformers|diffusers|typing.ext|importlib.meta|timm|"
        "peft|safetensors|accelerate|filelock|pydantic)'; "
    )
    calls = []
    for i, part in enumerate(rel):
        last = i == len(rel) - 1
        if last:
            command = "bash scripts/gpu_checks.sh"
        else:
            command = (env if i == 0 else "") + copy.format(part=part) + check
        mib = (parts[i].stat().st_size + sum((ROOT / m).stat().st_size for m in meta)) / MIB
        calls.append(
            {
                "call": i + 1,
                "carry": [part, *meta],
                "command": command,
                "timeout_s": 600 if last else 120,
                "travels_mib": round(tree + mib, 1),
            }
        )
    return calls


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__
    )
    parser.add_argument("--with-ray", action="store_true", help="also ray 2.60.0 and its jsonschema (+80 MB)")
    parser.add_argument("--with-tensorrt", action="store_true", help="also try tensorrt-cu13-libs 10.16.1.11")
    parser.add_argument("--pack-only", action="store_true", help="download nothing; pack the wheels selected")
    parser.add_argument("--part-mib", type=float, default=60, help="largest part, MiB (default 60)")
    parser.add_argument("--margin-mib", type=float, default=1.5, help="kept free under 64 MiB a call (default 1.5)")
    args = parser.parse_args()

    WHEELS.mkdir(parents=True, exist_ok=True)
    selected = wanted(args)
    print(f"gpu_wheels: {len(selected)} wheels for cp312 manylinux x86_64 into {WHEELS.relative_to(ROOT)}/")
    paths = []
    for name, version in selected:
        if args.pack_only:
            have = present(name, version)
            if have is None:
                sys.exit(f"gpu_wheels: --pack-only, but {name}=={version} is not in {WHEELS}")
            paths.append(have)
        else:
            paths.append(fetch(name, version))
    tensorrt = "not asked for (--with-tensorrt)"
    if args.with_tensorrt:
        if args.pack_only:
            trt = present(*TENSORRT)
            tensorrt = trt.name if trt else f"{TENSORRT[0]}=={TENSORRT[1]} is not here"
        else:
            trt, tensorrt = fetch_tensorrt()
        print(f"  TensorRT: {tensorrt}")
        if trt:
            paths.append(trt)
    problems, from_image = check_requirements(paths)
    carried = {wheel_id(p)[0] for p in paths}
    for name in bench_requirements():
        if name not in carried:
            from_image.setdefault(name, []).append(f"{name} (bench)")
    for problem in problems:
        print(f"  WARNING: {problem}")
    print(
        f"  left to the image ({len(from_image)}, checked there by gpu_checks.sh's env step): {', '.join(from_image)}"
    )

    total = sum(p.stat().st_size for p in paths)
    tree = tree_mib()
    limit_mib = min(args.part_mib, CALL_LIMIT_MIB - tree - args.margin_mib)
    if limit_mib < 8:
        sys.exit(f"gpu_wheels: the working tree is about {tree:.1f} MiB: too little room left under 64 MiB a call")
    tar = WHEELS / TAR_NAME
    print(
        f"installing {len(paths)} wheels ({total / MIB:.1f} MiB) into {WHEELS.relative_to(ROOT)}/site ...", flush=True
    )
    site = install_site(paths)
    print(f"packing it into {tar.relative_to(ROOT)} (xz, about 2 minutes on 2 cores) ...", flush=True)
    make_tar_xz(site, tar)
    shutil.rmtree(site)  # 487 MB, in the tar now
    size = tar.stat().st_size
    n = math.ceil(size / (limit_mib * MIB))
    part_bytes = math.ceil(size / n / MIB) * MIB  # whole MiB, like `split -b NM`; the last part is smaller
    if part_bytes > limit_mib * MIB:
        part_bytes = int(limit_mib * MIB)
    parts = split(tar, part_bytes)
    tar_sha = sha256(tar)
    part_shas = {p.name: sha256(p) for p in parts}
    if rejoined_sha(parts) != tar_sha:
        sys.exit("gpu_wheels: the rejoined parts differ from the tar")
    too_big = [p.name for p in parts if p.stat().st_size > limit_mib * MIB]
    if too_big:
        sys.exit(f"gpu_wheels: parts over {limit_mib:.1f} MiB: {too_big}")
    (PARTS / "SHA256SUMS").write_text(
        "".join(f"{sha}  {name}\n" for name, sha in part_shas.items()) + f"{tar_sha}  {TAR_NAME}\n"
    )
    manifest = {
        "tar": {"name": TAR_NAME, "bytes": size, "sha256": tar_sha},
        "part_bytes": part_bytes,
        "parts": [{"name": p.name, "bytes": p.stat().st_size, "sha256": part_shas[p.name]} for p in parts],
        "wheels": [{"file": p.name, "bytes": p.stat().st_size} for p in sorted(paths, key=lambda p: p.name)],
        "pip_download": PIP_TARGET,
        "with_ray": args.with_ray,
        "tensorrt": tensorrt,
        "from_image": from_image,
        "tree_mib_estimate": round(tree, 1),
    }
    (PARTS / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")
    manifest["plan"] = plan(parts, tree)
    (PARTS / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")

    print(f"tar {size / MIB:.1f} MiB, sha256 {tar_sha[:16]}...; rejoined parts match")
    print(f"{len(parts)} parts of at most {part_bytes / MIB:.0f} MiB; working tree about {tree:.1f} MiB")
    for p in parts:
        print(f"  {p.relative_to(ROOT)}  {p.stat().st_size / MIB:5.1f} MiB  {part_shas[p.name][:16]}...")
    print(f"\nplan: {len(parts)} `run` calls, back to back (a machine idle 30 s is given back, /tmp and all):")
    for call in manifest["plan"]:
        print(f"  call {call['call']}: timeout_s {call['timeout_s']}, about {call['travels_mib']} MiB travels")
        print(f"    carry:   {json.dumps(call['carry'])}")
        print(f"    command: {call['command']}")
    print("then give_back. The same plan is in parts/MANIFEST.json; see scripts/GPU_SESSION.md.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
