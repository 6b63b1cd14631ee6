"""Images in and out of nc (public API, see docs/plugin-guide.md): reading and writing image
files without silent loss (:func:`read_image`, :func:`write_image`), uint8 arrays <-> float
tensors, padding to a transform's stride, and the fixed thread count that makes a decoder's
pixels independent of the machine."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from nc_core.errors import UserError

__all__ = ["IMAGE_SUFFIXES", "MAX_SIDE", "SYNTHESIS_THREADS", "load_rgb", "to_tensor", "to_image", "pad_to",
           "fixed_threads", "as_items", "ImageInfo", "read_image", "write_image", "check_output",
           "OUTPUT_SUFFIXES", "encode_alpha", "decode_alpha", "restore_mode"]

#: file suffixes an ``image-folder`` dataset reads
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm"}

MAX_SIDE = 1 << 16


#: the decoder's synthesis always runs with this many torch threads (see fixed_threads)
SYNTHESIS_THREADS = 2


@contextlib.contextmanager
def fixed_threads(threads: int = SYNTHESIS_THREADS):
    """Run torch ops with a fixed thread count. Convolutions split their float reductions by
    thread count, so the same symbols could decode to pixels one level apart under another
    ``OMP_NUM_THREADS`` or on a machine with more cores; a fixed count (a number of threads,
    not of cores: work is partitioned the same way on any machine) makes the pixels
    independent of both while still using two cores."""
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def to_tensor(image: np.ndarray, device: torch.device | str | None = None) -> torch.Tensor:
    """uint8 ``H x W x 3`` -> float ``1 x 3 x H x W`` in [0, 1], on ``device`` (default: the
    CPU). The bytes cross to the device as uint8, a quarter of the float size."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected a uint8 H x W x 3 image, got {image.dtype} {image.shape}")
    pixels = torch.tensor(image, device=device)  # a copy: inputs may be read-only
    return pixels.permute(2, 0, 1)[None].float().div(255.0)


def to_image(x: torch.Tensor) -> np.ndarray:
    """float ``1 x 3 x H x W`` -> uint8 ``H x W x 3`` (clamped, rounded half to even)."""
    return x.clamp(0, 1).mul(255).round().to(torch.uint8)[0].permute(1, 2, 0).cpu().numpy()


def pad_to(x: torch.Tensor, stride: int) -> torch.Tensor:
    """Replicate-pad right and bottom to a multiple of ``stride`` (cropped back on decode)."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % stride, (-w) % stride
    return F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x


def load_rgb(path: Path) -> np.ndarray:
    """An image file as uint8 ``H x W x 3`` (alpha dropped, grey expanded)."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()


def as_items(images: Sequence[tuple[str, np.ndarray]]) -> np.ndarray:
    """Dataset images (``H x W x C``) as one ``N x H x W x C`` uint8 array of equal shapes."""
    shapes = {img.shape for _, img in images}
    if len(shapes) != 1:
        raise ValueError(f"lossless evaluation needs items of one shape, got {len(shapes)} shapes")
    return np.stack([img for _, img in images]).astype(np.uint8)


# ------------------------------------------------------------------ image files, without silent loss


@dataclass(frozen=True)
class ImageInfo:
    """What nc keeps of an image file besides the RGB pixels a codec codes.

    ``mode`` is the mode the decoded file gets (``RGB``, ``L``, ``RGBA`` or ``LA``): grey
    images are coded as RGB (the grey value in all three channels) and decoded back to grey;
    ``alpha`` is the ``H x W`` uint8 alpha plane of ``RGBA``/``LA`` images, which the container
    carries losslessly. ``notes`` says, one line each, what nc had to change about the input
    (the CLI prints them on stderr)."""

    mode: str = "RGB"
    alpha: np.ndarray | None = None
    notes: tuple[str, ...] = ()

    @property
    def has_alpha(self) -> bool:
        return self.mode in ("RGBA", "LA")


#: the modes a decoded image can have (the container's image section records one of them)
MODES = ("RGB", "L", "RGBA", "LA")

# input mode -> (mode nc codes it as, what to say when that changes something)
_CONVERT = {
    "RGB": ("RGB", None), "RGBX": ("RGB", None), "L": ("L", None), "LA": ("LA", None), "RGBA": ("RGBA", None),
    "La": ("LA", None), "RGBa": ("RGBA", None),  # premultiplied alpha: stored straight
    "1": ("L", "1-bit image coded as 8-bit grey"),
    "P": ("RGB", "palette image coded as RGB (the output has no palette)"),
    "PA": ("RGBA", "palette image coded as RGBA (the output has no palette)"),
    "CMYK": ("RGB", "CMYK image converted to RGB"),
    "YCbCr": ("RGB", None), "LAB": ("RGB", "LAB image converted to RGB"), "HSV": ("RGB", "HSV image converted to RGB"),
}

_ORIENTATIONS = {2: "mirrored", 3: "rotated 180 degrees", 4: "flipped", 5: "transposed",
                 6: "rotated 90 degrees", 7: "transversed", 8: "rotated 270 degrees"}


def _sixteen_bit(im: Image.Image) -> bool:
    """Whether ``im`` holds more than 8 bits per sample (Pillow opens a 48-bit RGB PNG as
    mode ``RGB`` and would silently drop the low bytes; its tile's raw mode says 16 bits)."""
    if im.mode.startswith("I") or im.mode == "F":
        return True
    for tile in im.tile or ():
        args = tile.args if hasattr(tile, "args") else tile[3]
        rawmode = args if isinstance(args, str) else (args[0] if args and isinstance(args[0], str) else "")
        if rawmode.endswith((";16B", ";16L", ";16N")):
            return True
    return False


def read_image(path: str | os.PathLike) -> tuple[np.ndarray, ImageInfo]:
    """An image file as the uint8 ``H x W x 3`` array a codec codes, plus what it takes to
    give the decoded file the input's size, orientation and mode.

    The EXIF orientation is applied (the image is coded upright, as viewers show it; said in
    ``info.notes``). Grey is replicated into three channels; alpha is returned separately.
    Refused with :class:`UserError` (one line naming ``path``): unreadable files, images of
    several frames (animations, multi-page files), more than 8 bits per sample, and sides
    above :data:`MAX_SIDE`."""
    from PIL import ImageOps, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as im:
            frames = getattr(im, "n_frames", 1)
            if frames > 1:
                raise UserError(f"{path} has {frames} frames; nc compress codes still images "
                                "(video: the nc-video plugin)")
            if _sixteen_bit(im):
                raise UserError(f"{path}: {im.mode} image with more than 8 bits per sample; nc codes 8-bit "
                                "images (convert it to 8 bits first, knowing that this drops precision)")
            if im.mode not in _CONVERT:
                raise UserError(f"{path}: unsupported image mode {im.mode}")
            notes = []
            orientation = im.getexif().get(0x0112)  # EXIF Orientation
            upright = ImageOps.exif_transpose(im) if orientation in _ORIENTATIONS else im
            if upright is not im:
                notes.append(f"applied EXIF orientation {orientation} ({_ORIENTATIONS[orientation]}): "
                             f"the output is stored upright, {upright.width}x{upright.height}")
            mode, note = _CONVERT[im.mode]
            if im.mode == "P" and "transparency" in im.info:
                mode = "RGBA"
                note = "palette image with transparency coded as RGBA (the output has no palette)"
            elif im.mode in ("L", "RGB") and "transparency" in im.info:  # a transparent colour (tRNS)
                mode = im.mode + "A"
                note = f"its transparent colour is kept as an alpha channel (the output is {mode})"
            if note:
                notes.append(note)
            if im.info.get("icc_profile"):
                notes.append("its ICC colour profile is not kept (the output has none)")
            pixels = np.asarray(upright.convert(mode), dtype=np.uint8)
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a directory") from None
    except Image.DecompressionBombError as exc:
        raise UserError(f"{path}: {exc}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise UserError(f"{path}: not a readable image ({exc})") from None
    height, width = pixels.shape[:2]
    if not (0 < height <= MAX_SIDE and 0 < width <= MAX_SIDE):
        raise UserError(f"{path}: {width}x{height} image; nc codes sides of 1 to {MAX_SIDE} pixels")
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    alpha = pixels[..., -1].copy() if mode in ("RGBA", "LA") else None
    colour = pixels[..., :3] if mode in ("RGB", "RGBA") else np.repeat(pixels[..., :1], 3, axis=2)
    return np.ascontiguousarray(colour), ImageInfo(mode, alpha, tuple(notes))


def encode_alpha(alpha: np.ndarray) -> bytes:
    """An alpha plane as the bytes the container stores: nothing when it is fully opaque,
    otherwise a PNG of the plane (lossless; PNG's row filters compress masks and gradients)."""
    if alpha.min() == 255:
        return b""
    out = io.BytesIO()
    Image.fromarray(alpha).save(out, format="PNG", optimize=True)
    return out.getvalue()


def decode_alpha(data: bytes, height: int, width: int) -> np.ndarray:
    """The ``height x width`` alpha plane :func:`encode_alpha` stored; a plane that does not
    decode, or not to that size, is a corrupt file (``ContainerError``)."""
    from nc_core.container import ContainerError

    if not data:
        return np.full((height, width), 255, dtype=np.uint8)
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as im:
            if im.mode != "L" or im.size != (width, height):
                raise ContainerError(f"corrupt file (alpha plane is {im.mode} {im.width}x{im.height}, "
                                     f"image {width}x{height})")
            return np.asarray(im, dtype=np.uint8).copy()
    except ContainerError:
        raise
    except Exception as exc:  # whatever Pillow raises on garbage
        raise ContainerError(f"corrupt file (alpha plane: {exc})") from None


def restore_mode(decoded: np.ndarray, info: ImageInfo) -> np.ndarray:
    """A decoded ``H x W x C`` image (C = 3, or 1 from a one-channel lossless model) in the
    input's mode: grey again (the mean of the three channels, rounded) and alpha put back."""
    decoded = np.asarray(decoded, dtype=np.uint8)
    if decoded.ndim == 2:
        decoded = decoded[..., None]
    grey = info.mode in ("L", "LA")
    if grey:
        colour = decoded if decoded.shape[2] == 1 else \
            np.rint(decoded.astype(np.float32).mean(axis=2, keepdims=True)).astype(np.uint8)
    else:
        colour = decoded if decoded.shape[2] == 3 else np.repeat(decoded, 3, axis=2)
    if info.has_alpha:
        alpha = info.alpha if info.alpha is not None else np.full(colour.shape[:2], 255, np.uint8)
        if alpha.shape != colour.shape[:2]:
            from nc_core.container import ContainerError

            raise ContainerError(f"corrupt file (alpha plane {alpha.shape} for an image {colour.shape[:2]})")
        colour = np.concatenate([colour, alpha[..., None]], axis=2)
    return colour[..., 0] if colour.shape[2] == 1 else colour


# output suffix -> (Pillow format, save options, modes it holds)
_WRITERS = {
    ".png": ("PNG", {"compress_level": 1}, {"RGB", "L", "RGBA", "LA"}),  # level 1: fast, barely larger on photos
    ".tif": ("TIFF", {"compression": "tiff_deflate"}, {"RGB", "L", "RGBA", "LA"}),
    ".tiff": ("TIFF", {"compression": "tiff_deflate"}, {"RGB", "L", "RGBA", "LA"}),
    ".webp": ("WEBP", {"lossless": True, "exact": True}, {"RGB", "RGBA"}),
    ".bmp": ("BMP", {}, {"RGB", "L"}),
    ".ppm": ("PPM", {}, {"RGB", "L"}),
    ".jpg": ("JPEG", {"quality": 95}, {"RGB", "L"}),
    ".jpeg": ("JPEG", {"quality": 95}, {"RGB", "L"}),
    ".npz": ("NPZ", {}, {"RGB", "L", "RGBA", "LA"}),
}
#: the output names nc decompress can write, by suffix
OUTPUT_SUFFIXES = tuple(_WRITERS)
_LOSSY = {"JPEG"}


def check_output(path: str | os.PathLike, mode: str) -> list[str]:
    """Check, before anything is decoded, that ``path`` names a format nc writes and that it
    can hold an image of ``mode``: the notes to print, or :class:`UserError` (one line).
    An image with alpha is refused by a format without it; grey is written as RGB by a
    format without grey (WebP), which loses nothing; JPEG re-encodes (lossy), which is said."""
    path = Path(path)
    suffix = path.suffix.lower()
    choices = ", ".join(OUTPUT_SUFFIXES)
    if suffix not in _WRITERS:
        what = f"unknown output format {suffix!r}" if suffix else "no format in the name (no suffix)"
        raise UserError(f"{path}: {what}; nc writes {choices}")
    fmt, _, modes = _WRITERS[suffix]
    if mode in modes:
        return [f"{fmt} is lossy: the decoded image is re-encoded at quality 95 (.png keeps it exact)"] \
            if fmt in _LOSSY else []
    if mode.endswith("A") and mode.replace("L", "RGB") not in modes:
        keep = ", ".join(s for s, (_, _, m) in _WRITERS.items() if mode in m)
        raise UserError(f"{path}: {fmt} cannot hold this image's alpha channel; write {keep}")
    return [f"{fmt} has no grey mode: written as {mode.replace('L', 'RGB')}"]


def write_image(path: str | os.PathLike, image: np.ndarray, info: ImageInfo = ImageInfo()) -> list[str]:
    """Write a decoded ``H x W x 3`` image (or ``H x W x 1``) to ``path`` in the format its
    suffix names, in the mode ``info`` records (grey, alpha restored), atomically. ``.npz``
    writes a ``data`` array of one item (``1 x H x W (x C)``, what ``nc compress`` reads).
    Returns the notes :func:`check_output` gives."""
    from nc_core.files import atomic_write

    notes = check_output(path, info.mode)
    array = restore_mode(image, info)
    fmt, options, modes = _WRITERS[Path(path).suffix.lower()]
    out = io.BytesIO()
    if fmt == "NPZ":
        np.savez(out, data=array[None])
    else:
        picture = Image.fromarray(array)
        if info.mode not in modes:  # grey where the format has none (checked above)
            picture = picture.convert(info.mode.replace("L", "RGB"))
        picture.save(out, format=fmt, **options)
    atomic_write(path, out.getvalue())
    return notes
