"""Entry point ``cuda`` of the ``nc`` group."""

from nc_core import hookimpl


@hookimpl
def nc_register_coders():
    from nc_cuda.coder import LaneRansCoder

    return [LaneRansCoder]
