"""Entry point ``gan`` of the ``nc`` group."""

from nc_core import hookimpl


@hookimpl
def nc_register_metrics():
    from nc_gan.metrics import METRICS

    return METRICS
