"""The hyperprior models are hyperprior entropy models (nc_core.contracts.EntropyModel), not
plain priors: `nc validate` (and `nc run`, before any work) rejects either in the other's slot,
located, naming the models that fit."""

from __future__ import annotations

import pytest

from nc_core.cli import main
from nc_core.contracts import EntropyModel, Prior
from nc_core.layers import DeepFactorized
from nc_core.plugins import get_registry
from nc_hyperprior.models import HyperpriorModel

BASE = """\
name: slots
data: {test: {use: samples, split: test}}
codec:
  use: CODEC
  transform: {use: factorized, channels: 8, latent: 8}
  quantizer: mixed
  SLOT
  coder: ans
"""
HYPER = "channel-autoregressive, joint-autoregressive, mean-scale-hyperprior, scale-hyperprior"


@pytest.mark.parametrize("codec, slot, message", [
    ("transform-coding", "prior: {use: scale-hyperprior}",
     "P:7:16: codec.prior.use: 'scale-hyperprior' is a hyperprior entropy model; "
     "this slot takes a plain prior (choices: deep-factorized)"),
    ("hyperprior", "entropy: deep-factorized",
     "P:7:12: codec.entropy: 'deep-factorized' is a plain prior; this slot takes a hyperprior entropy model "
     f"deriving from nc_hyperprior.models.HyperpriorModel (choices: {HYPER})"),
])
@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_model_in_the_wrong_slot_is_a_located_user_error(tmp_path, capsys, codec, slot, message, command):
    path = tmp_path / "p.yaml"
    path.write_text(BASE.replace("CODEC", codec).replace("SLOT", slot))
    args = ["--out", str(tmp_path / "runs"), "--quiet"] if command == "run" else []
    capsys.readouterr()
    assert main([command, str(path), *args]) == 2
    assert capsys.readouterr().err.replace(str(path), "P").strip() == message
    assert not (tmp_path / "runs").exists()


def test_the_models_declare_their_contract():
    registry = get_registry()
    for name in HYPER.split(", "):
        cls = registry.get("probability-model", name)
        assert issubclass(cls, HyperpriorModel) and issubclass(cls, EntropyModel) and not issubclass(cls, Prior)
    assert issubclass(DeepFactorized, Prior) and not issubclass(DeepFactorized, EntropyModel)
