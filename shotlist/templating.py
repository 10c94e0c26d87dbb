"""The Jinja sandbox prompts are rendered in: the loader, the loop budget, the filters, compiled templates kept.

Templates run in Jinja's sandbox with strict undefined. Every ``{% for %}`` is counted against a
budget of loop steps and time, and the output against a size, so a project's template cannot spin
for hours or fill the disk. A project's ``templates/<name>.j2`` overrides a built-in one by name.
This module is imported only when a template must really be rendered (``shotlist.prompt`` keeps the
rendered prompts), so a build that changes nothing never imports Jinja.
"""

from __future__ import annotations

import functools
import io
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
from jinja2.bccache import Bucket
from jinja2.environment import Environment
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment
from jinja2.visitor import NodeTransformer

from shotlist import durable, salvage
from shotlist.prompt import BUILTIN_PACKAGE, FIX, TEMPLATE_NAME, TemplateError
from shotlist.resolve import confine
from shotlist.source import not_a_file

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
    except RecursionError:  # Jinja's parser recurses once per nested block or bracket
        raise TemplateError(_TOO_DEEP.format(name=name), fix="nest fewer blocks and brackets") from None


_TOO_DEEP = "templates/{name}.j2: the template nests too deeply to compile"


def render_document(root: Path, name: str, context: dict[str, Any]) -> tuple[str, str]:
    """A template that is not a shot's prompt (``draft.j2``: the instructions to a language model), from the
    project's ``templates/`` or the built-ins, line breaks kept; (text, the file it came from)."""
    env = environment(root.resolve())
    try:
        template = env.get_template(f"{name}.j2")
    except TemplateNotFound:
        raise TemplateError(f"no template '{name}.j2' in {root / 'templates'} or the built-ins") from None
    except RecursionError:
        raise TemplateError(_TOO_DEEP.format(name=name), fix="nest fewer blocks and brackets") from None
    except Exception as exc:  # the template's mistake, shown at its line
        where = getattr(exc, "lineno", None)
        raise TemplateError(f"{name}.j2{f':{where}' if where else ''}: {exc}") from None
    text = render(template, name, **context)  # the same budget of loop steps, time and output as a prompt
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n", str(template.filename)


def render(template: Template, shot_id: str, **context: Any) -> str:
    """The template's text within the budget of loop steps, time and output; TemplateError naming its line."""
    budget = _Budget(time.thread_time() + MAX_SECONDS)
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
_BUILT = "_shotlist_built"  # the filter every ~ and {% set %} block goes through (see _Sandbox._parse)


@dataclass
class _Budget:
    deadline: (
        float  # in this thread's CPU time: a busy machine (or a server thread holding the GIL) is no spin
    )
    steps: int = 0

    def check(self) -> None:
        if time.thread_time() > self.deadline:
            raise _OverBudget(f"the template ran for over {MAX_SECONDS:g} s", _LOOPS)

    def step(self) -> None:
        """One loop step or call (a macro calling itself twice spins without a loop)."""
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise _OverBudget(f"the template's loops and calls ran more than {MAX_STEPS:,} steps", _LOOPS)
        self.check()


_BUDGET: ContextVar[_Budget | None] = ContextVar("template_budget", default=None)


def _guarded(iterable: Any) -> Iterator[Any]:
    """A template loop's items, counted against the render's budget."""
    budget = _BUDGET.get()
    for item in iterable:
        if budget is not None:
            budget.step()
        yield item


_LOOPS = "loop over the shot's own lists (motion, still, characters), not over large ranges"


class _OverBudget(SecurityError):
    """A template did what a prompt template may not (past its budget, words that change on every render);
    says what to do instead."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.fix = fix


#: The most characters (or items) one filter, call or operator may build: ten prompts' worth. Anything
#: that could build more (``'x'|center(10**9)``, a string doubled in a loop) is refused before it is built,
#: so a template cannot fill the memory before the output limit sees it; numbers are kept as short.
MAX_BUILT = 10 * MAX_OUTPUT
_MAX_BITS = 4_000
_SIZES = "a prompt is a few hundred words: build it from the shot's fields, not from huge widths or repeats"
_DICE = (
    "write the words themselves: a different prompt on every render is a new shot, paid for on every build"
)
_WIDTHS = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\d*)(?:\.(\d*))?|\{[^{}:]*:[^{}\d]*(\d*)(?:\.(\d*))?")


def _length(value: Any) -> int:
    """Characters or items in a value, a list's strings counted in (a join writes them all)."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, (list, tuple, range)):
        return len(value) + sum(len(v) for v in value if isinstance(v, str))
    return len(value) if isinstance(value, dict) else 0


def _built(value: Any, what: str = "an expression") -> Any:
    """``value``, if it is no longer than MAX_BUILT."""
    if _length(value) > MAX_BUILT:
        raise _OverBudget(f"{what} built more than {MAX_BUILT:,} characters", _SIZES)
    return value


def _may_build(what: str, values: list[Any]) -> None:
    """Refuse a call whose inputs could make it build more than MAX_BUILT: a text and a width, a count, or
    another text that multiplies it (a replace, a join's separator)."""
    texts = sorted(
        (_length(v) for v in values if isinstance(v, (str, list, tuple, range, dict))), reverse=True
    )
    if not texts:
        return  # numbers alone (range is bounded by the sandbox; a number's text is short)
    counts = [abs(v) for v in values if isinstance(v, int) and not isinstance(v, bool)]
    if max(texts[0], 1) * max([*counts, *texts[1:2], 1]) > MAX_BUILT:
        raise _OverBudget(f"{what} would build more than {MAX_BUILT:,} characters", _SIZES)


def _may_format(what: str, form: Any, values: list[Any]) -> None:
    """Refuse a %- or {}-format whose widths (written in it, or given with *) would build too much."""
    if not isinstance(form, str):
        return
    widths = [int(w) for m in _WIDTHS.finditer(form) for w in m.groups() if w]
    if "*" in form:
        widths += [abs(v) for v in values if isinstance(v, int) and not isinstance(v, bool)]
    if max(widths, default=0) > MAX_OUTPUT:
        raise _OverBudget(f"{what} has a width over {MAX_OUTPUT:,} characters", _SIZES)


def _sized(value: Any) -> Any:
    """An iterator as a list, so its length is known (the sandbox's range, and so any map over it, is short)."""
    return list(value) if isinstance(value, Iterator) else value


def _checked_filter(name: str, f: Callable[..., Any]) -> Callable[..., Any]:
    """A filter whose inputs and result are held to MAX_BUILT (``wraps`` keeps Jinja's pass_* marks)."""

    @functools.wraps(f)
    def checked(*args: Any, **kwargs: Any) -> Any:
        args = tuple(_sized(a) for a in args)
        values = [*args, *kwargs.values()]
        if name == "format":
            _may_format("the format filter", args[0] if args else None, values[1:])
        else:
            _may_build(f"the {name} filter", values)
        return _built(f(*args, **kwargs), f"the {name} filter")

    return checked


def _refused(what: str) -> Callable[..., Any]:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise _OverBudget(f"{what} writes a different prompt on every render", _DICE)

    return refuse


class _Sandbox(SandboxedEnvironment):
    """Jinja's sandbox, plus: every loop and call counted (``_guarded``, ``call``) so a template cannot spin
    for ever, and what an operator, filter or call builds held to MAX_BUILT and numbers to _MAX_BITS, so it
    cannot fill the memory."""

    intercepted_binops = frozenset(["*", "**", "+", "%"])

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Call(
                nodes.Name(_GUARD, "load"), [loop.iter], [], None, None, lineno=loop.lineno
            )
        for block in tree.find_all(nodes.AssignBlock):  # {% set x %}…{% endset %}: its text, checked
            block.filter = nodes.Filter(block.filter, _BUILT, [], [], None, None, lineno=block.lineno)
        return _ConcatChecked().visit(tree)  # type: ignore[no-any-return]

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(left, int) and isinstance(right, int):
            if right > 64 or left.bit_length() * right > _MAX_BITS:
                raise _OverBudget(f"a template may not compute numbers over {_MAX_BITS:,} bits", _SIZES)
        if operator == "*":
            if isinstance(left, int) and isinstance(right, int):
                if left.bit_length() + right.bit_length() > _MAX_BITS:
                    raise _OverBudget(f"a template may not compute numbers over {_MAX_BITS:,} bits", _SIZES)
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and len(seq) * n > _MAX_REPEAT:
                    raise SecurityError(f"a template may not build sequences longer than {_MAX_REPEAT}")
        if operator == "%" and isinstance(left, str):
            _may_format("a %-format", left, list(right) if isinstance(right, tuple) else [right])
        return _built(super().call_binop(context, operator, left, right), f"'{operator}'")

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        budget = _BUDGET.get()
        if budget is not None:
            budget.step()
        args = tuple(_sized(a) for a in args)
        bound = getattr(__obj, "__self__", None)
        what = f"{getattr(__obj, '__name__', None) or getattr(__obj, 'name', None) or 'a call'}()"
        _may_build(
            what, [*([bound] if isinstance(bound, (str, list, tuple)) else []), *args, *kwargs.values()]
        )
        return _built(super().call(__context, __obj, *args, **kwargs), what)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is not None:
            _may_format("a {}-format", value.__self__, [])
        return wrapped


class _ConcatChecked(NodeTransformer):
    """Every ``a ~ b`` checked against MAX_BUILT (a string doubled in a loop)."""

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        inner = self.generic_visit(node)
        return nodes.Filter(inner, _BUILT, [], [], None, None, lineno=node.lineno)


class _Loader(BaseLoader):
    """The project's ``templates/`` first (confined to the project), then the built-in dialects."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def get_source(self, environment: Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        stem = template.removesuffix(".j2")
        if not TEMPLATE_NAME.match(stem):
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
            return _read(path, rel), rel, lambda: path.stat().st_mtime == mtime
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


def _read(path: Path, rel: str) -> str:
    """A project template's text; TemplateError naming the line of a byte that is not UTF-8."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise TemplateError(
            f"{rel}: cannot read it: {exc.strerror or exc}", fix=f"make {rel} readable"
        ) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise TemplateError(
            f"{rel}:{line}: byte 0x{raw[exc.start]:02x} is not UTF-8", fix=f"save {rel} as UTF-8"
        ) from None


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
    env.filters["random"] = _refused("random")
    env.filters = {name: _checked_filter(name, f) for name, f in env.filters.items()}
    env.filters[_BUILT] = _built
    env.globals.update({_GUARD: _guarded, "lipsum": _refused("lipsum")})
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
    return _SealedBytecodeCache(str(folder))


class _SealedBytecodeCache(FileSystemBytecodeCache):
    """Jinja's compiled templates, each file sealed with the sha256 of its code: marshal trusts what it
    reads, so a flipped byte ran as other code (a crash, an ImportError, an error blamed on a built-in
    template). A file whose seal does not match is discarded with a note and compiled again."""

    def load_bytecode(self, bucket: Bucket) -> None:
        path = Path(self._get_cache_filename(bucket))
        body = salvage.read_cache(path, _unsealed, "a compiled template")
        if body is not None:
            bucket.load_bytecode(io.BytesIO(body))

    def dump_bytecode(self, bucket: Bucket) -> None:
        out = io.BytesIO()
        bucket.write_bytecode(out)
        body = out.getvalue()
        try:
            durable.write_bytes(Path(self._get_cache_filename(bucket)), _seal(body) + body, sync=False)
        except OSError:
            pass  # a lost compiled template only costs compiling it again


def _seal(body: bytes) -> bytes:
    import hashlib

    return hashlib.sha256(body).digest()


def _unsealed(raw: bytes) -> bytes:
    """A sealed file's code; ValueError when it is not what was written."""
    if _seal(raw[32:]) != raw[:32]:
        raise ValueError("its seal does not match its bytes")
    return raw[32:]


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
