"""Entry point ``arith`` of the ``nc`` group."""

from nc_core import hookimpl


@hookimpl
def nc_register_coders():
    from nc_arith.coder import RangeCoder

    return [RangeCoder]
