"""Chapter 8's checkers (the plate question, the band experiment) accept the right answer and
reject wrong ones with the right hint."""

from __future__ import annotations

import pytest

from mattinglib import diagnostics as dg
from mattinglib.exercises import ExerciseError
from mattinglib.exercises import ch08_your_photo as ec


class TestCapstoneCheckers:
    def test_plate_question(self, capsys):
        ec.check_plate_question(" B ")
        assert "Correct" in capsys.readouterr().out
        for wrong in ("a", "c", "d"):
            with pytest.raises(ExerciseError, match="Hint"):
                ec.check_plate_question(wrong)
        with pytest.raises(ExerciseError, match="letters"):
            ec.check_plate_question("e")

    def test_band_experiment(self, capsys):
        def right(image, alpha, mask, bands):
            return dg.sad_by_band(image, alpha, mask, bands)["sad"]

        ec.check_band_experiment(right, "down")
        assert "Correct" in capsys.readouterr().out
        with pytest.raises(ExerciseError, match="went down, not up"):
            ec.check_band_experiment(right, "up")
        with pytest.raises(ExerciseError, match="'up' or 'down'"):
            ec.check_band_experiment(right, "lower")

    def test_band_experiment_recognises_the_own_region_mistake(self):
        def own(image, alpha, mask, bands):
            return dg.sad_by_band(image, alpha, mask, bands)["sad_own"]

        with pytest.raises(ExerciseError, match="own trimap's unknown region"):
            ec.check_band_experiment(own, "down")

    def test_band_experiment_stub(self, capsys):
        def stub(image, alpha, mask, bands):
            raise NotImplementedError("Exercise 2: replace this line with your code")

        assert ec.check_band_experiment(stub, "down") is None
        assert "Not done yet" in capsys.readouterr().out
        assert ec.check_band_experiment(stub, ...) is None  # the untouched prediction too
        assert "PREDICTION" in capsys.readouterr().out

    def test_plate_question_unanswered(self, capsys):
        assert ec.check_plate_question(...) is None
        assert "Not done yet" in capsys.readouterr().out
