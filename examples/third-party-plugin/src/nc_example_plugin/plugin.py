"""Registration: nc finds this module through the ``nc`` entry point in pyproject.toml."""

from nc_core import hookimpl
from nc_example_plugin.components import LumaPSNR, SoftRound


@hookimpl
def nc_register_quantizers():
    return [SoftRound]


@hookimpl
def nc_register_metrics():
    return [LumaPSNR]
