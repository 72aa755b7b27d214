"""From bytes to events: line splitting with bad-byte handling, format detection, time and level."""

from .formats import Parsed, parse_line
from .lines import Line, LineReader, looks_binary

__all__ = ["Line", "LineReader", "Parsed", "looks_binary", "parse_line"]
