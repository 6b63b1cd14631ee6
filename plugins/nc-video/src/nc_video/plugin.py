"""Entry point ``video`` of the ``nc`` group."""

from nc_core import hookimpl


@hookimpl
def nc_register_datasets():
    from nc_video.datasets import DATASETS

    return DATASETS


@hookimpl
def nc_register_codecs():
    from nc_video.codec import CODECS

    return CODECS
