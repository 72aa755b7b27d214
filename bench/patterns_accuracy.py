"""Grouping accuracy of the miner on the Loghub-2k systems, as logpai/logparser measures it.

A line counts as correct when the set of lines that share its predicted pattern is exactly
the set of lines that share its ground-truth ``EventId``; GA is correct lines over all
lines (``evaluator.get_accuracy`` in logpai/logparser).

    .venv/bin/python bench/patterns_accuracy.py [LOGHUB_DIR] [--content-from-truth | --both]

reads ``<System>/<System>_2k.log`` (raw lines, parsed as ``logpipe patterns`` parses them)
and ``<System>/<System>_2k.log_structured.csv`` (``LineId``, ``Content``, ``EventId``).
With ``--content-from-truth`` the miner gets the ground truth's ``Content`` column instead
of the parser's message: that measures the miner alone, apart from header parsing.

A development tool: it lives beside the benchmarks, not in the package the functions ship.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from collections import Counter, defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "layers") not in sys.path:  # in case the package is not installed in this Python
    sys.path.append(str(ROOT / "layers"))

from logpipe.patterns import line_patterns, read_lines  # noqa: E402
from logpipe.patterns.miner import DEFAULT_MIN_DISTINCT, mine  # noqa: E402

# The repository's sibling ``shared`` folder holds the Loghub samples (never copied into the repo).
DEFAULT_LOGHUB = ROOT.parent / "shared" / "testdata" / "loghub"


def grouping_accuracy(truth: Sequence[Hashable], predicted: Sequence[Hashable]) -> float:
    """GA of ``predicted`` group labels against ``truth`` labels, line by line (same length)."""
    if len(truth) != len(predicted):
        raise ValueError(f"{len(truth)} ground-truth labels but {len(predicted)} predicted ones")
    if not truth:
        return 1.0
    truth_sizes = Counter(truth)
    members: dict[Hashable, list[int]] = defaultdict(list)
    for i, label in enumerate(predicted):
        members[label].append(i)
    correct = 0
    for lines in members.values():
        labels = {truth[i] for i in lines}
        if len(labels) == 1 and truth_sizes[next(iter(labels))] == len(lines):
            correct += len(lines)
    return correct / len(truth)


@dataclass(frozen=True, slots=True)
class Truth:
    contents: list[str]
    event_ids: list[str]


def systems(loghub_dir: Path) -> list[str]:
    """The systems in ``loghub_dir`` that have both a raw 2k log and its ground truth."""
    return sorted(
        d.name
        for d in loghub_dir.iterdir()
        if (d / f"{d.name}_2k.log").is_file() and (d / f"{d.name}_2k.log_structured.csv").is_file()
    )


def load_truth(loghub_dir: Path, system: str) -> Truth:
    """The ground truth of one system, ordered by ``LineId``."""
    path = loghub_dir / system / f"{system}_2k.log_structured.csv"
    with open(path, newline="", encoding="utf-8") as fh:
        rows = sorted(csv.DictReader(fh), key=lambda r: int(r["LineId"]))
    return Truth([r["Content"] for r in rows], [r["EventId"] for r in rows])


def evaluate_system(
    loghub_dir: Path, system: str, *, content_from_truth: bool = False, min_distinct: int = DEFAULT_MIN_DISTINCT
) -> float:
    """GA of one system, from its raw lines (or from the ground truth's Content column)."""
    truth = load_truth(loghub_dir, system)
    if content_from_truth:
        patterns = mine(truth.contents, min_distinct=min_distinct)
    else:
        lines = list(read_lines(loghub_dir / system / f"{system}_2k.log"))
        if len(lines) != len(truth.event_ids):
            raise ValueError(f"{system}: {len(lines)} raw lines but {len(truth.event_ids)} ground-truth rows")
        patterns = line_patterns(lines, min_distinct=min_distinct)
    return grouping_accuracy(truth.event_ids, [p.id for p in patterns])


def evaluate(
    loghub_dir: Path, *, content_from_truth: bool = False, min_distinct: int = DEFAULT_MIN_DISTINCT
) -> dict[str, float]:
    """GA of every system found in ``loghub_dir``."""
    return {
        s: evaluate_system(loghub_dir, s, content_from_truth=content_from_truth, min_distinct=min_distinct)
        for s in systems(loghub_dir)
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench/patterns_accuracy.py", description=__doc__.split("\n")[0])
    p.add_argument("loghub_dir", nargs="?", type=Path, default=Path(os.environ.get("LOGHUB_DIR", DEFAULT_LOGHUB)))
    p.add_argument("--content-from-truth", action="store_true", help="mine the ground truth's Content column")
    p.add_argument("--both", action="store_true", help="report raw lines and ground-truth content side by side")
    p.add_argument("--min-distinct", type=int, default=DEFAULT_MIN_DISTINCT)
    args = p.parse_args(argv)
    if not args.loghub_dir.is_dir():
        print(f"no Loghub folder at {args.loghub_dir}", file=sys.stderr)
        return 2
    modes = [False, True] if args.both else [args.content_from_truth]
    results = [evaluate(args.loghub_dir, content_from_truth=m, min_distinct=args.min_distinct) for m in modes]
    names = ["content" if m else "raw" for m in modes]
    print(f"{'system':<12}" + "".join(f"{n:>10}" for n in names))
    for system in results[0]:
        print(f"{system:<12}" + "".join(f"{r[system]:>10.3f}" for r in results))
    print(f"{'average':<12}" + "".join(f"{sum(r.values()) / len(r):>10.3f}" for r in results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
