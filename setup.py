"""The compiled parsing lane (layers/logpipe/ingest/_lane.c); everything else is in pyproject.toml.

The extension is optional: where it cannot be built, the same rows come from the Python path.
Before it is compiled, the header it reads its spec through is written from the spec's
schema (layers/logpipe/ingest/lane_spec.py), which needs only the standard library.
"""

import importlib.util
import sys
from pathlib import Path

from setuptools import Extension, setup

LANE = Path(__file__).resolve().parent / "layers" / "logpipe" / "ingest"


def write_lane_header() -> None:
    spec = importlib.util.spec_from_file_location("logpipe_lane_spec", LANE / "lane_spec.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    module.main([])


write_lane_header()
setup(
    ext_modules=[
        Extension(
            "logpipe.ingest._lane",
            ["layers/logpipe/ingest/_lane.c"],
            depends=["layers/logpipe/ingest/_lane_spec.h"],
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
            optional=True,
        )
    ]
)
