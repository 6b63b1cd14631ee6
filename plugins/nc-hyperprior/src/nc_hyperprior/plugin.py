"""Entry point ``hyperprior`` of the ``nc`` group."""

from nc_core import hookimpl


@hookimpl
def nc_register_probability_models():
    from nc_hyperprior.models import MODELS

    return MODELS


@hookimpl
def nc_register_transforms():
    from nc_hyperprior.transforms import TRANSFORMS

    return TRANSFORMS


@hookimpl
def nc_register_codecs():
    from nc_hyperprior.codec import CODECS

    return CODECS


@hookimpl
def nc_register_importers():
    from nc_hyperprior.importers import IMPORTERS

    return IMPORTERS
