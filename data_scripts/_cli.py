"""What every data script does around its work: exit codes, messages, Ctrl-C.

A script's ``main`` hands its work to :func:`run_script` with a table of the
errors it expects. Each expected error becomes one message on stderr and an
exit status; an interruption says how to resume (every script here continues
where it stopped) and exits with 130, the shell's code for Ctrl-C; anything
unexpected propagates with its traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping

__all__ = ["run_script", "INTERRUPTED"]

#: Exit status after Ctrl-C (128 + SIGINT), as a shell reports it.
INTERRUPTED = 130


def run_script(work: Callable[[], int | None],
               errors: Mapping[type[BaseException] | tuple[type[BaseException], ...],
                               tuple[int, Callable[[BaseException], str] | None]]) -> int:
    """Run ``work()`` and turn the expected errors into messages and exit statuses.

    Args:
        work: the script's body; returns its exit status (``None`` counts as 0).
        errors: exception type(s) -> ``(status, message)``; ``message(err)`` gives
            the text for stderr, ``None`` prints ``error: <err>``. The first
            matching entry wins.

    Returns:
        The exit status.

    >>> run_script(lambda: 0, {})
    0
    >>> def broken():
    ...     raise ValueError("size: expected a positive int, got -1")
    >>> import contextlib, io
    >>> with contextlib.redirect_stderr(io.StringIO()) as err:
    ...     status = run_script(broken, {ValueError: (1, None)})
    >>> status, err.getvalue()
    (1, 'error: size: expected a positive int, got -1\\n')
    """
    try:
        status = work()
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume", file=sys.stderr)
        return INTERRUPTED
    except Exception as err:  # only the expected ones are handled; the rest propagate
        for types, (status, message) in errors.items():
            if isinstance(err, types):
                print(message(err) if message is not None else f"error: {err}", file=sys.stderr)
                return status
        raise
    return 0 if status is None else int(status)
