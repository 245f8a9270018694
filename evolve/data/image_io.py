"""Reading frames and object-id masks, writing palette masks (DAVIS conventions).

Masks are single-channel images whose pixel values are object ids (0 = background):
palette ("P") PNGs as in DAVIS 2017 / YouTube-VOS / MOSE, or grayscale ("L") PNGs.
A grayscale mask whose values are a subset of {0, 255} is a DAVIS 2016 binary mask and
is read as ids {0, 1}. RGB masks are rejected: their colours are not ids.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image

from evolve.utils.atomic import atomic_open
from evolve.utils.errors import InputError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")


def davis_palette() -> bytes:
    """The 256-colour palette used by DAVIS / PASCAL VOC masks (768 bytes, RGB triplets).

    Colour of id ``i``: the bits of ``i`` are spread over the three channels, highest
    bit first (id 1 = dark red (128,0,0), id 2 = dark green (0,128,0), ...).
    """
    out = bytearray()
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        out += bytes((r, g, b))
    return bytes(out)


def _open_fully(path: Path) -> Image.Image:
    if not path.is_file():
        raise InputError(path, "file does not exist", "check the dataset path and file name")
    try:
        img = Image.open(path)
        img.load()
    except (OSError, SyntaxError, ValueError) as e:  # PIL raises OSError for truncated data
        raise InputError(path, f"cannot decode image ({e})", "re-export or re-download this file") from e
    return img


def read_frame(path: str | os.PathLike) -> np.ndarray:
    """Read an RGB frame.

    Returns:
        uint8 array (H, W, 3), RGB order.

    Raises:
        InputError: missing, truncated or undecodable file.
    """
    img = _open_fully(Path(path))
    if img.mode != "RGB":
        img = img.convert("RGB")
    return np.asarray(img, dtype=np.uint8).copy()


def read_mask(path: str | os.PathLike) -> tuple[np.ndarray, bytes | None]:
    """Read an object-id mask.

    Returns:
        ``(ids, palette)``: ids is uint8 (H, W) with 0 = background; palette is the PNG's
        768-byte palette for "P" images, else ``None``. Grayscale masks with values in
        {0, 255} (DAVIS 2016) come back as {0, 1}.

    Raises:
        InputError: missing/truncated file, or an RGB/RGBA mask (colours are not ids).
    """
    p = Path(path)
    img = _open_fully(p)
    if img.mode == "P":
        ids = np.asarray(img, dtype=np.uint8).copy()
        pal = img.getpalette() or []
        palette = bytes(pal[:768]) + bytes(max(0, 768 - len(pal)))
        return ids, palette
    if img.mode in ("L", "1", "I", "I;16"):
        arr = np.asarray(img)
        if arr.dtype == bool:
            return arr.astype(np.uint8), None
        if arr.max(initial=0) > 255:
            raise InputError(p, f"mask has values up to {arr.max()} (> 255)", "store object ids 0..255 in an 8-bit palette PNG")
        ids = arr.astype(np.uint8)
        if not np.any((ids != 0) & (ids != 255)):  # values within {0, 255}: a DAVIS 2016 binary mask
            ids = (ids == 255).astype(np.uint8)
        return ids, None
    raise InputError(
        p,
        f"mask has image mode {img.mode!r}: colours are not object ids",
        "save masks as single-channel palette ('P') PNGs whose pixel values are object ids "
        "(e.g. Image.fromarray(ids).convert('P') with putpalette), as DAVIS does",
    )


def write_mask(path: str | os.PathLike, ids: np.ndarray, palette: bytes | None = None) -> None:
    """Write an object-id mask as a palette PNG, atomically.

    Args:
        path: output file (``.png``).
        ids: integer array (H, W) with values 0..255.
        palette: 768-byte palette; the DAVIS palette when ``None``.

    Raises:
        ValueError: ``ids`` not 2-D or values outside 0..255.
    """
    ids = np.asarray(ids)
    if ids.ndim != 2:
        raise ValueError(f"mask must be (H, W), got shape {ids.shape}")
    if ids.size and (ids.min() < 0 or ids.max() > 255):
        raise ValueError(f"mask ids must be in 0..255, got {ids.min()}..{ids.max()}")
    img = Image.fromarray(ids.astype(np.uint8)).convert("P")
    img.putpalette(palette if palette is not None else davis_palette())
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    with atomic_open(path, "wb") as f:
        f.write(buf.getvalue())


def write_frame(path: str | os.PathLike, rgb: np.ndarray, quality: int = 95) -> None:
    """Write an RGB uint8 (H, W, 3) frame atomically; format from the suffix (.jpg/.png)."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"frame must be uint8 (H, W, 3), got {rgb.dtype} {rgb.shape}")
    fmt = "JPEG" if Path(path).suffix.lower() in (".jpg", ".jpeg") else "PNG"
    buf = io.BytesIO()
    kwargs = {"quality": quality} if fmt == "JPEG" else {}
    Image.fromarray(rgb).save(buf, format=fmt, **kwargs)
    with atomic_open(path, "wb") as f:
        f.write(buf.getvalue())


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files (by extension) directly inside ``folder``, sorted by name."""
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
