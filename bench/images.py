"""Images on disk: PNG at paths built from ids (never from prompt text), written atomically."""

from __future__ import annotations

import hashlib
import io
import os
import uuid
from pathlib import Path


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
    path = safe_join(images_dir, relpath)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return hashlib.sha256(data).hexdigest()
