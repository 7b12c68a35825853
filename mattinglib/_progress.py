"""The library's progress bars: :func:`tqdm.auto.tqdm`, redrawn at most once a second.

In JupyterLab a bar is a widget, and every redraw is a message on the kernel's output
channel. tqdm's default (ten redraws a second) sends thousands of them during a
few-minute training cell; a front-end that reads them late (a notebook run from the
command line, a browser tab in the background) gets them queued, and past the queue's
limit messages are dropped, the cell's end included. Once a second is as readable
and sends a tenth of that.
"""

from __future__ import annotations

from typing import Any

from tqdm.auto import tqdm

#: Seconds between two redraws of a bar (tqdm's own default is 0.1).
MIN_INTERVAL = 1.0


def progress_bar(iterable: Any = None, **options: Any) -> tqdm:
    """A tqdm bar (a widget in a notebook) redrawn at most every :data:`MIN_INTERVAL` s.

    Takes tqdm's arguments; ``mininterval`` may still be given to override the default.

    >>> import io
    >>> bar = progress_bar(range(3), file=io.StringIO())
    >>> bar.mininterval, sum(bar)
    (1.0, 3)
    >>> progress_bar(range(3), file=io.StringIO(), mininterval=0.1).mininterval
    0.1
    """
    options.setdefault("mininterval", MIN_INTERVAL)
    return tqdm(iterable, **options)
