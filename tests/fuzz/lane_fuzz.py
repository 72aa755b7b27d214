"""Fuzz the compiled lane with atheris: arbitrary bytes through the worker's per-chunk loop,
with the lane and without, under AddressSanitizer.

Each input is a file (and the options to read it with, from its first bytes); the two
paths must write the same rows, and the lane's C must touch no byte it does not own.
A difference raises, a memory error aborts: either way libFuzzer keeps the input.

    LOGPIPE_LANE_SO=/path/to/_lane.so LD_PRELOAD=<site-packages>/asan_with_fuzzer.so \\
    ASAN_OPTIONS=detect_leaks=0 PYTHONMALLOC=malloc python tests/fuzz/lane_fuzz.py [libFuzzer flags]

``LOGPIPE_LANE_SO`` names the lane compiled with ``-fsanitize=address`` and linked without
a runtime of its own: it reports to the runtime atheris ships (with libFuzzer in it), which
is preloaded, so that libFuzzer also sees the coverage of the Python path. It takes the
place of the installed lane (``tests/test_lane_fuzz.py`` and ``make fuzz`` build it and run
this). PYTHONMALLOC=malloc hands every allocation to the sanitizer's allocator.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import atheris

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def load_instrumented_lane() -> None:
    """Put the lane built for fuzzing in the place of the installed one, before anything imports it."""
    spec = importlib.util.spec_from_file_location("logpipe.ingest._lane", os.environ["LOGPIPE_LANE_SO"])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)


load_instrumented_lane()
with atheris.instrument_imports(include=["logpipe"]):
    from logpipe.ingest import lane
    from logpipe.parsing.layouts import Column, Layout

    from lane_oracle import assert_same

assert lane._lane is not None and lane._lane.__file__ == os.environ["LOGPIPE_LANE_SO"], "not the fuzzing build"

FORMATS = (None, *lane.FORMATS)
# Layouts a file may be read with: every time family and column shape the lane reads, and
# each separator, so that the lane's layout reader meets arbitrary bytes too.
LAYOUTS = (
    Layout((Column("time", "ymd"), Column("pid", "int"), Column("level", "bracket"), Column("component", "program"))),
    Layout((Column("time", "month_day"), Column("host", "word"), Column("component", "program", optional=True))),
    Layout((Column("time", "day_month", "none", "[]"), Column("level", "angle", "comma"), Column("thread", "paren"))),
    Layout((Column("time", "numeric_year_last"), Column("", "punct", "maybe_space"), Column("level", "word"))),
    Layout((Column("level", "word"), Column("time", "numeric_no_year", "space", " ,"), Column("pid", "bracket"))),
    Layout((Column("time", "epoch"), Column("level", "word"), Column("component", "program"))),
    Layout((Column("time", "ymd_compact", "none"), Column("", "punct", "none"), Column("host", "word"))),
    Layout((Column("time", "letter_mmdd"), Column("pid", "int"), Column("component", "program"))),
    Layout((Column("clock", "clock"), Column("time", "yymmdd_compact", "space", "[]"), Column("level", "word"))),
    Layout((Column("level", "cell", "tab"), Column("time", "ymd", "tab"), Column("component", "program"))),
)


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    options: dict[str, object] = {}
    flags = fdp.ConsumeIntInRange(0, 255)
    if flags & 1:
        options["block"] = fdp.ConsumeIntInRange(1, 512)
    if flags & 2:
        options["batch_rows"] = fdp.ConsumeIntInRange(1, 8)
    if flags & 4:
        options["max_line_bytes"] = fdp.ConsumeIntInRange(1, 300)
    if flags & 8:
        options["format"] = FORMATS[fdp.ConsumeIntInRange(0, len(FORMATS) - 1)]
    if flags & 16:
        options["tz"] = "Europe/Paris"
    if flags & 32:
        options["max_event_lines"] = fdp.ConsumeIntInRange(1, 5)
        options["max_event_bytes"] = fdp.ConsumeIntInRange(1, 400)
    if flags & 64:
        options["layout"] = LAYOUTS[fdp.ConsumeIntInRange(0, len(LAYOUTS) - 1)]
        options.pop("format", None)
    assert_same(fdp.ConsumeBytes(fdp.remaining_bytes()), **options)


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
