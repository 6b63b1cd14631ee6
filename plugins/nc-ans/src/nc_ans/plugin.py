"""Entry point ``ans`` of the ``nc`` group."""

from nc_core import hookimpl


@hookimpl
def nc_register_coders():
    from nc_ans.coder import AnsCoder

    return [AnsCoder]
