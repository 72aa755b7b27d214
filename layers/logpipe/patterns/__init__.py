"""Message patterns: variable parts masked, templates mined, ids stable across workers.

``PatternMiner`` mines templates from messages as they stream; ``mine`` gives each message
of a batch its final pattern; ``line_patterns`` does it for the lines of a log file, as
``logpipe patterns FILE`` prints them. (``bench/patterns_accuracy.py`` measures grouping
accuracy on Loghub.)
"""

from .files import line_patterns, read_lines
from .masking import WILDCARD, mask
from .miner import Pattern, PatternMiner, mine, pattern_id

__all__ = ["WILDCARD", "Pattern", "PatternMiner", "line_patterns", "mask", "mine", "pattern_id", "read_lines"]
