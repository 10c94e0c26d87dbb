"""Render a shot's prompt from a Jinja template in the dialect of the model family it targets.

The built-in dialects live in the top-level ``templates/`` folder, shipped as ``shotlist.templates``;
a project's own ``templates/<name>.j2`` overrides one by name. Templates run in Jinja's sandbox with
strict undefined, and see plain data (strings, lists, dicts) prepared here, never the project's
objects. The output is whitespace-collapsed so the same shot always gives byte-identical text.
"""

from __future__ import annotations

import dataclasses
import json
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

from jinja2 import BaseLoader, StrictUndefined, Template, TemplateNotFound, nodes
from jinja2 import TemplateError as JinjaTemplateError
from jinja2.environment import Environment
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from shotlist.errors import Problem, ShotlistError, did_you_mean
from shotlist.load import Project
from shotlist.resolve import ResolvedShot, confine, from_defaults, shots_named
from shotlist.source import not_a_file

DEFAULT_DIALECT = "generic"
BUILTIN_PACKAGE = "shotlist.templates"
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$")  # '_macros': a partial, never a dialect
_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")
_MAX_REPEAT = 10_000  # sandbox: the longest string or list a template may build with * or **


FIX = "fix the template at that line"


class TemplateError(ShotlistError):
    """A prompt template is missing, invalid or failed; the message names the file and line, and the shot."""

    exit_code = 2

    def __init__(self, what: str, shot: str | None = None, fix: str = FIX) -> None:
        text = f"{what} (rendering shot '{shot}')" if shot else what
        super().__init__(text if fix == FIX else f"{text}\n  fix: {fix}")
        self.what = what  # the message without the shot: the same for every shot a broken template fails
        self.shot = shot
        self.fix = fix


@dataclass(frozen=True)
class Dialect:
    """What one model family's prompts look like: word bands, the character limit, a negative field."""

    name: str
    words: tuple[int, int]  # txt2vid and ref2vid
    img2vid_words: tuple[int, int]  # img2vid prompts describe motion only, so they run shorter
    max_chars: int
    negative: bool  # the model takes a separate negative prompt
    source: str

    def band(self, mode: str) -> tuple[int, int]:
        """The word band for a shot of this mode."""
        return self.img2vid_words if mode == "img2vid" else self.words


@dataclass(frozen=True)
class RenderedPrompt:
    """The text one shot sends to its model, and how it was made."""

    shot: str
    text: str
    negative: str | None
    dialect: str
    template: str  # the file it came from ('templates/noir.j2', 'shotlist/templates/veo.j2') or 'prompt:'
    words: int
    chars: int
    max_chars: int  # the most this prompt may have: the dialect's limit, or the model's when smaller

    @property
    def bypassed(self) -> bool:
        """True when the shot's own ``prompt:`` was used as is."""
        return self.template == "prompt:"


@cache
def dialects() -> dict[str, Dialect]:
    """The built-in dialects and their limits, from ``templates/dialects.json``."""
    raw = json.loads(resources.files(BUILTIN_PACKAGE).joinpath("dialects.json").read_text(encoding="utf-8"))
    return {
        name: Dialect(
            name=name,
            words=(d["words"][0], d["words"][1]),
            img2vid_words=(d["img2vid_words"][0], d["img2vid_words"][1]),
            max_chars=int(d["max_chars"]),
            negative=bool(d["negative"]),
            source=str(d["source"]),
        )
        for name, d in raw.items()
        if not name.startswith("_")
    }


# Checked in order: 'gen4' must win over nothing, 'ray' only as a whole token (it hides in 'gray', 'array').
_FAMILIES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("seedance", re.compile(r"seedance|dreamina|doubao")),
    ("veo", re.compile(r"\bveo")),
    ("kling", re.compile(r"kling")),
    ("runway", re.compile(r"runway|gen-?4|gen-?3")),
    ("luma", re.compile(r"luma|(?:^|[^a-z])ray(?:$|[^a-z])")),
    ("minimax", re.compile(r"minimax|hailuo|video-01|[ti]2v-01")),
    ("wan", re.compile(r"(?:^|[^a-z])wan(?:$|[^a-z])|wan\d")),
)


def _catalog_entry(model_id: str) -> Any:
    """The model's catalog entry, or None for a model the catalog does not list."""
    from shotlist.catalog import catalog

    return catalog().get(model_id)


def dialect_for_model(model_id: str) -> str:
    """The prompt dialect of a model: the catalog's word for it, else guessed from the id, else 'generic'."""
    entry = _catalog_entry(model_id)
    if entry is not None and entry.dialect in dialects():
        return str(entry.dialect)
    lowered = model_id.lower()
    for name, pattern in _FAMILIES:
        if pattern.search(lowered):
            return name
    return DEFAULT_DIALECT


def word_count(text: str) -> int:
    """Words as a prompt guide counts them: runs of letters or digits, with inner ' or - kept."""
    return len(_WORD.findall(text))


def collapse(text: str) -> str:
    """One line, single spaces, no space before punctuation: templates can be laid out freely."""
    text = re.sub(r"\s+", " ", text).strip()
    return re.sub(r" +([.,;:!?])", r"\1", text)


def render_prompt(project: Project, shot: ResolvedShot, dialect: str | None = None) -> RenderedPrompt | None:
    """The prompt for one shot (None for a card, which no model renders); raise TemplateError."""
    if shot.mode == "card":
        return None
    name = dialect or dialect_for_model(shot.model)
    if name not in dialects():
        raise TemplateError(
            f"no prompt dialect '{name}'{did_you_mean(name, list(dialects()))}; "
            f"the dialects are: {', '.join(dialects())}"
        )
    spec = dialects()[name]
    negative = shot.negative if spec.negative else None
    limit = spec.max_chars
    entry = _catalog_entry(shot.model) if dialect is None else None  # a forced dialect previews another model
    if entry is not None:
        limit = min(limit, int(entry.prompt_chars))
    if shot.prompt is not None:
        text = collapse(shot.prompt)
        if not text:
            raise TemplateError(
                "the prompt is empty", shot.id, "write the prompt, or remove prompt: to use a template"
            )
        return RenderedPrompt(shot.id, text, negative, name, "prompt:", word_count(text), len(text), limit)
    template_name = shot.template or name
    env = _environment(project.root.resolve())
    try:
        template = env.get_template(f"{template_name}.j2")
    except TemplateNotFound:
        raise _not_found(project.root, template_name, shot) from None
    except JinjaTemplateError as exc:
        raise TemplateError(_located(exc), shot.id) from None
    text = collapse(_render(template, shot.id, shot=template_context(shot), dialect=_dialect_context(spec)))
    if not text:
        raise TemplateError(
            f"{template.filename}: the template writes an empty prompt",
            shot.id,
            "make the template write the prompt (`shotlist prompts` shows what each shot sends)",
        )
    return RenderedPrompt(
        shot.id, text, negative, name, str(template.filename), word_count(text), len(text), limit
    )


def render_document(root: Path, name: str, context: dict[str, Any]) -> tuple[str, str]:
    """A template that is not a shot's prompt (``draft.j2``: the instructions to a language model), from the
    project's ``templates/`` or the built-ins, line breaks kept; (text, the file it came from)."""
    env = _environment(root.resolve())
    try:
        template = env.get_template(f"{name}.j2")
    except TemplateNotFound:
        raise TemplateError(f"no template '{name}.j2' in {root / 'templates'} or the built-ins") from None
    except Exception as exc:  # the template's mistake, shown at its line
        where = getattr(exc, "lineno", None)
        raise TemplateError(f"{name}.j2{f':{where}' if where else ''}: {exc}") from None
    text = _render(template, name, **context)  # the same budget of loop steps, time and output as a prompt
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n", str(template.filename)


def _render(template: Template, shot_id: str, **context: Any) -> str:
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
        raise TemplateError(_located(exc, str(template.filename)), shot_id, fix) from None
    finally:
        _BUDGET.reset(token)
    return "".join(out)


def check_prompts(project: Project) -> list[Problem]:
    """Every shot's prompt rendered: a problem for each template error, at the shot (or the defaults) that
    chose the template; a dialect's own template that fails many shots is one problem that names them."""
    problems: list[Problem] = []
    unnamed: dict[str, tuple[Problem, list[str]]] = {}
    for shot in project.shots:
        try:
            render_prompt(project, shot)
        except TemplateError as exc:
            field = "prompt" if shot.prompt is not None else "template" if shot.template else None
            if field is not None:
                problems.append(Problem(("shots", shot.index, field), exc.what, exc.fix))
            else:
                problem = Problem(("shots", shot.index), exc.what, exc.fix)
                unnamed.setdefault(exc.what, (problem, []))[1].append(shot.id)
    for problem, ids in unnamed.values():
        problems.append(dataclasses.replace(problem, message=f"{problem.message} (in {shots_named(ids)})"))
    return from_defaults(project.board, problems)


def render_all(
    project: Project, dialect: str | None = None
) -> list[tuple[ResolvedShot, RenderedPrompt | None]]:
    """Every shot with its prompt, in storyboard order."""
    return [(shot, render_prompt(project, shot, dialect)) for shot in project.shots]


def template_context(shot: ResolvedShot) -> dict[str, Any]:
    """What a template sees as ``shot``: plain strings, lists and dicts, nothing with methods to abuse."""
    dialogue = shot.audio.dialogue
    characters = [{"name": c.name, "look": c.look or ""} for c in shot.characters]
    return {
        "id": shot.id,
        "mode": shot.mode,
        "img2vid": shot.mode == "img2vid",
        "ref2vid": shot.mode == "ref2vid",
        "framing": shot.framing,
        "angle": shot.angle,
        "subject": shot.subject,
        "action": shot.action,
        "scene": shot.scene,
        "lighting": shot.lighting,
        "style": shot.style,
        "motion": list(shot.motion),
        "still": list(shot.still),
        "camera": {"move": shot.camera.move, "speed": shot.camera.speed},
        "duration": shot.duration,
        "characters": characters,
        "refs": [_ref_name(r.name, r.look is not None) for r in shot.refs if not r.sheet],
        "dialogue": None
        if dialogue is None
        else {
            "speaker": _speaker(dialogue.who, {c.name for c in shot.characters}),
            "says": _line(dialogue.says),
            "how": dialogue.how.strip() if dialogue.how else None,
        },
        "constraints": shot.constraints.strip(),
    }


def _dialect_context(spec: Dialect) -> dict[str, Any]:
    return {
        "name": spec.name,
        "words": list(spec.words),
        "max_chars": spec.max_chars,
        "negative": spec.negative,
    }


def _speaker(who: str, characters: set[str]) -> str:
    # a character id ('mika') reads as a name in a prompt; anything else is kept as written
    return who[:1].upper() + who[1:] if who in characters else who


def _ref_name(name: str, is_character: bool) -> str:
    if is_character:
        return name[:1].upper() + name[1:]
    stem = Path(name).stem.replace("_", " ").replace("-", " ")
    return f"the {stem}"


def _line(says: str) -> str:
    says = says.strip()
    return says if says[-1:] in ".!?…" else says + "."


# -- filters: small text helpers every dialect needs, deterministic and side-effect free ------------


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
def _environment(root: Path) -> _Sandbox:
    env = _Sandbox(
        loader=_Loader(root),
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
        auto_reload=True,
    )
    env.filters.update(_FILTERS)
    env.globals[_GUARD] = _guarded
    return env


def _not_found(root: Path, name: str, shot: ResolvedShot) -> TemplateError:
    local = sorted(p.stem for p in (root / "templates").glob("*.j2")) if (root / "templates").is_dir() else []
    known = sorted(set(local) | set(dialects()))
    return TemplateError(
        f"no template '{name}' in the project's templates/ folder or the built-in dialects"
        f"{did_you_mean(name, known)}",
        shot.id,
        f"add templates/{name}.j2, or name one of: {', '.join(known)}",
    )


def _located(exc: BaseException, template: str | None = None) -> str:
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
