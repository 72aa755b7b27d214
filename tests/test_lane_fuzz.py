"""The lane against the Python path on files generated from the parser's grammars, and the
lane's C under AddressSanitizer on arbitrary bytes.

``make test`` runs a short, fixed sample of each; ``make fuzz`` a long, fresh one
(LOGPIPE_FUZZ_SCALE many times the examples, LOGPIPE_FUZZ_SECONDS of atheris).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from hypothesis import given

from logpipe.ingest import lane as lane_module

from lane_oracle import assert_same
from log_grammar import FUZZ_SCALE, documents, examples, options, probe_lines

HERE = Path(__file__).resolve().parent
LANE_C = HERE.parent / "layers" / "logpipe" / "ingest" / "_lane.c"
CORPUS = HERE / "fuzz" / "corpus"


def test_generated_files_give_the_same_rows_both_ways() -> None:
    taken = {"lines": 0, "files": 0}

    @examples(150)
    @given(documents(), options)
    def same(data: bytes, chosen: dict[str, object]) -> None:
        compiled = assert_same(data, **chosen)
        taken["lines"] += compiled.lane_rows
        taken["files"] += 1

    same()
    # The comparison is worth something only where the lane took lines.
    assert taken["lines"] > 100 * FUZZ_SCALE, taken


def test_every_word_and_key_the_parser_lists_gives_the_same_rows_both_ways() -> None:
    # Generated examples may miss one word of a long list; these probe every one, each
    # between lines the lane takes, so that a copy kept by hand fails here at once.
    before = "2026-11-27T10:00:00Z INFO [main] before"
    probes = probe_lines()
    taken = 0
    for k in range(0, len(probes), 20):
        lines = [line for probe in probes[k : k + 20] for line in (before, probe, probe)]
        taken += assert_same(("\n".join([*lines, before, before]) + "\n").encode()).lane_rows
    assert taken > len(probes), taken


def _asan_runtime() -> Path | None:
    """AddressSanitizer's runtime with libFuzzer in it, as atheris ships it: the lane's C,
    compiled for the sanitizer without a runtime of its own, reports to it, and libFuzzer
    sees the Python path's coverage (gcc's runtime would take its coverage hooks)."""
    try:
        import atheris
    except ImportError:
        return None
    runtime = Path(atheris.path()) / "asan_with_fuzzer.so"
    return runtime if runtime.exists() and shutil.which("gcc") else None


def build_asan_lane(into: Path) -> Path:
    """``_lane.c`` compiled for AddressSanitizer and UndefinedBehaviorSanitizer, into ``into``."""
    obj, so = into / "_lane.o", into / f"_lane{sysconfig.get_config_var('EXT_SUFFIX')}"
    subprocess.run(
        ["gcc", "-c", "-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=undefined",
         "-fno-omit-frame-pointer", "-fPIC", f"-I{sysconfig.get_paths()['include']}", str(LANE_C), "-o", str(obj)],
        check=True,
    )  # fmt: skip
    subprocess.run(["gcc", "-shared", str(obj), "-lubsan", "-o", str(so)], check=True)
    return so


def run_atheris(workdir: Path, *libfuzzer_flags: str) -> subprocess.CompletedProcess[str]:
    """The atheris target over the seed corpus (and what it finds, in ``workdir``)."""
    runtime = _asan_runtime()
    assert runtime is not None
    so = build_asan_lane(workdir)
    found = workdir / "corpus"
    found.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "LOGPIPE_LANE_SO": str(so),
        "LD_PRELOAD": str(runtime),
        "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=1:allocator_may_return_null=1",
        "UBSAN_OPTIONS": "print_stacktrace=1",
        "PYTHONMALLOC": "malloc",
    }
    return subprocess.run(
        [sys.executable, str(HERE / "fuzz" / "lane_fuzz.py"), *libfuzzer_flags, f"-artifact_prefix={workdir}/",
         "-max_len=4096", str(found), str(CORPUS)],
        env=env, capture_output=True, text=True, cwd=workdir,
    )  # fmt: skip


@pytest.mark.skipif(_asan_runtime() is None, reason="no gcc, or no atheris with its sanitizer runtime, here")
@pytest.mark.skipif(not lane_module.available(), reason="the compiled lane is not built")
def test_the_lane_under_address_sanitizer_on_arbitrary_bytes(tmp_path: Path) -> None:
    workdir = Path(os.environ.get("LOGPIPE_FUZZ_DIR") or tmp_path)  # make fuzz keeps what it finds
    workdir.mkdir(exist_ok=True)
    seconds = int(os.environ.get("LOGPIPE_FUZZ_SECONDS", "20"))
    flags = ["-seed=1", "-runs=600", f"-max_total_time={seconds}"] if seconds <= 20 else [f"-max_total_time={seconds}"]
    done = run_atheris(workdir, *flags)
    tail = "\n".join((done.stdout + done.stderr).splitlines()[-60:])
    assert done.returncode == 0, tail
    assert "Done" in done.stderr and "AddressSanitizer" not in done.stderr, tail
    print(tail)
