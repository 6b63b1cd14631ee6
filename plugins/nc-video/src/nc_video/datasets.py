"""Video datasets: real clips from a folder (``video-folder``) and synthetic camera motion over
still photographs (``camera-motion``).

A video dataset yields *sequences* for evaluation, each ``(name, frames)`` with ``frames`` an
iterator of uint8 ``H x W x 3`` RGB frames (streamed: a long clip is never held whole), and
training *clips* ``N x T x 3 x P x P`` in [0, 1] from ``batches(seed)``: ``T = clip`` frames in
a row, one random ``P x P`` crop window (the same for every frame), random horizontal flips.
``images()`` yields every sequence's frames as images (``name/000000``), so an image codec can
train or evaluate on video frames.
"""

from __future__ import annotations

import math
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from nc_core import files, imaging
from nc_core.contracts import Dataset
from nc_core.frames import VIDEO_SUFFIXES, read_frames, video_info


class VideoDataset(Dataset):
    """The contract of :mod:`nc_video`'s datasets (see the module docstring)."""

    def sequences(self) -> Iterator[tuple[str, Iterator[np.ndarray]]]:
        raise NotImplementedError

    def images(self) -> Iterator[tuple[str, np.ndarray]]:
        for name, frames in self.sequences():
            for i, frame in enumerate(frames):
                yield f"{name}/{i:06d}", frame


def _check(clip: int, patch: int, batch: int) -> None:
    if clip < 2 or patch < 16 or batch < 1:
        raise ValueError("clip must be >= 2 frames, patch >= 16 and batch >= 1")


class VideoFolder(VideoDataset):
    """Every video file (``.mp4``, ``.y4m``, ...) and every folder of PNG frames directly inside
    ``path``, by name. ``frames`` caps each sequence (evaluation and training); training holds
    the decoded frames of every sequence in memory (at most ``frames`` each)."""

    name = "video-folder"

    def __init__(self, path: str, frames: int | None = None, clip: int = 5, patch: int = 256, batch: int = 4):
        _check(clip, patch, batch)
        if frames is not None and frames < 1:
            raise ValueError(f"frames must be positive, got {frames}")
        self.path = files.expand_path(path)
        if not self.path.is_dir():
            raise ValueError(f"video folder {str(self.path)!r} does not exist")
        self.sources = sorted(p for p in self.path.iterdir()
                              if (p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
                              or (p.is_dir() and any(f.suffix.lower() == ".png" for f in p.iterdir())))
        if not self.sources:
            raise ValueError(f"no videos ({', '.join(sorted(VIDEO_SUFFIXES))}) or PNG-frame folders in "
                             f"{str(self.path)!r}")
        self.frames, self.clip, self.patch, self.batch = frames, clip, patch, batch
        self._cache: list[np.ndarray] | None = None

    def sequences(self) -> Iterator[tuple[str, Iterator[np.ndarray]]]:
        for source in self.sources:
            yield source.stem, read_frames(source, limit=self.frames)

    def info(self) -> list[tuple[str, int, int, int]]:
        """``(name, width, height, frames)`` of every sequence (frames after the cap)."""
        out = []
        for source in self.sources:
            w, h, n = video_info(source)
            out.append((source.stem, w, h, min(n, self.frames or n)))
        return out

    def batches(self, seed: int) -> Iterator[torch.Tensor]:
        if self._cache is None:
            self._cache = [np.stack(list(frames)) for _, frames in self.sequences()]
        usable = [s for s in self._cache if len(s) >= self.clip and min(s.shape[1:3]) >= self.patch]
        if not usable:
            raise ValueError(f"no sequence in {str(self.path)!r} has {self.clip} frames of at least "
                             f"{self.patch}x{self.patch}")
        rng = np.random.default_rng(seed)
        t, p = self.clip, self.patch
        while True:
            out = np.empty((self.batch, t, p, p, 3), dtype=np.uint8)
            for b in range(self.batch):
                seq = usable[rng.integers(len(usable))]
                start = rng.integers(len(seq) - t + 1)
                top, left = rng.integers(seq.shape[1] - p + 1), rng.integers(seq.shape[2] - p + 1)
                crop = seq[start:start + t, top:top + p, left:left + p]
                out[b] = crop[:, :, ::-1] if rng.random() < 0.5 else crop
            yield torch.from_numpy(out).permute(0, 1, 4, 2, 3).float().div_(255.0)


class CameraMotion(VideoDataset):
    """**Synthetic** clips: a virtual camera moves over the photographs in ``path`` (pans of up
    to ``pan`` px per frame, zooms of up to ``zoom`` per frame, rotations of up to ``rotate``
    degrees per frame, each drawn per clip), rendered by bilinear resampling; a share ``still`` of
    the clips holds the camera still (the same frame repeated), as much real video does, so a
    model learns that an unchanged frame should cost almost nothing. Real video has
    occlusions, lighting changes and noise that this has not: it adds training material, it does
    not replace real clips. ``objects`` adds up to that many moving objects per clip, as
    FlyingChairs does for optical flow (Dosovitskiy et al. 2015): elliptical pieces of other
    photographs, each moving by its own velocity of up to ``object_pan`` px per frame over the
    moving background, so that clips have local motion, occlusions and disocclusions, not one
    global motion. Real frames also differ by what no motion explains: ``lighting`` drifts
    each clip's gain and offset by up to that much per frame, ``blur`` blurs each frame by a
    Gaussian of standard deviation up to that many pixels (focus and motion blur that change),
    ``noise`` adds independent Gaussian noise of that standard deviation (0-1 pixel scale) to
    every frame. ``count`` evaluation sequences of ``length`` frames at ``size``
    (``[width, height]``) are drawn from ``seed``; their names start with ``synthetic-``."""

    name = "camera-motion"

    def __init__(self, path: str, clip: int = 5, patch: int = 256, batch: int = 4, pan: float = 6.0,
                 zoom: float = 0.01, rotate: float = 0.5, still: float = 0.0, objects: int = 0,
                 object_pan: float = 8.0, lighting: float = 0.0, blur: float = 0.0, noise: float = 0.0,
                 count: int = 4, length: int = 32, size: tuple[int, int] = (256, 256), seed: int = 0):
        _check(clip, patch, batch)
        if objects < 0 or object_pan < 0:
            raise ValueError(f"objects and object_pan must be >= 0, got {objects} and {object_pan}")
        if not 0 <= lighting < 0.5 or not 0 <= blur <= 8 or not 0 <= noise < 0.5:
            raise ValueError(f"need 0 <= lighting < 0.5, 0 <= blur <= 8 and 0 <= noise < 0.5, got {lighting}, "
                             f"{blur} and {noise}")
        if pan < 0 or not 0 <= zoom < 0.2 or rotate < 0 or count < 1 or length < 1 or min(size) < 16:
            raise ValueError("need pan >= 0, 0 <= zoom < 0.2, rotate >= 0, count >= 1, length >= 1 and a size "
                             "of at least 16 px per side")
        if not 0 <= still <= 1:
            raise ValueError(f"still is the share of clips without motion, in [0, 1], got {still}")
        self.path = files.expand_path(path)
        if not self.path.is_dir():
            raise ValueError(f"image folder {str(self.path)!r} does not exist")
        self.files = sorted(f for f in self.path.iterdir() if f.suffix.lower() in imaging.IMAGE_SUFFIXES)
        if not self.files:
            raise ValueError(f"no images in {str(self.path)!r}")
        self.clip, self.patch, self.batch = clip, patch, batch
        self.pan, self.zoom, self.rotate, self.still = float(pan), float(zoom), float(rotate), float(still)
        self.objects, self.object_pan = int(objects), float(object_pan)
        self.lighting, self.blur, self.noise = float(lighting), float(blur), float(noise)
        self.count, self.length, self.size, self.seed = count, length, (int(size[0]), int(size[1])), seed
        self._photos: list[torch.Tensor] | None = None

    @property
    def photos(self) -> list[torch.Tensor]:
        """The photographs as uint8 ``3 x H x W`` tensors (a quarter of float's memory)."""
        if self._photos is None:
            self._photos = [torch.from_numpy(imaging.load_rgb(f)).permute(2, 0, 1) for f in self.files]  # uint8
        return self._photos

    def render(self, rng: np.random.Generator, frames: int, width: int, height: int) -> torch.Tensor:
        """``frames x 3 x height x width`` of one random camera path over one random photo."""
        photo = self.photos[rng.integers(len(self.photos))].float().div_(255.0)
        ph, pw = photo.shape[-2:]
        vx, vy = rng.uniform(-self.pan, self.pan, 2)
        dz = rng.uniform(-self.zoom, self.zoom)
        dr = math.radians(rng.uniform(-self.rotate, self.rotate))
        still = bool(self.still and rng.random() < self.still)
        if still:
            vx = vy = dz = dr = 0.0
        # the whole path (with its zoom-out and rotation) must stay inside the photo
        zooms = (1 + dz) ** np.arange(frames)
        reach = max(1.0, float((1 / zooms).max())) * math.hypot(width, height) / 2
        travel_x, travel_y = abs(vx) * (frames - 1), abs(vy) * (frames - 1)
        if 2 * (reach + travel_x) >= pw or 2 * (reach + travel_y) >= ph:
            vx, vy, travel_x, travel_y = 0.0, 0.0, 0.0, 0.0  # a small photo: zoom and rotate only
            reach = min(reach, (min(pw, ph) - 2) / 2)
        cx = rng.uniform(reach + travel_x, pw - reach - travel_x) - vx * (frames - 1) / 2
        cy = rng.uniform(reach + travel_y, ph - reach - travel_y) - vy * (frames - 1) / 2
        ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float32) - (height - 1) / 2,
                                torch.arange(width, dtype=torch.float32) - (width - 1) / 2, indexing="ij")
        grids = []
        for t in range(frames):
            angle, scale = dr * t, 1 / zooms[t]
            c, s = math.cos(angle) * scale, math.sin(angle) * scale
            px = cx + vx * t + c * xs - s * ys
            py = cy + vy * t + s * xs + c * ys
            grids.append(torch.stack([2 * px / (pw - 1) - 1, 2 * py / (ph - 1) - 1], dim=-1))
        out = F.grid_sample(photo[None].expand(frames, -1, -1, -1), torch.stack(grids), mode="bilinear",
                            padding_mode="border", align_corners=True)
        for _ in range(rng.integers(self.objects + 1) if self.objects else 0):
            out = self._add_object(rng, out, moving=not still)
        return self._degrade(rng, out).clamp_(0, 1)

    def _degrade(self, rng: np.random.Generator, frames: torch.Tensor) -> torch.Tensor:
        """``lighting`` drift, ``blur`` and ``noise`` (see the class docstring)."""
        t = frames.shape[0]
        if self.lighting:
            gain, offset = rng.uniform(-self.lighting, self.lighting, 2)
            k = torch.arange(t, dtype=frames.dtype).view(-1, 1, 1, 1)
            frames = frames * (1 + gain * k) + offset * k
        if self.blur:
            frames = torch.stack([_gaussian_blur(f, float(s)) for f, s in zip(frames, rng.uniform(0, self.blur, t))])
        if self.noise:
            frames = frames + torch.from_numpy(rng.normal(0, self.noise, tuple(frames.shape))).to(frames.dtype)
        return frames

    def _add_object(self, rng: np.random.Generator, frames: torch.Tensor, moving: bool) -> torch.Tensor:
        """``frames`` with one more object in front: an ellipse cut from a random photo, its
        size 1/8 to 1/3 of the frame's smaller side (per axis), starting anywhere in the frame
        and moving by its own velocity (none in a still clip)."""
        t, _, height, width = frames.shape
        side = min(width, height)
        ow, oh = (int(v) for v in rng.integers(max(2, side // 8), max(3, side // 3 + 1), 2))
        photo = self.photos[rng.integers(len(self.photos))]
        top, left = rng.integers(photo.shape[1] - oh + 1), rng.integers(photo.shape[2] - ow + 1)
        texture = photo[:, top : top + oh, left : left + ow].float().div(255.0)
        x0, y0 = rng.uniform(0, width), rng.uniform(0, height)  # the object's centre in frame 0
        vx, vy = rng.uniform(-self.object_pan, self.object_pan, 2) if moving else (0.0, 0.0)
        ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32),
                                indexing="ij")
        out = frames.clone()
        for k in range(t):
            # object coordinates in [-1, 1] (grid_sample's), the ellipse |u|^2 + |v|^2 <= 1 inside
            u = (xs - (x0 + vx * k)) / (ow / 2)
            v = (ys - (y0 + vy * k)) / (oh / 2)
            # a one-pixel soft edge, so the object's border is antialiased as a real edge is
            alpha = ((1 - torch.sqrt(u * u + v * v)) * min(ow, oh) / 2 + 0.5).clamp_(0, 1)
            if not alpha.any():
                continue
            grid = torch.stack([u, v], dim=-1)[None]
            piece = F.grid_sample(texture[None], grid, mode="bilinear", padding_mode="border", align_corners=False)[0]
            out[k] = out[k] * (1 - alpha) + piece * alpha
        return out

    def sequences(self) -> Iterator[tuple[str, Iterator[np.ndarray]]]:
        for i in range(self.count):
            yield f"synthetic-{i:03d}", self._frames(i)

    def _frames(self, i: int) -> Iterator[np.ndarray]:
        """Sequence ``i``, rendered when first read (from its own seed: any order, same clip)."""
        width, height = self.size
        clip = self.render(np.random.default_rng([self.seed, i]), self.length, width, height)
        yield from clip.mul(255).round().byte().permute(0, 2, 3, 1).numpy()

    def batches(self, seed: int) -> Iterator[torch.Tensor]:
        rng = np.random.default_rng(seed)
        while True:
            clips = [self.render(rng, self.clip, self.patch, self.patch) for _ in range(self.batch)]
            # the same quantisation as real frames, so a model never sees values a file cannot hold
            yield torch.stack(clips).mul_(255).round_().div_(255)


def _gaussian_blur(frame: torch.Tensor, sigma: float) -> torch.Tensor:
    """``3 x H x W`` blurred by a separable Gaussian (radius 3 sigma, replicated borders)."""
    if sigma < 0.3:
        return frame
    r = max(1, math.ceil(3 * sigma))
    k = torch.exp(-torch.arange(-r, r + 1, dtype=frame.dtype) ** 2 / (2 * sigma * sigma))
    k = (k / k.sum()).view(1, 1, 1, -1).expand(3, 1, 1, -1)
    x = F.conv2d(F.pad(frame[None], (r, r, 0, 0), mode="replicate"), k, groups=3)
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), k.transpose(-1, -2), groups=3)[0]


DATASETS = [VideoFolder, CameraMotion]
