"""nc plugin: the range (arithmetic) entropy coder, ``use: range``."""

from nc_arith.coder import RangeCoder

__all__ = ["RangeCoder"]
