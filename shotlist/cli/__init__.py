"""The `shotlist` command: a thin typer layer over the Python API.

Each area of the tool registers its commands from its own module; every module imports only typer
at the top and the heavy parts inside the command, so `shotlist --help` starts fast.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Annotated

# shotlist's models use no pydantic plugin, and looking for them reads the entry points of every
# installed package (50-60 ms of each command in an environment with the SDKs installed). Set before
# typer imports pydantic; a caller's own setting wins. The Python API (`import shotlist`) leaves it alone.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

import typer  # noqa: E402

from shotlist import __version__

app = typer.Typer(
    name="shotlist",
    help="Compile a declarative shot list into an edited video.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

#: Options every command can read: set by the top-level callback.
STATE: dict[str, bool] = {"debug": False, "verbose": False}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"shotlist {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log requests and decisions (never secrets).")
    ] = False,
) -> None:
    STATE["debug"] = debug or bool(os.environ.get("SHOTLIST_DEBUG"))
    STATE["verbose"] = verbose
    if verbose:
        log_to_stderr()


class _Stderr(logging.Handler):
    """Writes to whatever ``sys.stderr`` is when a record comes (a live display may have replaced it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:  # a log line must never break a build
            self.handleError(record)


def log_to_stderr() -> None:
    """``-v``: every request (method, host, path, status, time) and every engine decision, keys hidden."""
    from shotlist.backends.http import RedactingFilter

    logger = logging.getLogger("shotlist")
    if any(isinstance(h, _Stderr) for h in logger.handlers):
        return
    handler = _Stderr()
    handler.setFormatter(logging.Formatter("%(asctime)s.%(msecs)03d %(message)s", "%H:%M:%S"))
    handler.addFilter(RedactingFilter())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def _register() -> None:
    from shotlist.cli import (
        build,
        cache,
        doctor,
        draft,
        export,
        init,
        lock,
        models,
        plan,
        prompts,
        remote,
        render,
        review,
        sheet,
        takes,
        validate,
        watch,
    )

    # In the order a newcomer meets them; `shotlist --help` lists them so.
    for module in (
        init,
        draft,
        validate,
        prompts,
        models,
        plan,
        build,
        takes,
        lock,
        review,
        watch,
        sheet,
        render,
        export,
        cache,
        remote,
        doctor,
    ):
        module.register(app)


_register()


INTERRUPTED = "interrupted: nothing is left half-written, and takes already made are stored and pinned"


def main() -> None:
    """Entry point: run the CLI; a user's mistake prints a message and an exit status, not a traceback."""
    from shotlist.durable import failed_write
    from shotlist.errors import ShotlistError

    try:
        app()
    except ShotlistError as exc:
        if STATE["debug"]:
            raise
        typer.echo(str(exc), err=True)
        sys.exit(exc.exit_code)
    except OSError as exc:  # a full disk, a file another user owns: the file and the reason, no traceback
        if STATE["debug"]:
            raise
        typer.echo(failed_write(exc), err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        typer.echo(INTERRUPTED, err=True)
        sys.exit(130)
    except SystemExit as exc:
        if exc.code == 130:  # typer turns Ctrl-C into a quiet exit 130; say what it left behind
            typer.echo(INTERRUPTED, err=True)
        raise
