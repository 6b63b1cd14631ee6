"""Entry point ``gan`` of the ``nc`` group."""

from nc_core import hookimpl


@hookimpl
def nc_register_metrics():
    from nc_gan.metrics import METRICS

    return METRICS


@hookimpl
def nc_register_codecs():
    from nc_gan.codec import CODECS

    return CODECS


@hookimpl
def nc_register_losses():
    from nc_gan.losses import LOSSES

    return LOSSES
