"""``video-rate-distortion``: the rate-distortion objective of a video codec's training stages.

The literature trains a low-latency codec in stages (Agustsson et al. 2020; DCVC): the intra
codec first (or pre-trained), then motion and residual on one P-frame, then the whole P chain
unrolled over several frames so that error propagation is trained. One pipeline does it with
``train`` and ``train.then``, each stage naming

* ``frames``: the first ``frames`` frames of each training clip (1: the intra frame only; 2: one
  P-frame; none: the whole clip), through :meth:`Loss.batch`;
* ``parts``: what the stage trains, of ``intra``, ``motion`` and ``residual`` (the others keep
  their weights).

* ``target``: ``reconstruction`` (default) or ``prediction``.
* ``flow_weight``: with a codec that searches motion (``motion_search``), adds ``flow_weight``
  times the mean absolute difference (px) between the decoded flow and the search's: a
  supervised start for the motion branch, dropped (0, the default) once it codes motion.

The objective is the core's ``rate-distortion`` over the frames kept: bits per pixel of every
frame plus ``lmbda`` times the distortion's mean over them. With ``target: prediction`` it is
the *motion* warm-up of DVC's progressive training (Lu et al. 2019): the distortion of the
warped predictions of the P-frames (not of their reconstructions) plus the motion branch's
bits only, per P-frame pixel, training ``parts: [motion]``. Trained end to end from the start,
a motion branch can find it cheaper to code nothing (zero flow, zero bits) than to learn
motion through the warp, and stays so: measured on the video-ssf recipe (now video-ssf-pixels), its first model's
motion branch coded 0.0000 bpp on bikes and its prediction was the previous frame (+0.13 dB,
the blur), so every P-frame was residual coding against the last frame.
"""

from __future__ import annotations

from typing import Literal

import torch

from nc_core.contracts import Loss, Metric
from nc_core.pipeline import build

Part = Literal["intra", "motion", "residual"]


class VideoRateDistortion(Loss):
    """See the module docstring."""

    name = "video-rate-distortion"

    def __init__(self, lmbda: float, distortion: Metric, frames: int | None = None,
                 parts: tuple[Part, ...] = ("intra", "motion", "residual"),
                 target: Literal["reconstruction", "prediction"] = "reconstruction", flow_weight: float = 0.0):
        if frames is not None and frames < 1:
            raise ValueError(f"frames must be >= 1, got {frames}")
        if not parts or len(set(parts)) != len(parts):
            raise ValueError("parts must name at least one of intra, motion, residual, each once")
        if target == "prediction" and (tuple(parts) != ("motion",) or frames == 1):
            raise ValueError("target: prediction trains the motion branch alone on P-frames "
                             "(parts: [motion], frames >= 2)")
        if flow_weight < 0:
            raise ValueError(f"flow_weight must be >= 0, got {flow_weight}")
        self.frames, self.parts, self.target, self.flow_weight = frames, tuple(parts), target, float(flow_weight)
        self.objective = build({"use": "rate-distortion", "lmbda": lmbda, "distortion": distortion.name}, "loss")

    def batch(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5:
            raise ValueError(f"video-rate-distortion trains on clips N x T x 3 x H x W, got {tuple(x.shape)}")
        if self.frames is not None and self.frames > x.shape[1]:
            raise ValueError(f"frames: {self.frames}, but the training clips have {x.shape[1]} (data.train.clip)")
        return x if self.frames is None else x[:, : self.frames]

    def model_parameters(self, codec) -> list:
        pframe = getattr(codec, "pframe", None)
        if pframe is None or not hasattr(codec, "intra"):
            raise ValueError(f"loss video-rate-distortion needs an intra + P-frame video codec, not {codec.name!r}")
        modules = {"intra": [codec.intra],
                   "motion": [pframe.motion_analysis, pframe.motion_synthesis, pframe.motion_entropy],
                   "residual": [pframe.residual_analysis, pframe.residual_synthesis, pframe.residual_entropy,
                                getattr(pframe, "latent_prediction", None)]}
        missing = [part for part in self.parts if part != "intra" and all(m is None for m in modules[part])]
        if missing:
            raise ValueError(f"parts: this codec has no {missing[0]} branch to train (motion: false has no motion)")
        return [p for part in self.parts for m in modules[part] if m is not None for p in m.parameters()]

    def __call__(self, x, output, codec):
        if self.target == "prediction":  # the P-frames' predictions and the motion bits
            motion = {k: v for k, v in output["likelihoods"].items() if "-motion-" in k}
            loss, logs = self.objective(x[:, 1:], {"x_hat": output["x_bar"], "likelihoods": motion}, codec)
        else:
            loss, logs = self.objective(x, output, codec)
        if self.flow_weight and "flow" in output:
            if "found" not in output:
                raise ValueError("video-rate-distortion: flow_weight needs a codec with motion_search")
            gap = (output["flow"][:, :, :2] - output["found"]).abs().mean()
            loss = loss + self.flow_weight * gap
            logs |= {"loss": loss.item(), "flow_gap": gap.item()}
        return loss, logs


LOSSES = [VideoRateDistortion]
