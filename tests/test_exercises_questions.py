"""The question and experiment checkers: right answers pass with the reason, wrong ones fail with it."""

from __future__ import annotations

import pytest

from mattinglib.exercises import questions as q
from tests.exercise_helpers import rejects, reports_not_done


@pytest.mark.parametrize("key", sorted(q.QUESTIONS))
def test_every_question_accepts_its_answer_and_rejects_the_others(key, capsys):
    question = q.QUESTIONS[key]
    q.check_answer(question.answer, key)
    assert capsys.readouterr().out.startswith("Correct")
    if question.options:
        assert set(question.why) == set(question.options), "every option needs its reason"
        for letter in question.options:
            if letter != question.answer:
                rejects(lambda a: q.check_answer(a, key), letter, question.why[letter][:30])
    else:
        for wrong, reason in question.wrong_numbers.items():
            rejects(lambda a: q.check_answer(a, key), wrong, reason[:30])
        rejects(lambda a: q.check_answer(a, key), question.answer + 123.0, question.why["other"][:30])


@pytest.mark.parametrize("key", sorted(q.EXPERIMENTS))
def test_every_experiment_explains_every_outcome(key):
    e = q.EXPERIMENTS[key]
    assert set(e.why) == set(e.options)


def test_not_answered_is_not_done():
    reports_not_done(lambda a: q.check_answer(a, "ch01-unknowns"), ..., "replace the ...")
    reports_not_done(lambda p: q.check_prediction(p, "ch02-resolution", measured=4.0), ..., "prediction")


def test_letters_are_forgiving_about_case_and_brackets(capsys):
    q.check_answer(" (B) ", "ch02-mse-band")
    assert "Correct" in capsys.readouterr().out


def test_an_unknown_letter_or_type_is_an_error_that_lists_the_options():
    rejects(lambda a: q.check_answer(a, "ch02-mse-band"), "e", "(a) it rises")
    rejects(lambda a: q.check_answer(a, "ch02-mse-band"), 2, "letters")
    rejects(lambda a: q.check_answer(a, "ch01-unknowns"), "4", "a number")


def test_prediction_against_the_run(capsys):
    q.check_prediction("c", "ch02-resolution", measured=4.0)
    assert "matches the run" in capsys.readouterr().out
    rejects(lambda p: q.check_prediction(p, "ch02-resolution", measured=4.0), "a",
            "the run shows (c)", "every pixel became four")
    # the outcome follows the measurement, not a stored answer
    q.check_prediction("a", "ch03-grey-backdrop", measured=0.3)
    rejects(lambda p: q.check_prediction(p, "ch03-grey-backdrop", measured=1.6), "a", "the run shows (c)")


def test_bad_key_and_measurement():
    with pytest.raises(ValueError, match="no question"):
        q.check_answer("a", "ch99-nothing")
    with pytest.raises(ValueError, match="measured"):
        q.check_prediction("a", "ch02-resolution", measured=float("nan"))
