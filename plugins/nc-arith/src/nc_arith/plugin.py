"""Entry point ``arith`` of the ``nc`` group."""

from nc_core import hookimpl


@hookimpl
def nc_register_coders():
    from nc_arith.coder import RangeCoder

    return [RangeCoder]


@hookimpl
def nc_register_codecs():
    from nc_arith.pixelcnn import CODECS

    return CODECS
