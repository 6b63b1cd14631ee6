"""nc plugin: the ANS (asymmetric numeral systems) entropy coder, ``use: ans``."""

from nc_ans.coder import AnsCoder

__all__ = ["AnsCoder"]
