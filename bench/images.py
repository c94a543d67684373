"""Images on disk: PNG at paths built from ids (never from prompt text), written atomically."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

from bench.files import write_bytes


def image_relpath(model: str, backend: str, cell_id: str) -> str:
    return f"{model}/{backend}/{cell_id}.png"


def safe_join(images_dir: Path, relpath: str) -> Path:
    """images_dir / relpath, refusing anything that resolves outside images_dir."""
    root = Path(images_dir).resolve()
    path = (root / relpath).resolve()
    if not path.is_relative_to(root):
        raise ValueError(f"image path {relpath!r} leaves {root}")
    return path


def save_png(image, images_dir: Path, relpath: str) -> str:
    """Write a PIL image as PNG (temporary name, then rename); returns the file's sha256."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    data = buffer.getvalue()
    write_bytes(safe_join(images_dir, relpath), data)
    return hashlib.sha256(data).hexdigest()
