"""Multi-player objectives (``Loss.players``, ``Loss.model_parameters``): each player gets its
own optimiser, learning rate and schedule, the model's optimiser trains only what the loss
names, and both are checkpointed and resumed exactly."""

from __future__ import annotations

import torch
from torch import nn

from nc_core.contracts import Loss, Player
from nc_core.models import load_weights
from nc_core.runner.train import CHECKPOINT, train


class TinyCodec(nn.Module):
    def __init__(self):
        super().__init__()
        self.analysis, self.synthesis = nn.Conv2d(3, 4, 1), nn.Conv2d(4, 3, 1)

    def forward(self, x):
        return {"x_hat": self.synthesis(self.analysis(x)), "likelihoods": {}}


class WithCritic(Loss, nn.Module):
    """Reconstruction against a linear critic; the model trains its synthesis only."""

    name = "with-critic"

    def __init__(self, critic_lr: float = 0.05, drop=(0.5, 0.1)):
        nn.Module.__init__(self)
        self.critic, self.critic_lr, self.drop = nn.Conv2d(3, 1, 1), critic_lr, drop

    def __call__(self, x, output, codec):
        loss = ((output["x_hat"] - x) ** 2).mean() - 0.1 * self.critic(output["x_hat"]).mean()
        return loss, {"loss": loss.item()}

    def model_parameters(self, codec):
        return list(codec.synthesis.parameters())

    def players(self, codec):
        return [Player("critic", list(self.critic.parameters()), self._critic_step, self.critic_lr, self.drop)]

    def _critic_step(self, x, output, codec):
        gap = self.critic(output["x_hat"].detach()).mean() - self.critic(x).mean()
        return gap, {"critic": gap.item()}


def batches(seed):
    """Batch k of the stream is a function of k alone, so a resumed stream (``batches(seed +
    step)``) continues exactly where an uninterrupted one would be."""
    k = seed
    while True:
        yield torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(k))
        k += 1


CONFIG = {"steps": 4, "optimizer": {"lr": 0.01, "grad_clip": 0.0}, "lr_drop": {"at": 1.0, "factor": 1.0},
          "log_every": 1, "checkpoint_every": 1}


def _train(run_dir, steps=4, resume=False):
    run_dir.mkdir(exist_ok=True)
    torch.manual_seed(0)
    codec, loss = TinyCodec(), WithCritic(drop=(1.0, 1.0))
    train(codec, batches, loss, CONFIG | {"steps": steps}, run_dir, seed=0, device=torch.device("cpu"),
          resume=resume, quiet=True, log=lambda *_: None)
    return codec, loss


def test_each_player_trains_its_own_parameters_on_its_own_schedule(tmp_path):
    torch.manual_seed(0)
    codec, loss = TinyCodec(), WithCritic()
    before = {k: v.clone() for k, v in codec.state_dict().items()}
    critic_before = loss.critic.weight.clone()
    summary = train(codec, batches, loss, CONFIG, tmp_path, seed=0, device=torch.device("cpu"), quiet=True,
                    log=lambda *_: None)
    after = codec.state_dict()
    assert torch.equal(after["analysis.weight"], before["analysis.weight"])  # frozen by model_parameters
    assert not torch.equal(after["synthesis.weight"], before["synthesis.weight"])
    assert not torch.equal(loss.critic.weight, critic_before)
    assert {"loss", "critic"} <= summary["final"].keys() and summary["train_cpu_seconds"] > 0
    state = load_weights(tmp_path / CHECKPOINT)
    assert set(state["optimizers"]) == {"model", "critic"} and "critic.weight" in state["loss"]
    groups = {name: opt["param_groups"][0]["lr"] for name, opt in state["optimizers"].items()}
    assert groups == {"model": 0.01, "critic": 0.05 * 0.1}  # the critic's own drop at half the steps


def test_an_interrupted_two_player_run_resumes_exactly(tmp_path):
    whole, whole_loss = _train(tmp_path / "whole")
    _train(tmp_path / "parts", steps=2)
    parts, parts_loss = _train(tmp_path / "parts", steps=4, resume=True)
    for a, b in ((whole.state_dict(), parts.state_dict()), (whole_loss.state_dict(), parts_loss.state_dict())):
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


class FirstFrames(Loss):
    """Trains on the first two frames of each clip, recording what the codec saw."""

    name = "first-frames"

    def __init__(self):
        self.seen = []

    def batch(self, x):
        return x[:, :2]

    def __call__(self, x, output, codec):
        self.seen.append(tuple(x.shape))
        loss = ((output["x_hat"] - x) ** 2).mean()
        return loss, {"loss": loss.item()}


class ClipCodec(TinyCodec):
    def forward(self, x):
        return {"x_hat": self.synthesis(self.analysis(x.flatten(0, 1))).view_as(x), "likelihoods": {}}


def test_a_loss_chooses_the_part_of_each_batch_it_trains_on(tmp_path):
    def clips(seed):
        while True:
            yield torch.rand(2, 5, 3, 8, 8)

    loss = FirstFrames()
    train(ClipCodec(), clips, loss, CONFIG | {"steps": 2}, tmp_path, seed=0, device=torch.device("cpu"),
          resume=False, quiet=True, log=lambda *_: None)
    assert loss.seen == [(2, 2, 3, 8, 8)] * 2


def test_rate_distortion_on_clips_counts_every_frame():
    from nc_core.pipeline import build

    loss = build({"use": "rate-distortion", "distortion": "mse", "lmbda": 0.01}, "loss")
    clip, noise = torch.rand(2, 3, 3, 8, 8), torch.rand(2, 3, 3, 8, 8) * 0.1
    likelihoods = {"y": torch.full((2, 3, 4), 0.5)}  # 24 bits in all
    value, logs = loss(clip, {"x_hat": clip + noise, "likelihoods": likelihoods}, None)
    frames = {"x_hat": (clip + noise).flatten(0, 1), "likelihoods": likelihoods}
    flat_value, flat_logs = loss(clip.flatten(0, 1), frames, None)
    assert logs == flat_logs and float(value) == float(flat_value)
    assert logs["bpp"] == 24 / (6 * 8 * 8)
