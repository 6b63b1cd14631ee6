"""Entry point ``bitsback`` of the ``nc`` group."""

from nc_core import hookimpl


@hookimpl
def nc_register_codecs():
    from nc_bitsback.codec import CODECS

    return CODECS
