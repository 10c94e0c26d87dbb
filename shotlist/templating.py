"""The Jinja sandbox prompts are rendered in: the loader, the loop budget, the filters, compiled templates kept.

Templates run in Jinja's sandbox with strict undefined. Every ``{% for %}`` is counted against a
budget of loop steps and time, and the output against a size, so a project's template cannot spin
for hours or fill the disk. A project's ``templates/<name>.j2`` overrides a built-in one by name.
This module is imported only when a template must really be rendered (``shotlist.prompt`` keeps the
rendered prompts), so a build that changes nothing never imports Jinja.
"""

from __future__ import annotations

import re
import time
import traceback
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import BaseLoader, FileSystemBytecodeCache, StrictUndefined, Template, TemplateNotFound, nodes
from jinja2 import TemplateError as JinjaTemplateError
from jinja2.environment import Environment
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from shotlist.prompt import BUILTIN_PACKAGE, FIX, TemplateError
from shotlist.resolve import confine
from shotlist.source import not_a_file

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$")  # '_macros': a partial, never a dialect
_MAX_REPEAT = 10_000  # sandbox: the longest string or list a template may build with * or **


def template(root: Path, name: str) -> Template | None:
    """The template ``name`` (without .j2) from the project's ``templates/`` or the built-ins; None if there is
    none; TemplateError for one that does not compile, at its line."""
    try:
        return environment(root.resolve()).get_template(f"{name}.j2")
    except TemplateNotFound:
        return None
    except JinjaTemplateError as exc:
        raise TemplateError(located(exc)) from None


def render_document(root: Path, name: str, context: dict[str, Any]) -> tuple[str, str]:
    """A template that is not a shot's prompt (``draft.j2``: the instructions to a language model), from the
    project's ``templates/`` or the built-ins, line breaks kept; (text, the file it came from)."""
    env = environment(root.resolve())
    try:
        template = env.get_template(f"{name}.j2")
    except TemplateNotFound:
        raise TemplateError(f"no template '{name}.j2' in {root / 'templates'} or the built-ins") from None
    except Exception as exc:  # the template's mistake, shown at its line
        where = getattr(exc, "lineno", None)
        raise TemplateError(f"{name}.j2{f':{where}' if where else ''}: {exc}") from None
    text = render(template, name, **context)  # the same budget of loop steps, time and output as a prompt
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n", str(template.filename)


def render(template: Template, shot_id: str, **context: Any) -> str:
    """The template's text within the budget of loop steps, time and output; TemplateError naming its line."""
    budget = _Budget(time.monotonic() + MAX_SECONDS)
    token = _BUDGET.set(budget)
    out: list[str] = []
    size = 0
    try:
        for chunk in template.generate(**context):
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise _OverBudget(
                    f"the template wrote more than {MAX_OUTPUT:,} characters",
                    "a prompt is a few hundred words: write each part of the shot once",
                )
            budget.check()
            out.append(chunk)
    except Exception as exc:  # anything a template does wrong is the template's error, shown at its line
        fix = exc.fix if isinstance(exc, _OverBudget) else FIX
        raise TemplateError(located(exc, str(template.filename)), shot_id, fix) from None
    finally:
        _BUDGET.reset(token)
    return "".join(out)


def _sentence(value: Any) -> str:
    """Capitalised, ending in a full stop (an empty value stays empty)."""
    if value is None:
        return ""
    text = re.sub(r"\s+", " ", str(value)).strip().rstrip(",;:")
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text[-1] in '.!?…"' else text + "."


def _lcfirst(value: Any) -> str:
    """Lower-case a leading article ('A mask' → 'a mask') so a phrase can continue a sentence; names stay."""
    text = str(value).strip()
    first = text.split(" ", 1)[0].lower() if text else ""
    return text[0].lower() + text[1:] if first in _ARTICLES else text


_ARTICLES = {"a", "an", "the", "this", "that", "two", "three", "some"}
_PREPOSITIONS = {
    "in",
    "on",
    "at",
    "inside",
    "outside",
    "under",
    "over",
    "near",
    "by",
    "beside",
    "across",
    "along",
    "through",
    "above",
    "below",
    "within",
    "amid",
    "among",
    "against",
    "into",
    "onto",
    "behind",
    "before",
    "beneath",
    "around",
    "between",
    "from",
    "during",
}


def _place(value: Any) -> str:
    """A scene as a place phrase: 'a misty forest' → 'in a misty forest'; 'on a roof' stays."""
    text = str(value).strip()
    first = text.split(" ", 1)[0].lower() if text else ""
    if not text or first in _PREPOSITIONS:
        return text
    return "in " + text[0].lower() + text[1:] if first in _ARTICLES else "in " + text


_FILTERS: dict[str, Callable[..., str]] = {"sentence": _sentence, "lcfirst": _lcfirst, "place": _place}

#: A prompt template's budget: loop steps, seconds and characters written. A prompt is a few hundred
#: characters from loops over a shot's short lists; nested loops over big ranges would spin for hours.
MAX_STEPS = 10_000
MAX_SECONDS = 2.0
MAX_OUTPUT = 100_000
_GUARD = "_shotlist_loop"  # what every {% for %} iterates through (see _Sandbox._parse)


@dataclass
class _Budget:
    deadline: float
    steps: int = 0

    def check(self) -> None:
        if time.monotonic() > self.deadline:
            raise _OverBudget(f"the template ran for over {MAX_SECONDS:g} s", _LOOPS)


_BUDGET: ContextVar[_Budget | None] = ContextVar("template_budget", default=None)


def _guarded(iterable: Any) -> Iterator[Any]:
    """A template loop's items, counted against the render's budget."""
    budget = _BUDGET.get()
    for item in iterable:
        if budget is not None:
            budget.steps += 1
            if budget.steps > MAX_STEPS:
                raise _OverBudget(f"the template's loops ran more than {MAX_STEPS:,} steps", _LOOPS)
            if budget.steps % 1000 == 0:
                budget.check()
        yield item


_LOOPS = "loop over the shot's own lists (motion, still, characters), not over large ranges"


class _OverBudget(SecurityError):
    """A template went past its budget of loop steps, time or output; says what to do instead."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.fix = fix


class _Sandbox(SandboxedEnvironment):
    """Jinja's sandbox, plus a cap on ``*`` and ``**`` so a template cannot build a huge string, and every
    loop counted (``_guarded``) so it cannot spin for ever."""

    intercepted_binops = frozenset(["*", "**"])

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Call(
                nodes.Name(_GUARD, "load"), [loop.iter], [], None, None, lineno=loop.lineno
            )
        return tree

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int) and abs(right) > 64:
            raise SecurityError("exponent too large in a template")
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and len(seq) * n > _MAX_REPEAT:
                    raise SecurityError(f"a template may not build sequences longer than {_MAX_REPEAT}")
        return super().call_binop(context, operator, left, right)


class _Loader(BaseLoader):
    """The project's ``templates/`` first (confined to the project), then the built-in dialects."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def get_source(self, environment: Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        stem = template.removesuffix(".j2")
        if not _NAME.match(stem):
            raise TemplateNotFound(template)
        rel = f"templates/{stem}.j2"
        path, why = confine(self.root, rel)
        if why is not None:
            raise TemplateError(f"{rel}: {why}", fix="keep templates inside the project's templates/ folder")
        kind = None if path is None else not_a_file(path)
        if kind is not None:  # reading a FIFO would wait for ever
            raise TemplateError(f"{rel}: this is {kind}, not a template file", fix=f"make {rel} a text file")
        if path is not None and path.is_file():
            mtime = path.stat().st_mtime
            return path.read_text(encoding="utf-8"), rel, lambda: path.stat().st_mtime == mtime
        builtin = resources.files(BUILTIN_PACKAGE).joinpath(f"{stem}.j2")
        if builtin.is_file():
            # stale as soon as the project adds its own template of that name
            local = self.root / rel
            return (
                builtin.read_text(encoding="utf-8"),
                f"shotlist/templates/{stem}.j2",
                lambda: not local.exists(),
            )
        raise TemplateNotFound(template)


@cache
def environment(root: Path) -> _Sandbox:
    env = _Sandbox(
        loader=_Loader(root),
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
        auto_reload=True,
        bytecode_cache=_bytecode_cache(root),
    )
    env.filters.update(_FILTERS)
    env.globals[_GUARD] = _guarded
    return env


def _bytecode_cache(root: Path) -> FileSystemBytecodeCache | None:
    """Compiled templates kept in the project's store, so a command does not compile them again (most of
    rendering a hundred prompts). Jinja checks each against its template's source; the folder is named
    for this module's own code and Jinja's version, since the sandbox's loop guard is compiled in. None
    (compile every time) for a project that was never built: loading one writes nothing into it."""
    import hashlib

    import jinja2

    store = root / ".shotlist"
    if not store.is_dir():
        return None
    recipe = hashlib.sha256(Path(__file__).read_bytes() + jinja2.__version__.encode()).hexdigest()[:16]
    folder = store / "templates" / recipe
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None  # a read-only project compiles as before
    return FileSystemBytecodeCache(str(folder))


def located(exc: BaseException, template: str | None = None) -> str:
    """'templates/x.j2:3: what went wrong' from a Jinja error or a traceback through ``template``."""
    where = None
    lineno = getattr(exc, "lineno", None)
    filename = getattr(exc, "filename", None) or getattr(exc, "name", None)
    if lineno and filename:
        where = f"{filename}:{lineno}"
    else:
        # Jinja rewrites tracebacks so that template frames carry the template's file name and line
        for frame in reversed(traceback.extract_tb(exc.__traceback__)):
            if frame.filename.endswith(".j2"):
                where = f"{frame.filename}:{frame.lineno}"
                break
    if isinstance(exc, TemplateNotFound):
        message = f"no template '{exc.name}' to import or include"
    else:
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return f"{where or template or 'template'}: {message}"
