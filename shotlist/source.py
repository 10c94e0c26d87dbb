"""Read storyboard.yaml: YAML with the line and column of every key and value kept.

PyYAML's plain loaders forget where values came from and silently keep the last of two duplicate
keys. We build the data ourselves from the parser's event stream instead: it keeps the marks, lets
us refuse duplicates, and is a loop rather than a recursion, so a hostile document (an alias bomb,
a million nested brackets) is stopped by counting instead of crashing the interpreter. The events
come from libyaml when PyYAML has it (a 500-shot storyboard parses in tens of milliseconds); YAML
syntax errors are re-read with the pure-Python parser so their wording is the same on every machine.
"""

from __future__ import annotations

import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from shotlist.errors import Loc, Problem, StoryboardError

MAX_BYTES = 5 * 1024 * 1024
MAX_NODES = 200_000  # an alias bomb expands past this long before memory is at risk
MAX_DEPTH = 64

Marks = dict[Loc, tuple[int, int]]

_FAST_LOADER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_RESOLVER = yaml.SafeLoader("")  # resolves plain scalars to tags (int, bool, ...) the YAML 1.1 way
_CONSTRUCTORS = yaml.SafeLoader.yaml_constructors
_STR = "tag:yaml.org,2002:str"
_STANDARD = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", None, "!"}


@dataclass
class Source:
    """A parsed storyboard file: its text, its data and where every part of the data was written."""

    path: Path
    text: str
    data: Any
    marks: Marks = field(default_factory=dict)  # where each loc starts: its key, or its list item
    values: Marks = field(default_factory=dict)  # where each loc's value starts
    problems: list[Problem] = field(default_factory=list)  # found while reading (duplicate keys, ...)

    def where(self, loc: Loc, at_value: bool = True) -> tuple[int, int] | None:
        """The (line, col) to point at for ``loc``: its value when that sits on the key's line, else its key."""
        part = nearest(self.marks, loc)
        if part is None:
            return None
        key, value = self.marks[part], self.values.get(part)
        return value if at_value and value and value[0] == key[0] else key


def not_a_file(path: Path) -> str | None:
    """What ``path`` is when it exists but is no regular file ("a named pipe (FIFO)", "a folder", …), found
    without opening it (opening a FIFO blocks until something writes to it); None otherwise."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode):
        return None
    kinds = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"))
    return next((kind for test, kind in kinds if test(mode)), "a device")


def read_source(path: Path) -> Source:
    """Parse a storyboard file; raise StoryboardError when it is not a YAML document we can read at all."""
    return parse_source(path, _text(path, _raw(path)))


def parse_source(path: Path, text: str) -> Source:
    """Parse storyboard text as the file at ``path`` (a draft not yet written); raise StoryboardError."""
    text = text.removeprefix("\ufeff")
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        message, fix = (
            "the file holds a NUL byte; it is not a text file",
            "save the storyboard as plain UTF-8 text",
        )
        raise StoryboardError(path, [Problem((), message, fix, line, 1)])
    refuse_merge_conflict(path, text)
    source = Source(path=path, text=text, data=None)
    try:
        source.data = _Builder(source).run(yaml.parse(text, Loader=_FAST_LOADER))
    except yaml.YAMLError as exc:
        raise StoryboardError(path, [_syntax_problem(text, exc)], text) from None
    except _Stop as stop:
        raise StoryboardError(path, [stop.problem], text) from None
    if source.data is None:
        raise StoryboardError(
            path,
            [
                Problem(
                    (),
                    "the storyboard is empty",
                    "start with 'version: 1' and a list of shots (see `shotlist init`)",
                    1,
                    1,
                )
            ],
            text,
        )
    return source


def refuse_merge_conflict(path: Path, text: str) -> None:
    """StoryboardError at the first git conflict marker (a ``<<<<<<<`` line with a ``>>>>>>>`` line after it)."""
    start = 0
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith("<<<<<<<") and not start:
            start = n
        elif line.startswith(">>>>>>>") and start:
            fix = (
                "keep one side of each conflict (or combine them) and delete the <<<<<<<, ======= and "
                ">>>>>>> lines; then `shotlist lock resolve` settles shotlist.lock to match"
            )
            problem = Problem((), f"git merge conflict markers at line {start}", fix, start, 1)
            raise StoryboardError(path, [problem], text)


def _refused(path: Path, message: str, fix: str) -> StoryboardError:
    return StoryboardError(path, [Problem((), message, fix)])


def _raw(path: Path) -> bytes:
    """The storyboard file's bytes, refused before reading when it is no file or too big to be one."""
    kind = not_a_file(path)
    if kind is not None:
        raise _refused(
            path, f"this is {kind}, not a file", "give the storyboard file, or the folder that holds it"
        )
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise _refused(
            path,
            "no storyboard here",
            "give a project folder that holds storyboard.yaml, or the file itself (`shotlist init` makes one)",
        ) from None
    except OSError as exc:
        raise _refused(
            path, f"cannot read the file: {exc.strerror or exc}", "check that it is a readable file"
        ) from None
    if len(raw) > MAX_BYTES:
        raise _refused(
            path,
            f"the file is {len(raw) // 1024} KiB; a storyboard is at most {MAX_BYTES // 1024 // 1024} MiB",
            "split it or remove pasted data",
        )
    return raw


_UTF8 = "save the file as UTF-8"


def _text(path: Path, raw: bytes) -> str:
    """The storyboard's bytes as text (UTF-8)."""
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):  # what Windows tools call "Unicode"
        raise StoryboardError(
            path,
            [
                Problem(
                    (), "the file is UTF-16 (it starts with a UTF-16 byte-order mark), not UTF-8", _UTF8, 1, 1
                )
            ],
            raw.decode("utf-16", "replace"),
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = len(raw[raw.rfind(b"\n", 0, exc.start) + 1 : exc.start].decode("utf-8", "replace")) + 1
        raise StoryboardError(
            path,
            [Problem((), f"byte 0x{raw[exc.start]:02x} is not UTF-8", _UTF8, line, col)],
            raw.decode("utf-8", "replace"),
        ) from None
    return text


def read_yaml(path: Path) -> tuple[Any, Marks, str]:
    """Parse a YAML file into plain data, the (line, col) of every key, and its text; raise StoryboardError."""
    source = read_source(path)
    if source.problems:
        raise StoryboardError(path, source.problems, source.text)
    return source.data, source.marks, source.text


def nearest(marks: Marks, loc: Loc) -> Loc | None:
    """The deepest part of ``loc`` (itself, or an enclosing part) that the file has a mark for."""
    for n in range(len(loc), -1, -1):
        if loc[:n] in marks:
            return loc[:n]
    return None


def locate(marks: Marks, loc: Loc) -> tuple[int, int] | None:
    """The line and column of the deepest part of ``loc`` that the file has."""
    part = nearest(marks, loc)
    return None if part is None else marks[part]


class _Stop(Exception):
    """Reading cannot go on (too big, too deep, an unknown tag): one problem ends it."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def _tag(tag: str | None) -> str:
    """A tag as the user wrote it: ``!!python/object``, not ``tag:yaml.org,2002:python/object``."""
    return str(tag).replace("tag:yaml.org,2002:", "!!")


def _at(mark: Any) -> tuple[int, int]:
    return mark.line + 1, mark.column + 1


_INVALID = object()  # a key we reported and whose value we drop


@dataclass
class _Frame:
    loc: Loc
    value: dict[str, Any] | list[Any]
    anchor: str | None
    count_at_start: int
    key: Any = None  # a mapping's key waiting for its value (None: the next scalar is a key)
    key_mark: tuple[int, int] = (0, 0)
    is_key: bool = False  # this collection is itself used as a mapping key


class _Builder:
    """Turns a YAML event stream into dicts, lists and scalars, with marks, limits and duplicate keys."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.stack: list[_Frame] = []
        self.anchors: dict[str, tuple[Any, int]] = {}  # name -> (value, how many values it expands to)
        self.count = 0
        self.root: Any = None
        self.documents = 0

    def run(self, events: Any) -> Any:
        # One dict lookup per event: this loop runs some 20,000 times for a 500-shot storyboard.
        handlers: dict[type, Any] = {
            yaml.ScalarEvent: self.scalar,
            yaml.AliasEvent: self.alias,
            yaml.MappingStartEvent: self.start,
            yaml.SequenceStartEvent: self.start,
            yaml.MappingEndEvent: self.end,
            yaml.SequenceEndEvent: self.end,
            yaml.DocumentStartEvent: self.document,
        }
        for event in events:
            handler = handlers.get(type(event))
            if handler is not None:
                handler(event)
        return self.root

    def document(self, event: yaml.DocumentStartEvent) -> None:
        self.documents += 1
        if self.documents > 1:
            raise _Stop(
                Problem(
                    (),
                    "the file holds more than one YAML document",
                    "remove the '---' line and everything after it, or move it to another file",
                    *_at(event.start_mark),
                )
            )

    # --- where the next value goes -------------------------------------------------------------

    def next_loc(self, mark: Any) -> tuple[Loc, bool] | None:
        """The loc of the value about to be read, and whether it is a mapping key; None at the top."""
        if not self.stack:
            self.source.marks.setdefault((), _at(mark))
            self.source.values.setdefault((), _at(mark))
            return None
        top = self.stack[-1]
        if isinstance(top.value, list):
            loc = top.loc + (len(top.value),)
            self.source.marks[loc] = _at(mark)
            self.source.values[loc] = _at(mark)
            return loc, False
        if top.key is None:
            return top.loc, True
        if top.key is not _INVALID:
            loc = top.loc + (top.key,)
            self.source.values.setdefault(loc, _at(mark))
            return loc, False
        return top.loc + ("",), False

    def place(self, value: Any) -> None:
        if not self.stack:
            self.root = value
            return
        top = self.stack[-1]
        if isinstance(top.value, list):
            top.value.append(value)
        else:
            if top.key is not _INVALID:
                top.value[top.key] = value
            top.key = None

    def take_key(self, key: Any, mark: Any) -> None:
        top = self.stack[-1]
        assert isinstance(top.value, dict)
        line, col = _at(mark)
        if key is _INVALID:
            self.source.problems.append(
                Problem(
                    top.loc,
                    "a key must be a plain word, not a list or a mapping",
                    "write the key as text",
                    line,
                    col,
                )
            )
            top.key = _INVALID
            return
        loc = top.loc + (key,)
        if key in top.value:
            first = self.source.marks[loc][0]
            self.source.problems.append(
                Problem(
                    loc,
                    f"duplicate key '{key}' (first on line {first})",
                    "keep one of them; YAML would silently use the last",
                    line,
                    col,
                )
            )
            top.key = _INVALID
            return
        self.source.marks[loc] = (line, col)
        top.key = key

    # --- events ----------------------------------------------------------------------------------

    def tick(self, mark: Any) -> None:
        self.count += 1
        if self.count > MAX_NODES:
            raise _Stop(
                Problem(
                    (),
                    f"the document expands to more than {MAX_NODES:,} values (an alias bomb?)",
                    "remove the repeated aliases (*name) or the pasted data",
                    *_at(mark),
                )
            )

    def scalar(self, event: yaml.ScalarEvent) -> None:
        self.count += 1
        if self.count > MAX_NODES:
            self.tick(event.start_mark)
        where = self.next_loc(event.start_mark)
        explicit = event.tag is not None and event.tag != "!"
        if where is not None and where[1]:
            if not explicit and not event.style and event.value == "<<":
                top = self.stack[-1]
                self.source.problems.append(
                    Problem(
                        top.loc,
                        "YAML merge keys (<<) are not supported",
                        "write the keys out, or put shared shot fields under defaults:",
                        *_at(event.start_mark),
                    )
                )
                top.key = _INVALID
                return
            # A key is the text as written: `1:` and `on:` stay '1' and 'on', not 1 and True.
            self.take_key(event.value, event.start_mark)
            return
        if event.style == '"' and (bad := _CONTROL.search(event.value)):  # "\0", "\e": escapes YAML allows
            self.source.problems.append(
                Problem(
                    where[0] if where else (),
                    f"the control character U+{ord(bad.group()):04X} (written as an escape in quotes) "
                    "is not allowed in text",
                    "delete the escape: a prompt, a name or a path is plain text",
                    *_at(event.start_mark),
                )
            )
        value = self.construct(event, where[0] if where else (), explicit)
        if event.anchor:
            self.anchors[event.anchor] = (value, 1)
        self.place(value)

    def construct(self, event: yaml.ScalarEvent, loc: Loc, explicit: bool) -> Any:
        """The scalar's value: text stays text; plain words become numbers, booleans or null as YAML 1.1 says."""
        if not explicit and event.style:  # plain is None from PyYAML's parser, '' from libyaml's
            return event.value  # quoted or block text is always a string: the common case, kept cheap
        resolver: Any = _RESOLVER  # PyYAML's stubs leave resolve() untyped
        tag = (
            str(event.tag)
            if explicit
            else str(resolver.resolve(yaml.ScalarNode, event.value, event.implicit))
        )
        if tag == _STR:
            return event.value
        constructor = _CONSTRUCTORS.get(tag)
        if constructor is None:
            raise _Stop(
                Problem(
                    loc,
                    f"unknown YAML tag '{_tag(event.tag)}'",
                    "remove the tag; a storyboard holds plain text, numbers, lists and mappings",
                    *_at(event.start_mark),
                )
            )
        try:
            return constructor(_RESOLVER, yaml.ScalarNode(tag, event.value, style=event.style))
        except (yaml.YAMLError, ValueError, TypeError) as exc:
            raise _Stop(
                Problem(
                    loc,
                    f"cannot read this value: {exc}",
                    "write it as plain text in quotes",
                    *_at(event.start_mark),
                )
            ) from None

    def alias(self, event: yaml.AliasEvent) -> None:
        where = self.next_loc(event.start_mark)
        if event.anchor not in self.anchors:  # libyaml lets an undefined alias through to the composer
            raise _Stop(
                Problem(
                    where[0] if where else (),
                    f"the alias '*{event.anchor}' refers to no anchor",
                    f"define '&{event.anchor}' earlier in the file, or write the value out",
                    *_at(event.start_mark),
                )
            )
        value, size = self.anchors[event.anchor]
        # Shared, not copied: the count stands for the expansion, so a bomb is stopped before it costs.
        self.count += size - 1
        self.tick(event.start_mark)
        if where is not None and where[1]:
            if not isinstance(value, str | int | float) or isinstance(value, bool):
                self.take_key(_INVALID, event.start_mark)
            else:
                self.take_key(str(value), event.start_mark)
            return
        self.place(value)

    def start(self, event: yaml.MappingStartEvent | yaml.SequenceStartEvent) -> None:
        self.tick(event.start_mark)
        if len(self.stack) >= MAX_DEPTH:
            raise _Stop(_too_deep(event.start_mark))
        if event.tag and event.tag not in _STANDARD:
            where = self.next_loc(event.start_mark)
            raise _Stop(
                Problem(
                    where[0] if where else (),
                    f"unknown YAML tag '{_tag(event.tag)}'",
                    "remove the tag; a storyboard holds plain text, numbers, lists and mappings",
                    *_at(event.start_mark),
                )
            )
        where = self.next_loc(event.start_mark)
        is_key = where is not None and where[1]
        # A collection used as a key gets a loc of its own, so its insides never pass for real keys.
        loc: Loc = () if where is None else self.stack[-1].loc + ("?",) if is_key else where[0]
        container: dict[str, Any] | list[Any] = {} if isinstance(event, yaml.MappingStartEvent) else []
        self.stack.append(
            _Frame(
                loc, container, event.anchor, self.count, is_key=bool(is_key), key_mark=_at(event.start_mark)
            )
        )

    def end(self, event: Any = None) -> None:
        frame = self.stack.pop()
        if frame.is_key:
            self.take_key(_INVALID, _Mark(*frame.key_mark))
            return
        self.remember(frame.anchor, frame.value, self.count - frame.count_at_start + 1)
        self.place(frame.value)

    def remember(self, anchor: str | None, value: Any, size: int) -> None:
        if anchor:
            self.anchors[anchor] = (value, size)


@dataclass
class _Mark:
    """A mark rebuilt from a (line, col) pair, for problems found after the event has gone."""

    line_1: int
    col_1: int

    @property
    def line(self) -> int:
        return self.line_1 - 1

    @property
    def column(self) -> int:
        return self.col_1 - 1


# --- YAML syntax errors, in words a person can act on ---------------------------------------------

_INDENT = (
    "the indentation does not line up with the lines above",
    "indent this line with spaces to line up with the keys or '- ' items it belongs with",
)

_SYNTAX: list[tuple[str, str, str]] = [
    ("tab", "a tab character; YAML indents with spaces only", "replace the tab with spaces"),
    (
        "mapping values are not allowed",
        "a ':' YAML cannot place here (bad indentation, or ': ' inside an unquoted value)",
        "line this key up with the keys above it, or put the value in quotes",
    ),
    (
        "could not find expected ':'",
        "a line inside a mapping with no 'key:' (or a quote that is not closed)",
        "add the ':' after the key, or close the quote",
    ),
    ("expected <block end>", *_INDENT),
    ("did not find expected key", *_INDENT),
    (
        "did not find expected '-' indicator",
        "a list item that does not line up with the other '- ' items",
        "indent it like the items above it",
    ),
    ("did not find expected node content", "a value is missing here", "write a value, or quote the text"),
    (
        "expected ',' or ']'",
        "a '[' list is not closed",
        "close it with ']' (and quote items that hold ',' or ':')",
    ),
    (
        "expected ',' or '}'",
        "a '{' mapping is not closed",
        "close it with '}' (and quote values that hold ',' or ':')",
    ),
    ("found unexpected end of stream", "a quote is not closed", "close the quote"),
    (
        "found undefined alias",
        "an alias (*name) that refers to no anchor",
        "define &name earlier in the file, or write the value out",
    ),
    ("that cannot start any token", "this character cannot start a plain value", "put the value in quotes"),
]


#: Control characters a double-quoted YAML string can hold as escapes (tab and line breaks are text).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _too_deep(mark: Any) -> Problem:
    return Problem(
        (),
        f"the document nests deeper than {MAX_DEPTH} levels",
        "flatten it; a storyboard needs only a few levels",
        *_at(mark),
    )


_OPENS = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_CLOSES = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


def _syntax_problem(text: str, fast_error: yaml.YAMLError) -> Problem:
    """A YAML syntax error as a Problem, worded from the pure-Python parser so it is the same everywhere."""
    if (
        isinstance(fast_error, yaml.MarkedYAMLError)
        and fast_error.problem == "exceeded maximum nesting depth"
    ):
        return _too_deep(fast_error.problem_mark)  # libyaml's own limit (1,000 levels): far past ours
    error: yaml.YAMLError = fast_error
    depth = 0
    try:
        # The pure-Python scanner's work grows with the nesting depth, so it stops where the builder would.
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, _OPENS):
                depth += 1
                if depth > MAX_DEPTH:
                    return _too_deep(event.start_mark)
            elif isinstance(event, _CLOSES):
                depth -= 1
    except yaml.YAMLError as exc:
        error = exc
    if isinstance(error, yaml.reader.ReaderError):
        pos = min(error.position, len(text))
        code = error.character if isinstance(error.character, int) else ord(str(error.character)[:1] or "?")
        return Problem(
            (),
            f"the control character U+{code:04X} is not allowed in a YAML file",
            "delete it (it is invisible in most editors; it often comes from a paste)",
            text.count("\n", 0, pos) + 1,
            pos - (text.rfind("\n", 0, pos) + 1) + 1,
        )
    if not isinstance(error, yaml.MarkedYAMLError):
        return Problem((), f"invalid YAML: {error}", "check the file's syntax")
    problem = (error.problem or "invalid YAML").strip()
    context = (error.context or "").strip()
    mark = error.problem_mark
    # Where the broken construct began is more useful than where the parser gave up on it.
    if error.context_mark is not None and (
        "quoted scalar" in context or "flow" in context or "could not find expected ':'" in problem
    ):
        mark = error.context_mark
    line: int | None = mark.line + 1 if mark is not None else None
    col: int | None = mark.column + 1 if mark is not None else None
    lines = text.splitlines()
    if line is not None and 0 < line <= len(lines) and "tab" not in problem:
        # A tab in the indentation confuses the parser into other complaints; name the real cause.
        text_line = lines[line - 1]
        indent = text_line[: len(text_line) - len(text_line.lstrip(" \t"))]
        if "\t" in indent:
            return Problem((), _SYNTAX[0][1], _SYNTAX[0][2], line, indent.index("\t") + 1)
    for needle, message, fix in _SYNTAX:
        if needle in problem or needle in context:
            return Problem((), message, fix, line, col)
    return Problem(
        (), f"invalid YAML: {problem}", "check the indentation and quoting on this line", line, col
    )
