"""Configuration: every variable is read in one place, documented in the README's table,
and a malformed value stops the program at start, naming it.

The names are found in the code itself, so that a variable added anywhere without a row
in the README fails here.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from logpipe.config import Settings
from logpipe.errors import ConfigError
from logpipe_local.cli import main as logpipe
from logpipe_local.settings import RunnerSettings

from conftest import ROOT

NAME = re.compile(r"(?:LOGPIPE|PSQL)_[A-Z0-9_]+")
PRODUCT = ("layers", "local", "functions")  # what ships or runs the pipeline
# The one module of each side that reads the environment into settings.
SETTINGS_MODULES = {Path("layers/logpipe/config.py"), Path("local/logpipe_local/settings.py")}
ENV_GETTERS = ("os.environ.get", "os.getenv")


def python_files(*folders: str) -> list[Path]:
    return [p for folder in folders for p in sorted((ROOT / folder).rglob("*.py"))]


def names_in_code() -> dict[str, list[str]]:
    """Every LOGPIPE_*/PSQL_* name that the code or the template mentions, with where."""
    found: dict[str, list[str]] = {}
    for path in python_files(*PRODUCT, "bench"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and NAME.fullmatch(node.value):
                found.setdefault(node.value, []).append(f"{path.relative_to(ROOT)}:{node.lineno}")
    for n, line in enumerate((ROOT / "template.yaml").read_text(encoding="utf-8").splitlines(), start=1):
        for name in re.findall(rf"\b({NAME.pattern}):", line):
            found.setdefault(name, []).append(f"template.yaml:{n}")
    return found


def names_in_readme() -> set[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text.split("| Variable | Default | Meaning |", 1)[1].split("\n\n", 1)[0]
    return {name for row in table.splitlines()[2:] for name in re.findall(r"`([A-Z0-9_]+)`", row.split("|")[1])}


def test_every_variable_the_code_reads_has_a_row_in_the_readme() -> None:
    found = names_in_code()
    assert {"PSQL_ADDR", "LOGPIPE_LOG_LEVEL", "LOGPIPE_PORT", "LOGPIPE_MOTO_PORT"} <= set(found)  # it sees them
    missing = {name: where for name, where in found.items() if name not in names_in_readme()}
    assert not missing, f"add these to the README's configuration table: {missing}"


def test_every_variable_in_the_readme_is_read_by_the_code() -> None:
    stale = {n for n in names_in_readme() if NAME.fullmatch(n)} - set(names_in_code())
    assert not stale, f"the README documents variables that nothing reads: {sorted(stale)}"


def _environ_read(node: ast.AST) -> str | None:
    """The name that ``node`` reads from the environment with a value of its own choosing:
    ``os.environ[NAME]``, ``os.environ.get(NAME, default)``, ``os.getenv(NAME, default)``."""
    if isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
        key = node.slice
    elif isinstance(node, ast.Call) and ast.unparse(node.func) in ENV_GETTERS and len(node.args) > 1:
        key = node.args[0]
    else:
        return None
    return key.value if isinstance(key, ast.Constant) and isinstance(key.value, str) else None


def test_variables_are_read_into_settings_and_nowhere_else() -> None:
    """Outside the settings modules, code may ask whether a variable is set (the runner
    embeds a database when ``PSQL_ADDR`` is not), never read its value with a default of
    its own: that is how one variable came to have two defaults."""
    reads = [
        f"{path.relative_to(ROOT)}:{node.lineno} reads {name}"
        for path in python_files(*PRODUCT)
        if path.relative_to(ROOT) not in SETTINGS_MODULES
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if (name := _environ_read(node)) and NAME.fullmatch(name)
    ]
    assert not reads, reads


@pytest.mark.parametrize(
    ("read", "env", "name"),
    [
        (Settings.from_env, {"LOGPIPE_LOG_LEVEL": "loud"}, "LOGPIPE_LOG_LEVEL"),
        (Settings.from_env, {"LOGPIPE_BATCH_ROWS": "many"}, "LOGPIPE_BATCH_ROWS"),
        (Settings.from_env, {"LOGPIPE_COMPILED_LANE": "maybe"}, "LOGPIPE_COMPILED_LANE"),
        (RunnerSettings.from_env, {"LOGPIPE_PORT": "http"}, "LOGPIPE_PORT"),
        (RunnerSettings.from_env, {"LOGPIPE_PORT": "-1"}, "LOGPIPE_PORT"),
        (RunnerSettings.from_env, {"LOGPIPE_MOTO_PORT": "70000"}, "LOGPIPE_MOTO_PORT"),
    ],
)
def test_a_malformed_setting_fails_naming_its_variable(
    read: Callable[[dict[str, str]], object], env: dict[str, str], name: str
) -> None:
    with pytest.raises(ConfigError, match=name):
        read(env)


def test_log_level_takes_any_case_and_defaults_to_info() -> None:
    assert Settings.from_env({}).log_level == "INFO"
    assert Settings.from_env({"LOGPIPE_LOG_LEVEL": " debug"}).log_level == "DEBUG"


def test_runner_settings_defaults() -> None:
    assert RunnerSettings.from_env({}) == RunnerSettings(Path("data"), 8080, 0)
    assert RunnerSettings.from_env({"LOGPIPE_DATA_DIR": "/srv/lp", "LOGPIPE_PORT": "9000"}).port == 9000


@pytest.mark.parametrize("name", ["LOGPIPE_PORT", "LOGPIPE_LOG_LEVEL", "LOGPIPE_MAX_ATTEMPTS"])
def test_the_command_line_stops_at_start_on_a_malformed_variable(
    name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv(name, "zero")
    assert logpipe(["patterns", str(tmp_path / "absent.log")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("logpipe: error: ") and name in err and "Traceback" not in err
