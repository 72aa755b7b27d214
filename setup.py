"""The compiled parsing lane (layers/logpipe/ingest/_lane.c); everything else is in pyproject.toml.

The extension is optional: where it cannot be built, the same rows come from the Python path.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "logpipe.ingest._lane",
            ["layers/logpipe/ingest/_lane.c"],
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
            optional=True,
        )
    ]
)
