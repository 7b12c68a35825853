"""The shared exit-code handling of the data scripts (data_scripts/_cli.py)."""

from __future__ import annotations

import pytest

from data_scripts._cli import INTERRUPTED, run_script


class Broken(Exception):
    pass


def raising(err):
    def work():
        raise err
    return work


def test_success_and_explicit_status():
    assert run_script(lambda: None, {}) == 0
    assert run_script(lambda: 2, {}) == 2


def test_expected_errors_become_messages_and_statuses(capsys):
    errors = {ValueError: (1, None), (KeyError, Broken): (2, lambda e: f"custom: {e}")}
    assert run_script(raising(ValueError("size: bad")), errors) == 1
    assert capsys.readouterr().err == "error: size: bad\n"
    assert run_script(raising(Broken("checksum")), errors) == 2
    assert capsys.readouterr().err == "custom: checksum\n"


def test_interruption_tells_how_to_resume(capsys):
    assert run_script(raising(KeyboardInterrupt()), {ValueError: (1, None)}) == INTERRUPTED == 130
    assert "run the same command again to resume" in capsys.readouterr().err


def test_unexpected_errors_propagate():
    with pytest.raises(RuntimeError, match="bug"):
        run_script(raising(RuntimeError("bug")), {ValueError: (1, None)})
