"""The coder conformance suite, on CPU tensors (the reference the CUDA path must match)."""

import pytest
import torch
from nc_cuda.coder import LaneRansCoder

from nc_core.testing import CoderConformance


class TestLaneRansOneLanePerOps(CoderConformance):
    """The default lane policy: small test streams use one or a few lanes."""

    coder_class = LaneRansCoder

    def make_coder(self):
        return LaneRansCoder(device="cpu")


class TestLaneRansManyLanes(CoderConformance):
    """A lane for every op or two: every lane boundary case in tiny streams."""

    coder_class = LaneRansCoder

    def make_coder(self):
        return LaneRansCoder(device="cpu", lanes=7, ops_per_lane=2)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
class TestLaneRansOnCuda(CoderConformance):
    """The same suite with the lanes on the GPU (run by benchmarks/gpu_check.sh)."""

    coder_class = LaneRansCoder

    def make_coder(self):
        return LaneRansCoder(device="cuda", lanes=7, ops_per_lane=2)
