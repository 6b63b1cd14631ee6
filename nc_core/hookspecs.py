"""Hook specifications: the only way components enter nc.

A plugin is a module named by an entry point in the ``nc`` group, e.g. in its pyproject::

    [project.entry-points.nc]
    my_plugin = "my_package.plugin"

and implementing any of the hooks below with ``@nc_core.hookimpl``. The core registers its own
built-in components through this very mechanism (entry point ``core``), so built-ins and
third-party plugins are equals. Every registration hook returns a list of component classes;
each class has a unique ``name`` and derives from the matching base in
:mod:`nc_core.contracts`.
"""

from __future__ import annotations

import pluggy

from nc_core.contracts import (
    Baseline,
    Codec,
    Coder,
    Dataset,
    Importer,
    Loss,
    Metric,
    ProbabilityModel,
    Quantizer,
    Transform,
)

PROJECT = "nc"

hookspec = pluggy.HookspecMarker(PROJECT)


@hookspec
def nc_register_coders() -> list[type[Coder]]:
    """Register entropy coders.

    A coder turns integer symbols and :mod:`nc_core.coding` distributions into bytes and
    back, and declares its ``order`` (``"stack"`` or ``"queue"``) and the distribution
    ``families`` it supports.

    :return: a list of :class:`nc_core.contracts.Coder` subclasses.
    """


@hookspec
def nc_register_probability_models() -> list[type[ProbabilityModel]]:
    """Register probability (entropy) models.

    A probability model gives differentiable likelihoods for training and a coding
    distribution for the coder.

    :return: a list of :class:`nc_core.contracts.ProbabilityModel` subclasses.
    """


@hookspec
def nc_register_transforms() -> list[type[Transform]]:
    """Register analysis/synthesis transform pairs.

    :return: a list of :class:`nc_core.contracts.Transform` subclasses.
    """


@hookspec
def nc_register_quantizers() -> list[type[Quantizer]]:
    """Register quantizers: a training surrogate plus the test-time map to symbols.

    :return: a list of :class:`nc_core.contracts.Quantizer` subclasses.
    """


@hookspec
def nc_register_metrics() -> list[type[Metric]]:
    """Register metrics (distortions, rates, ...), each saying whether higher is better.

    :return: a list of :class:`nc_core.contracts.Metric` subclasses.
    """


@hookspec
def nc_register_datasets() -> list[type[Dataset]]:
    """Register datasets that yield training crops and evaluation images.

    :return: a list of :class:`nc_core.contracts.Dataset` subclasses.
    """


@hookspec
def nc_register_codecs() -> list[type[Codec]]:
    """Register codec assemblies that wire transforms, quantizers, models and coders into
    ``compress(image) -> bytes`` and ``decompress(bytes) -> image``.

    :return: a list of :class:`nc_core.contracts.Codec` subclasses (usually
        :class:`nc_core.contracts.LearnedCodec`).
    """


@hookspec
def nc_register_baselines() -> list[type[Baseline]]:
    """Register classical codecs used as reference points in rate-distortion reports.

    :return: a list of :class:`nc_core.contracts.Baseline` subclasses, each with a default
        quality sweep.
    """


@hookspec
def nc_register_losses() -> list[type[Loss]]:
    """Register training objectives (e.g. the rate-distortion Lagrangian).

    :return: a list of :class:`nc_core.contracts.Loss` subclasses.
    """


@hookspec
def nc_register_importers() -> list[type[Importer]]:
    """Register checkpoint importers: ``nc import NAME CHECKPOINT --arch ARCH -o RUN_DIR``
    turns another framework's trained weights into an nc run directory.

    :return: a list of :class:`~nc_core.contracts.Importer` subclasses.
    """


@hookspec
def nc_register_model_folders() -> list[str]:
    """Register folders of trained models: a model zoo shipped inside a plugin's package.

    Each sub-folder holding ``model.pt`` beside its ``model.json`` and ``pipeline.yaml`` (a
    sweep point of a run, as ``nc run`` writes it) is a model. ``nc compress --model zoo:NAME``
    and ``init: zoo:NAME`` name it by its folder name, ``nc decompress`` finds it by the
    weights hash a file carries, and ``nc zoo`` lists it; an optional ``zoo.json`` beside it
    says more (``summary``, ``command``, ``results``: see docs/hooks.md).

    :return: a list of folder paths (``str`` or :class:`os.PathLike`); absolute, usually
        ``Path(__file__).parent / "models"``.
    """
