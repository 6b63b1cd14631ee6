"""FID and KID on 256-px patches, offline.

**Features.** The 2048-d pool features of the Inception-v3 that FID is defined with (the
TensorFlow 2015-12-05 graph as ``pytorch-fid`` and ``torch-fidelity`` port it:
``pt_inception-2015-12-05-6726825d.pth``). nc defines the network itself (torchvision's layer
names, the FID variants of its blocks: average pools that exclude padding, a max pool in the
last block, batch-norm epsilon 1e-3) and loads the weights from a file you name
(``{use: fid, weights: PATH}`` or ``NC_FID_WEIGHTS``); nothing is downloaded. Inputs are
resized to 299x299 (bilinear) and scaled to [-1, 1].

**Patches.** Kodak has 24 images: too few samples for a 2048-d Gaussian. As HiFiC (Mentzer et
al. 2020) and MS-ILLM do for small test sets, each image is cut into non-overlapping
256x256 patches, and again on the grid shifted by 128 px in both directions: a 768x512 image
gives 6 + 2 = 8 patches, Kodak 192. Both sets (originals, decoded) are cut identically.

**FID** is the Fréchet distance between Gaussians fitted to the two feature sets;
**KID** (Binkowski et al. 2018) the unbiased MMD² with the kernel ``(x.y / d + 1)**3`` over
all patches (one estimate, deterministic), reported ×10³.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from functools import lru_cache
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from scipy import linalg
from torch import nn

from nc_gan.weights import weights_file, weights_path

PATCH = 256


# ---------------------------------------------------------------------------- the network


class _Conv(nn.Module):
    """torchvision's BasicConv2d: convolution without bias, batch norm (eps 1e-3), ReLU."""

    def __init__(self, cin: int, cout: int, kernel, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


def _avg(x):
    return F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)


class _A(nn.Module):
    def __init__(self, cin: int, pool: int):
        super().__init__()
        self.branch1x1 = _Conv(cin, 64, 1)
        self.branch5x5_1, self.branch5x5_2 = _Conv(cin, 48, 1), _Conv(48, 64, 5, padding=2)
        self.branch3x3dbl_1, self.branch3x3dbl_2 = _Conv(cin, 64, 1), _Conv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = _Conv(96, 96, 3, padding=1)
        self.branch_pool = _Conv(cin, pool, 1)

    def forward(self, x):
        return torch.cat([self.branch1x1(x), self.branch5x5_2(self.branch5x5_1(x)),
                          self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                          self.branch_pool(_avg(x))], 1)


class _B(nn.Module):
    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3 = _Conv(cin, 384, 3, stride=2)
        self.branch3x3dbl_1, self.branch3x3dbl_2 = _Conv(cin, 64, 1), _Conv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = _Conv(96, 96, 3, stride=2)

    def forward(self, x):
        return torch.cat([self.branch3x3(x), self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                          F.max_pool2d(x, 3, 2)], 1)


class _C(nn.Module):
    def __init__(self, cin: int, c7: int):
        super().__init__()
        self.branch1x1 = _Conv(cin, 192, 1)
        self.branch7x7_1 = _Conv(cin, c7, 1)
        self.branch7x7_2 = _Conv(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = _Conv(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = _Conv(cin, c7, 1)
        self.branch7x7dbl_2 = _Conv(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = _Conv(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = _Conv(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = _Conv(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = _Conv(cin, 192, 1)

    def forward(self, x):
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        d = x
        for i in range(1, 6):
            d = getattr(self, f"branch7x7dbl_{i}")(d)
        return torch.cat([self.branch1x1(x), b7, d, self.branch_pool(_avg(x))], 1)


class _D(nn.Module):
    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3_1, self.branch3x3_2 = _Conv(cin, 192, 1), _Conv(192, 320, 3, stride=2)
        self.branch7x7x3_1 = _Conv(cin, 192, 1)
        self.branch7x7x3_2 = _Conv(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = _Conv(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = _Conv(192, 192, 3, stride=2)

    def forward(self, x):
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([self.branch3x3_2(self.branch3x3_1(x)), b7, F.max_pool2d(x, 3, 2)], 1)


class _E(nn.Module):
    def __init__(self, cin: int, max_pool: bool):
        super().__init__()
        self.max_pool = max_pool  # the FID graph's last block max-pools its pool branch
        self.branch1x1 = _Conv(cin, 320, 1)
        self.branch3x3_1 = _Conv(cin, 384, 1)
        self.branch3x3_2a = _Conv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = _Conv(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1, self.branch3x3dbl_2 = _Conv(cin, 448, 1), _Conv(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = _Conv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = _Conv(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = _Conv(cin, 192, 1)

    def forward(self, x):
        a = self.branch3x3_1(x)
        d = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        pool = F.max_pool2d(x, 3, 1, 1) if self.max_pool else _avg(x)
        return torch.cat([self.branch1x1(x), self.branch3x3_2a(a), self.branch3x3_2b(a),
                          self.branch3x3dbl_3a(d), self.branch3x3dbl_3b(d), self.branch_pool(pool)], 1)


class FIDInception(nn.Module):
    """Inception-v3 up to its 2048-d average pool, as FID defines it."""

    def __init__(self):
        super().__init__()
        self.Conv2d_1a_3x3 = _Conv(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = _Conv(32, 32, 3)
        self.Conv2d_2b_3x3 = _Conv(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = _Conv(64, 80, 1)
        self.Conv2d_4a_3x3 = _Conv(80, 192, 3)
        self.Mixed_5b, self.Mixed_5c, self.Mixed_5d = _A(192, 32), _A(256, 64), _A(288, 64)
        self.Mixed_6a = _B(288)
        self.Mixed_6b, self.Mixed_6c, self.Mixed_6d, self.Mixed_6e = _C(768, 128), _C(768, 160), _C(768, 160), _C(768, 192)
        self.Mixed_7a = _D(768)
        self.Mixed_7b, self.Mixed_7c = _E(1280, max_pool=False), _E(2048, max_pool=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``N x 3 x H x W`` in [0, 1] -> ``N x 2048``."""
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False) * 2 - 1
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(F.max_pool2d(x, 3, 2)))
        x = F.max_pool2d(x, 3, 2)
        for name in ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e",
                     "Mixed_7a", "Mixed_7b", "Mixed_7c"):
            x = getattr(self, name)(x)
        return F.adaptive_avg_pool2d(x, 1).flatten(1)


def load_inception(path: str | None = None) -> FIDInception:
    """The FID Inception with the weights of ``path`` (else ``NC_FID_WEIGHTS``), loaded once per
    file: FID and KID in one pipeline share it."""
    file = weights_path("fid", "weights", path, "NC_FID_WEIGHTS",
                        "pt_inception-2015-12-05-6726825d.pth (pytorch-fid's port of the FID Inception)")
    stat = file.stat()
    return _load_inception(str(file.resolve()), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=2)
def _load_inception(path: str, mtime_ns: int, size: int) -> FIDInception:
    state = weights_file("fid", "weights", path, "NC_FID_WEIGHTS", "pt_inception-2015-12-05-6726825d.pth")
    net = FIDInception()
    wanted = {k for k in net.state_dict() if not k.endswith("num_batches_tracked")}
    missing = sorted(wanted - set(state))
    if missing:
        raise ValueError(f"the FID Inception weights lack {missing[0]} (and {len(missing) - 1} more): "
                         "not pt_inception-2015-12-05")
    net.load_state_dict({k: state[k] for k in wanted}, strict=False)
    return net.requires_grad_(False).eval()


# ---------------------------------------------------------------------------- the protocol


def patches(image: np.ndarray, size: int = PATCH) -> list[np.ndarray]:
    """Non-overlapping ``size`` patches, then those of the grid shifted by ``size / 2``."""
    h, w = image.shape[:2]
    out = []
    for offset in (0, size // 2):
        for y in range(offset, h - size + 1, size):
            for x in range(offset, w - size + 1, size):
                out.append(image[y:y + size, x:x + size])
    return out


def features(extractor: Callable[[torch.Tensor], torch.Tensor], images: Sequence[np.ndarray],
             batch: int = 16) -> np.ndarray:
    """Features of every patch of ``images`` (float64, ``n x d``)."""
    crops = [p for image in images for p in patches(image)]
    if len(crops) < 2:
        raise ValueError(f"FID/KID need at least two {PATCH}-px patches; these images give {len(crops)}")
    out = []
    with torch.no_grad():
        for i in range(0, len(crops), batch):
            x = torch.from_numpy(np.stack(crops[i:i + batch])).permute(0, 3, 1, 2).float() / 255
            out.append(extractor(x).double().numpy())
    return np.concatenate(out)


_FEATURES: OrderedDict = OrderedDict()  # (extractor, images) -> (images, features), the last two sets


def cached_features(extractor, images: Sequence[np.ndarray]) -> np.ndarray:
    """:func:`features`, remembered for the last two image lists (the originals and the decoded
    images of one rate point) so that FID and KID run the network once. The lists are kept
    while remembered, so the ids in the key cannot be reused."""
    key = (id(extractor), tuple(map(id, images)))
    if key not in _FEATURES:
        _FEATURES[key] = (images, features(extractor, images))
        while len(_FEATURES) > 2:
            _FEATURES.popitem(last=False)
    return _FEATURES[key][1]


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """``|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))`` of two feature sets."""
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with warnings.catch_warnings():  # few patches: the product is singular, which sqrtm says
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        root = linalg.sqrtm(s_a @ s_b)
        if not np.isfinite(root).all():  # regularise, as pytorch-fid does
            eps = 1e-6 * np.eye(len(s_a))
            root = linalg.sqrtm((s_a + eps) @ (s_b + eps))
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a + s_b - 2 * root.real))


def kernel_inception_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Unbiased MMD² with the cubic polynomial kernel ``(x.y / d + 1)**3``."""
    d = a.shape[1]
    kaa, kbb, kab = (a @ a.T / d + 1) ** 3, (b @ b.T / d + 1) ** 3, (a @ b.T / d + 1) ** 3
    m, n = len(a), len(b)
    return float((kaa.sum() - np.trace(kaa)) / (m * (m - 1)) + (kbb.sum() - np.trace(kbb)) / (n * (n - 1))
                 - 2 * kab.mean())
