"""Pipelines: YAML files naming registered components, validated before any work starts.

``load_pipeline`` reads a file safely (tracking line/column of every key), applies ``--set``
overrides, validates everything against :data:`schema.PIPELINE` and the constructors of the
named components (looked up in the plugin registry, never imported by path), fills defaults and
expands sweeps. Every problem is reported at once as ``FILE:LINE:COL: key.path: message``.
"""

from nc_core.pipeline.build import build
from nc_core.pipeline.problems import Loc, PipelineError, Problem
from nc_core.pipeline.resolve import Pipeline, apply_overrides, load_pipeline, parse_pipeline
from nc_core.pipeline.validate import validate
from nc_core.pipeline.yamlload import Document, LineLoader, read_yaml

__all__ = [
    "Document",
    "LineLoader",
    "Loc",
    "Pipeline",
    "PipelineError",
    "Problem",
    "apply_overrides",
    "build",
    "load_pipeline",
    "parse_pipeline",
    "read_yaml",
    "validate",
]
