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
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from shotlist import durable, salvage
from shotlist.errors import Problem, ShotlistError, did_you_mean
from shotlist.load import Project
from shotlist.resolve import ResolvedShot, from_defaults, shots_named
from shotlist.salvage import STORE
from shotlist.spec import sha256_json

DEFAULT_DIALECT = "generic"
BUILTIN_PACKAGE = "shotlist.templates"
_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")


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
    from shotlist.catalog import find

    return find(model_id)


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
    context = {"shot": template_context(shot), "dialect": _dialect_context(spec)}
    kept = _kept(project.root)
    key = kept.key(template_name, context)
    found = kept.get(key)
    if found is None:
        found = _render_template(project, shot, template_name, context)
        kept.put(key, found)
    text, filename = found
    return RenderedPrompt(shot.id, text, negative, name, filename, word_count(text), len(text), limit)


def _render_template(
    project: Project, shot: ResolvedShot, name: str, context: dict[str, Any]
) -> tuple[str, str]:
    """(text, template file) of a shot's prompt rendered by its template; TemplateError naming the shot."""
    from shotlist import templating

    try:
        template = templating.template(project.root, name)
        if template is None:
            raise _not_found(project.root, name, shot)
        text = collapse(templating.render(template, shot.id, **context))
    except TemplateError as exc:
        raise TemplateError(exc.what, shot.id, exc.fix) from None
    if not text:
        raise TemplateError(
            f"{template.filename}: the template writes an empty prompt",
            shot.id,
            "make the template write the prompt (`shotlist prompts` shows what each shot sends)",
        )
    return text, str(template.filename)


# --- prompts kept by what they were rendered from -------------------------------------------------------------
# Rendering is deterministic, so a prompt is kept in ``.shotlist/prompts.json`` under the sha256 of all it
# was made from: the template's name, what the template saw (shot and dialect), and every template source
# that could be read (the project's templates/, the built-ins, this code and Jinja's). A build that
# changes nothing renders nothing and never imports Jinja. A lost or damaged file only costs a render.


class _Kept:
    def __init__(self, root: Path) -> None:
        self.file = root / STORE / "prompts.json"
        self.known: dict[str, Any] = (
            salvage.read_cache(self.file, salvage.json_object, "the rendered prompts") or {}
            if self.file.parent.is_dir()
            else {}
        )
        self.on_disk = dict(self.known)
        self.sources = _sources(root)
        self.used: dict[str, Any] = {}

    def key(self, template: str, context: dict[str, Any]) -> str:
        return sha256_json({"sources": self.sources, "template": template, "context": context})

    def get(self, key: str) -> tuple[str, str] | None:
        found = self.known.get(key)
        if not (isinstance(found, list) and len(found) == 2 and all(isinstance(x, str) for x in found)):
            return None
        self.used[key] = found
        return found[0], found[1]

    def put(self, key: str, found: tuple[str, str]) -> None:
        self.known[key] = self.used[key] = list(found)

    def save(self) -> None:
        """Keep the prompts used since the last save (the others belong to storyboards that are gone)."""
        if self.used == self.on_disk or not self.file.parent.is_dir():
            return
        try:
            durable.write_json(self.file, self.used, sync=False)
            self.on_disk = dict(self.used)
        except OSError:
            pass  # a read-only project renders again next time


_KEPT: dict[Path, _Kept] = {}


def _kept(root: Path) -> _Kept:
    root = root.resolve()
    if root not in _KEPT:
        _KEPT[root] = _Kept(root)
    return _KEPT[root]


def save_prompts(root: Path) -> None:
    """Write the prompts rendered for the project at ``root`` (called when a plan or a check is done)."""
    kept = _KEPT.get(root.resolve())
    if kept is not None:
        kept.save()


def _sources(root: Path) -> list[Any]:
    """What any template render could read, by name, size and time: templates, and the code that renders."""
    from importlib.util import find_spec

    def signature(path: Path) -> list[Any]:
        st = path.stat()
        return [path.name, st.st_size, st.st_mtime_ns]

    local = root / "templates"
    files = sorted(local.glob("*.j2")) if local.is_dir() else []
    builtin = resources.files(BUILTIN_PACKAGE)
    files += sorted(Path(str(f)) for f in builtin.iterdir() if f.name.endswith((".j2", ".json")))
    jinja = find_spec("jinja2")
    code = [Path(__file__), Path(__file__).with_name("templating.py")]
    code += [Path(jinja.origin)] if jinja is not None and jinja.origin else []
    return [signature(f) for f in files + code if f.is_file()]


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
    save_prompts(project.root)
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


def _not_found(root: Path, name: str, shot: ResolvedShot) -> TemplateError:
    local = sorted(p.stem for p in (root / "templates").glob("*.j2")) if (root / "templates").is_dir() else []
    known = sorted(set(local) | set(dialects()))
    return TemplateError(
        f"no template '{name}' in the project's templates/ folder or the built-in dialects"
        f"{did_you_mean(name, known)}",
        shot.id,
        (f"add templates/{name}.j2, or name one of: " if TEMPLATE_NAME.match(name) else "name one of: ")
        + ", ".join(known),
    )


#: A template's name: its file in templates/ without .j2 ('_macros': a partial, never a dialect).
TEMPLATE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$")
