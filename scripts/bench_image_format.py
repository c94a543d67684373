"""How to store generated images: PNG at each compression level against lossless WebP, for the
time one image costs the writer and the bytes it costs the disk and the site.

    python scripts/bench_image_format.py [--px 512] [--repeats 5]

The test image is a real photograph (matplotlib's sample grace_hopper.jpg, cropped square and
resized to --px), since diffusion outputs compress like photographs and the tiny models' noise
does not. Each format encodes the same image --repeats times; the median time is printed.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time


def test_image(px: int):
    from matplotlib import cbook
    from PIL import Image

    with Image.open(cbook.get_sample_data("grace_hopper.jpg")) as im:
        side = min(im.size)
        return im.convert("RGB").crop((0, 0, side, side)).resize((px, px), Image.Resampling.LANCZOS)


def encode(image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--px", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=5)
    args, _ = parser.parse_known_args(argv)  # nox passes its posargs to every benchmark script
    image = test_image(args.px)
    raw_kb = args.px * args.px * 3 / 1024
    candidates = [(f"PNG level {level}", "PNG", {"compress_level": level}) for level in (0, 1, 3, 6, 9)]
    candidates += [(f"WebP lossless method {m}", "WEBP", {"lossless": True, "method": m}) for m in (0, 4, 6)]
    print(f"{args.px}x{args.px} photograph, {raw_kb:.0f} KiB raw; median of {args.repeats} encodes, one core")
    print(f"{'format':<26} {'ms/image':>9} {'KiB':>7} {'of raw':>7}")
    for label, fmt, options in candidates:
        times = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            data = encode(image, fmt, **options)
            times.append((time.perf_counter() - started) * 1000)
        print(
            f"{label:<26} {statistics.median(times):>9.1f} {len(data) / 1024:>7.0f} {len(data) / 1024 / raw_kb:>7.0%}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
