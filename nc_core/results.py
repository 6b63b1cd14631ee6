"""Result curves (public API, see docs/plugin-guide.md): read CompressAI-format results files
(nc's ``results.json`` and published curves) and compare curves by Bjøntegaard deltas; video
curves also per sequence."""

from nc_core.runner.report import bd_table, load_results_json, sequence_bd_rows, sequence_curves

__all__ = ["bd_table", "load_results_json", "sequence_bd_rows", "sequence_curves"]
