"""Pattern mining benchmark: our miner next to drain3 on the same lines, in the same run.

Prints figures, asserts nothing about time. The lines are the messages (``Content``) of the
Loghub-2k systems in ``../shared/testdata/loghub``, repeated to ``--lines`` lines in two ways:

- ``fresh values``: every repetition draws new numbers for the digit runs that are values
  (not glued to a letter: ``port 4711``, ``blk_-1608``, ``10.0.3.7``, but not ``ssh2``), as
  a real log's lines do. This is the headline figure.
- ``verbatim``: the same 16,000 strings over and over, so every line is an exact repeat
  (an easy case for any miner that keeps state).

Each miner gets each line once and must end with a template per line:

- ours: ``PatternMiner.add`` per line, then ``finalize`` and each line's final pattern;
- drain3 (``drain3==0.9.11``) bare: ``TemplateMiner().add_log_message`` with the default
  configuration (no masking at all: the least work drain3 can do);
- drain3 masked: the same with the masking and delimiters of drain3's own example
  configuration (``examples/drain3.ini``), which is how drain3 is meant to be run.

It also prints the grouping accuracy of each miner on the 2k systems (one pass, default
settings) and on the generated corpora of ``patterns_synth.py`` (one per kind of error:
variable first word, optional groups, lists, ids inside tokens, short messages, all
mixed), so the speed is read next to what it buys.

    .venv/bin/python bench/patterns_bench.py [--lines 512000] [--seeds 5] [LOGHUB_DIR]
"""

from __future__ import annotations

import argparse
import gc
import logging
import platform
import random
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT / "layers") not in sys.path:  # in case the package is not installed in this Python
    sys.path.append(str(ROOT / "layers"))

from logpipe.patterns import PatternMiner  # noqa: E402

from patterns_accuracy import DEFAULT_LOGHUB, grouping_accuracy, load_truth, systems  # noqa: E402
from patterns_synth import KINDS, corpus  # noqa: E402

VALUE_DIGITS = re.compile(r"(?<![A-Za-z0-9])[0-9]+")

# drain3's examples/drain3.ini, [MASKING] and [DRAIN].
DRAIN3_EXAMPLE_MASKING = (
    (r"((?<=[^A-Za-z0-9])|^)(([0-9a-f]{2,}:){3,}([0-9a-f]{2,}))((?=[^A-Za-z0-9])|$)", "ID"),
    (r"((?<=[^A-Za-z0-9])|^)(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})((?=[^A-Za-z0-9])|$)", "IP"),
    (r"((?<=[^A-Za-z0-9])|^)([0-9a-f]{6,} ?){3,}((?=[^A-Za-z0-9])|$)", "SEQ"),
    (r"((?<=[^A-Za-z0-9])|^)([0-9A-F]{4} ?){4,}((?=[^A-Za-z0-9])|$)", "SEQ"),
    (r"((?<=[^A-Za-z0-9])|^)(0x[a-f0-9A-F]+)((?=[^A-Za-z0-9])|$)", "HEX"),
    (r"((?<=[^A-Za-z0-9])|^)([\-\+]?\d+)((?=[^A-Za-z0-9])|$)", "NUM"),
    (r"(?<=executed cmd )(\".+?\")", "CMD"),
)


def fresh_values(messages: Sequence[str], total: int, seed: int = 7) -> list[str]:
    """``messages`` repeated to ``total`` lines, value digit runs redrawn at each repetition."""
    rnd = random.Random(seed)

    def redraw(m: re.Match[str]) -> str:
        width = len(m.group())
        if rnd.random() < 0.5:
            return str(rnd.randrange(10**width)).zfill(width)
        return str(rnd.randrange(10 ** rnd.randint(1, 9)))

    out = list(messages)
    while len(out) < total:
        out.extend(VALUE_DIGITS.sub(redraw, m) for m in messages)
    return out[:total]


def verbatim(messages: Sequence[str], total: int) -> list[str]:
    return (list(messages) * (total // len(messages) + 1))[:total]


def ours(lines: Sequence[str]) -> list[str]:
    miner = PatternMiner()
    add = miner.add
    shapes = [add(line) for line in lines]
    miner.finalize()
    return [shape.pattern().id for shape in shapes]


def drain3_miner(masked: bool) -> Callable[[Sequence[str]], list[str]]:
    from drain3 import TemplateMiner
    from drain3.masking import MaskingInstruction
    from drain3.template_miner_config import TemplateMinerConfig

    def run(lines: Sequence[str]) -> list[str]:
        config = TemplateMinerConfig()
        if masked:
            config.masking_instructions = [MaskingInstruction(p, w) for p, w in DRAIN3_EXAMPLE_MASKING]
            config.mask_prefix, config.mask_suffix = "<:", ":>"
            config.drain_extra_delimiters = ["_"]
        miner = TemplateMiner(config=config)
        add = miner.add_log_message
        # drain3's cluster ids are final (its templates change, its clusters do not merge).
        return [add(line)["cluster_id"] for line in lines]

    return run


def timed(fn: Callable[[Sequence[str]], list[str]], lines: Sequence[str]) -> float:
    gc.collect()
    start = time.perf_counter()
    fn(lines)
    return len(lines) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("loghub_dir", nargs="?", type=Path, default=DEFAULT_LOGHUB)
    p.add_argument("--lines", type=int, default=512_000)
    p.add_argument("--seeds", type=int, default=5, help="generated corpora per kind (patterns_synth.py)")
    args = p.parse_args(argv)
    logging.disable(logging.WARNING)  # drain3 logs every new cluster at INFO and config notes at WARNING
    if not args.loghub_dir.is_dir():
        print(f"no Loghub folder at {args.loghub_dir}", file=sys.stderr)
        return 2

    names = systems(args.loghub_dir)
    truths = {s: load_truth(args.loghub_dir, s) for s in names}
    messages = [c for s in names for c in truths[s].contents]
    miners: dict[str, Callable[[Sequence[str]], list[str]]] = {
        "ours": ours,
        "drain3 bare": drain3_miner(masked=False),
        "drain3 masked": drain3_miner(masked=True),
    }

    print(f"python {platform.python_version()} on {platform.machine()}, one process; {len(names)} Loghub systems")
    print(f"\ngrouping accuracy, default settings ({', '.join(names)})")
    print(f"{'':<14}" + "".join(f"{s[:9]:>10}" for s in names) + f"{'average':>10}")
    for name, fn in miners.items():
        scores = [grouping_accuracy(truths[s].event_ids, fn(truths[s].contents)) for s in names]
        print(f"{name:<14}" + "".join(f"{v:>10.3f}" for v in scores) + f"{sum(scores) / len(scores):>10.3f}")

    seeds = range(args.seeds)
    print(f"\ngrouping accuracy on generated templates (patterns_synth.py), mean / lowest of {len(seeds)} seeds")
    print(f"{'':<14}" + "".join(f"{k:>13}" for k in KINDS))
    corpora = {k: [corpus(k, seed) for seed in seeds] for k in KINDS}
    for name, fn in miners.items():
        cells = []
        for k in KINDS:
            ga = [grouping_accuracy([t for _, t in rows], fn([m for m, _ in rows])) for rows in corpora[k]]
            cells.append(f"{sum(ga) / len(ga):.3f}/{min(ga):.3f}")
        print(f"{name:<14}" + "".join(f"{c:>13}" for c in cells))

    print(f"\npattern mining, {args.lines:,} lines (lines/s, higher is better)")
    print(f"{'lines':<14}" + "".join(f"{n:>15}" for n in miners) + f"{'vs bare':>10}{'vs masked':>10}")
    for label, lines in (
        ("fresh values", fresh_values(messages, args.lines)),
        ("verbatim", verbatim(messages, args.lines)),
    ):
        rates = {name: timed(fn, lines) for name, fn in miners.items()}
        print(
            f"{label:<14}"
            + "".join(f"{r:>15,.0f}" for r in rates.values())
            + f"{rates['ours'] / rates['drain3 bare']:>9.1f}x{rates['ours'] / rates['drain3 masked']:>9.1f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
