"""Progress of any long job (training, evaluating, translating, tokenizing, fitting word2vec): a
redrawn bar on a terminal; elsewhere (a log file, a pipe) plain lines at most every
``PLAIN_EVERY_S`` seconds and at the end, so a log holds lines, not kilobytes of redraws. Every
progress display goes through :func:`progress`."""

from __future__ import annotations

import sys
import time

PLAIN_EVERY_S = 30.0


def on_terminal() -> bool:
    return sys.stderr.isatty()


class PlainProgress:
    """The part of tqdm's interface a loop uses, written as one line per report."""

    def __init__(self, total: int, initial: int = 0, desc: str = "step", every_s: float = PLAIN_EVERY_S,
                 iterable=None, delay: float = 0.0):
        self.total, self.n, self.desc, self.every_s = total, initial, desc, every_s
        self.iterable = iterable
        self.postfix = ""
        self._last = time.monotonic()
        self._quiet_until = self._last + delay  # a job done sooner leaves no line at all

    def __iter__(self):
        for item in self.iterable:
            yield item
            self.update()

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now < self._quiet_until:
            return
        if now - self._last >= self.every_s or self.n >= self.total:
            self._last = now
            print(f"{self.desc} {self.n}/{self.total}{self.postfix}", file=sys.stderr, flush=True)

    def set_postfix(self, **values) -> None:
        self.postfix = "".join(f" | {k} {v}" for k, v in values.items())

    @staticmethod
    def write(line: str) -> None:
        print(line, flush=True)

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def progress(total: int | None, initial: int = 0, enabled: bool = True, desc: str = "step", unit: str = "step", *,
             iterable=None, transient: bool = False, delay: float = 0.0, unit_scale: bool = False):
    """A bar on a terminal, plain lines elsewhere, nothing when not ``enabled``. ``iterable``: the
    bar yields its items, counting each; on a terminal a ``transient`` bar is erased when done,
    and, with ``unit_scale``, counts in k / M; anywhere nothing shows before ``delay`` seconds."""
    from tqdm.auto import tqdm

    if enabled and not on_terminal() and total is not None:
        return PlainProgress(total, initial, desc, iterable=iterable, delay=delay)
    return tqdm(iterable, total=total, initial=initial, disable=not enabled or not on_terminal(), unit=unit,
                dynamic_ncols=True, desc=None if desc == "step" else desc, leave=not transient, delay=delay,
                unit_scale=unit_scale)
