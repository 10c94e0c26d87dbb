"""Run the `shotlist` entry point in-process, as a user's shell would, under a deadline."""

from __future__ import annotations

import functools
import io
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from types import FrameType
from unittest import mock

import typer.main

from shotlist.cli import main

# typer rebuilds its click command tree on every call (most of a quick command's time); build it once.
_COMMAND = functools.cache(typer.main.get_command)


class Hang(BaseException):
    """A command ran past its deadline (BaseException: no `except Exception` in shotlist swallows it)."""


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raise Hang in the main thread if the block runs longer than ``seconds`` (also out of a blocking open)."""

    def expire(signum: int, frame: FrameType | None) -> None:
        raise Hang(f"still running after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_shotlist(*args: str, timeout: float = 120) -> tuple[int, str, str]:
    """Run `shotlist ARGS` in-process: (exit status, stdout, stderr), as a user sees them."""
    out, err = io.StringIO(), io.StringIO()
    with (
        redirect_stdout(out),
        redirect_stderr(err),
        mock.patch.object(sys, "argv", ["shotlist", *args]),
        mock.patch.dict(os.environ, {"SHOTLIST_DEBUG": ""}),
        mock.patch.object(typer.main, "get_command", _COMMAND),
        deadline(timeout),
    ):
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
    return code, out.getvalue(), err.getvalue()
