"""The checkers of the course's exercises: one module per chapter, named like its notebook.

=======================================  ===========================================
notebook                                 its checkers
=======================================  ===========================================
``01_compositing.ipynb``                 :mod:`mattinglib.exercises.ch01_compositing`
``02_trimaps.ipynb``                     :mod:`mattinglib.exercises.ch02_trimaps`
``03_training_data.ipynb``               :mod:`mattinglib.exercises.ch03_training_data`
``04_mnet.ipynb``                        :mod:`mattinglib.exercises.ch04_mnet`
``05_bgm_generator.ipynb``               :mod:`mattinglib.exercises.ch05_bgm_generator`
``06_bgm_losses.ipynb``                  :mod:`mattinglib.exercises.ch06_bgm_losses`
``07_teacher_student.ipynb``             :mod:`mattinglib.exercises.ch07_teacher_student`
``08_your_photo.ipynb``                  :mod:`mattinglib.exercises.ch08_your_photo`
=======================================  ===========================================

:mod:`~mattinglib.exercises.questions` holds the written questions and the
predict-then-run experiments of chapters 01-07 (``check_answer``,
``check_prediction``, keyed ``"chNN-name"``); :mod:`~mattinglib.exercises._harness`
what every checker shares. Importing this package imports no chapter's
module: a notebook imports its own, ``from mattinglib.exercises import
ch06_bgm_losses, questions``.

>>> issubclass(ExerciseError, AssertionError)
True
"""

from ._harness import ExerciseError, ExerciseNotDone, exercise_check, is_unanswered

__all__ = ["ExerciseError", "ExerciseNotDone", "exercise_check", "is_unanswered"]
