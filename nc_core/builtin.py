"""The core's built-in components, registered through the same entry point group as every
third-party plugin (``[project.entry-points.nc] core = "nc_core.builtin"``)."""

from nc_core import hookimpl
from nc_core.components import baselines, codecs, datasets, losses, metrics, priors, quantizers, transforms


@hookimpl
def nc_register_probability_models():
    return priors.PRIORS


@hookimpl
def nc_register_transforms():
    return transforms.TRANSFORMS


@hookimpl
def nc_register_quantizers():
    return quantizers.QUANTIZERS


@hookimpl
def nc_register_metrics():
    return metrics.METRICS


@hookimpl
def nc_register_datasets():
    return datasets.DATASETS


@hookimpl
def nc_register_codecs():
    return codecs.CODECS


@hookimpl
def nc_register_baselines():
    return baselines.BASELINES


@hookimpl
def nc_register_losses():
    return losses.LOSSES
