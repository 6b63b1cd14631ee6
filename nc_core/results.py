"""Result curves (public API, see docs/plugin-guide.md): read CompressAI-format results files
(nc's ``results.json`` and published curves) and compare curves by Bjøntegaard deltas."""

from nc_core.runner.report import bd_table, load_results_json

__all__ = ["bd_table", "load_results_json"]
