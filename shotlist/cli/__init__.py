"""The `shotlist` command: a thin typer layer over the Python API.

Each area of the tool registers its commands from its own module, imported only when one of its
commands runs (COMMANDS); every module imports only typer at the top and the heavy parts inside the
command, so a command starts fast.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Iterator, MutableMapping
from typing import Annotated, Any

# shotlist's models use no pydantic plugin, and looking for them reads the entry points of every
# installed package (50-60 ms of each command in an environment with the SDKs installed). Set before
# typer imports pydantic; a caller's own setting wins. The Python API (`import shotlist`) leaves it alone.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

import typer  # noqa: E402
import typer._click as click  # noqa: E402  (typer's own copy of click, whose classes typer builds)
import typer.main  # noqa: E402
from typer.core import TyperGroup  # noqa: E402

from shotlist import __version__

#: Each command and the module under ``shotlist/cli/`` that registers it, in the order a newcomer meets
#: them (`shotlist --help` lists them so). A command's module is imported only when that command runs,
#: so `shotlist build` pays for neither the other seventeen modules nor typer's reading of their
#: signatures (about 25 ms of a no-op build). tests/test_cli_basics.py checks this table against what
#: each module registers.
COMMANDS: dict[str, str] = {
    "init": "init",
    "draft": "draft",
    "revise": "draft",
    "validate": "validate",
    "schema": "validate",
    "prompts": "prompts",
    "lint": "prompts",
    "models": "models",
    "plan": "plan",
    "build": "build",
    "takes": "takes",
    "pick": "takes",
    "lock": "lock",
    "review": "review",
    "watch": "watch",
    "sheet": "sheet",
    "render": "render",
    "export": "export",
    "cache": "cache",
    "push": "remote",
    "pull": "remote",
    "status": "remote",
    "remote": "remote",
    "doctor": "doctor",
}


def commands_of(module: str) -> dict[str, click.Command]:
    """The commands one ``shotlist.cli`` module registers, built by typer from their signatures."""
    own = typer.Typer(rich_markup_mode=None, add_completion=False)
    own.callback()(lambda: None)  # with a callback typer builds a group even for one command
    importlib.import_module(f"shotlist.cli.{module}").register(own)
    group = typer.main.get_command(own)
    assert isinstance(group, TyperGroup)
    return dict(group.commands)


class _Lazy(MutableMapping[str, "click.Command"]):
    """Every command's name at once; a command's module imported when that command is looked up."""

    def __init__(self) -> None:
        self.built: dict[str, click.Command] = {}

    def __getitem__(self, name: str) -> click.Command:
        if name not in self.built and name in COMMANDS:
            self.built.update(commands_of(COMMANDS[name]))
        return self.built[name]

    def __setitem__(self, name: str, command: click.Command) -> None:
        self.built[name] = command

    def __delitem__(self, name: str) -> None:
        del self.built[name]

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys([*COMMANDS, *self.built]))

    def __len__(self) -> int:
        return len(dict.fromkeys([*COMMANDS, *self.built]))


class _Commands(TyperGroup):
    """The top-level group: lists every command (in the table's order), builds one when it is run."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        lazy = _Lazy()
        lazy.update(self.commands)
        self.commands = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)


app = typer.Typer(
    name="shotlist",
    cls=_Commands,
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
