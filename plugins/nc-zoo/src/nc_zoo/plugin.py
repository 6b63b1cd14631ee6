"""Entry point ``zoo`` of the ``nc`` group: the folder of shipped models."""

from pathlib import Path

from nc_core import hookimpl

MODELS = Path(__file__).parent / "models"


@hookimpl
def nc_register_model_folders():
    return [str(MODELS)]
