"""``logpipe invoke`` reports a function that raised as Lambda does: its error shape on
stdout and a non-zero exit, never a Python traceback."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from function_modules import forgotten_after

from logpipe.config import Settings

from conftest import settings_env


def test_a_failing_function_prints_lambdas_error_shape(
    make_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from logpipe_local.cli import main

    for name, value in settings_env(make_settings()).items():
        monkeypatch.setenv(name, value)
    event = tmp_path / "not-an-api-event.json"
    event.write_text(json.dumps({"hello": "world"}), encoding="utf-8")
    with forgotten_after():
        code = main(["--data-dir", str(tmp_path), "invoke", "query-api", "--event", str(event)])
    out, err = capsys.readouterr()
    assert code == 1
    answer = json.loads(out)
    assert set(answer) >= {"errorType", "errorMessage"}
    assert answer["errorType"] and isinstance(answer["errorMessage"], str)
    assert isinstance(answer["stackTrace"], list)
    assert "Traceback (most recent call last)" not in out + err


def test_an_event_that_is_not_json_is_said_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from logpipe_local.cli import main

    event = tmp_path / "broken.json"
    event.write_text("{not json", encoding="utf-8")
    assert main(["--data-dir", str(tmp_path), "invoke", "query-api", "--event", str(event)]) == 2
    assert "the event is not JSON" in capsys.readouterr().err
