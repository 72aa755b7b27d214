"""From bytes to events: line splitting with bad-byte handling, format detection, time and level."""

from .formats import Parsed, parse_line
from .lines import Lane, Line, LineReader, Run, looks_binary

__all__ = ["Lane", "Line", "LineReader", "Parsed", "Run", "looks_binary", "parse_line"]
