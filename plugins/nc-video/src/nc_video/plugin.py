"""Entry point ``video`` of the ``nc`` group."""

from nc_core import hookimpl


@hookimpl
def nc_register_datasets():
    from nc_video.datasets import DATASETS

    return DATASETS


@hookimpl
def nc_register_codecs():
    from nc_video.codec import CODECS

    return CODECS


@hookimpl
def nc_register_metrics():
    from nc_video.color import METRICS

    return METRICS


@hookimpl
def nc_register_losses():
    from nc_video.losses import LOSSES

    return LOSSES


@hookimpl
def nc_register_baselines():
    from nc_video.baselines import BASELINES

    return BASELINES
