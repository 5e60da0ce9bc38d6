"""The installed entry point passes a command's own exit code on (typer.Exit inside a
command must not turn into exit 0 under click's non-standalone mode)."""

from __future__ import annotations

import pytest

from kongtian.cli import main


def test_typer_exit_code_reaches_the_shell(capsys: pytest.CaptureFixture[str]) -> None:
    # `sensing water` with no scene ends with typer.Exit(2) after printing one line
    with pytest.raises(SystemExit) as exc:
        main(["sensing", "water", "--out", "unused.tif"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--s2" in err


def test_success_exits_normally() -> None:
    main(["version"])  # returns without SystemExit
