""".dockerignore matching with the semantics of moby's patternmatcher and BuildKit's walker."""

from __future__ import annotations

import enum
import posixpath
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ws.errors import ConfigError

# Go's unicode.IsSpace set: strings.TrimSpace trims exactly these, str.strip() trims more.
_GO_SPACE = " \t\n\v\f\r\x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000" + "".join(
    chr(c) for c in range(0x2000, 0x200B)
)
# fsutil decides "an exception can only match below a literal prefix" by these characters.
_GLOB_CHARS = frozenset("*[]?^\\")
_FIX = "write it as Go's filepath.Match pattern, see the .dockerignore reference"


class _BadPattern(Exception):
    """A pattern Docker would refuse, or one whose Docker meaning ws cannot reproduce."""


class _Kind(enum.Enum):
    # moby compiles a pattern to one of these; prefix and suffix are not regex shortcuts:
    # "**file" is a suffix test, so it matches "dir/myfile" although its regex would not.
    EXACT = enum.auto()
    PREFIX = enum.auto()
    SUFFIX = enum.auto()
    REGEX = enum.auto()


def go_clean(path: str) -> str:
    """Go's filepath.Clean on a slash path: POSIX normpath, but "//x" collapses to "/x"."""
    if not path:
        return "."
    cleaned = posixpath.normpath(path)
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    return cleaned


def _go_dir(path: str) -> str:
    return go_clean(path[: path.rfind("/") + 1])


@dataclass(frozen=True)
class _Pattern:
    text: str
    exclusion: bool
    kind: _Kind
    regex: re.Pattern[str] | None

    def match(self, path: str) -> bool:
        if self.kind is _Kind.EXACT:
            return path == self.text
        if self.kind is _Kind.PREFIX:
            return path.startswith(self.text[:-2])
        if self.kind is _Kind.SUFFIX:
            suffix = self.text[2:]
            # "**/foo" also matches "foo" itself.
            return path.endswith(suffix) or (suffix[:1] == "/" and path == suffix[1:])
        return self.regex is not None and self.regex.fullmatch(path) is not None

    def literal_prefix(self) -> str | None:
        """The pattern minus a trailing /** or /*, when that is free of glob characters."""
        trimmed = self.text.removesuffix("/**").removesuffix("/*")
        return None if _GLOB_CHARS & set(trimmed) else trimmed


def _check_escape(text: str, i: int) -> int:
    """Refuse '\\x' for a letter, digit or non-ASCII x: RE2 gives those a meaning or an error."""
    if text[i] >= "\x80" or text[i].isalnum():
        raise _BadPattern(f"'\\{text[i]}' is a regex escape in Docker's matcher; drop the '\\'")
    return i


def _class_char(text: str, i: int) -> tuple[str, int]:
    """One member of a [...] class, as Go's getEsc reads it; returns it and the next index."""
    if i >= len(text) or text[i] in "-]":
        raise _BadPattern("malformed character class")
    if text[i] == "\\":
        if i + 1 >= len(text):
            raise _BadPattern("malformed character class")
        i = _check_escape(text, i + 1)
    elif text[i] in "*?":
        raise _BadPattern(
            f"'{text[i]}' inside [...] is rewritten by Docker's matcher; use \\{text[i]}"
        )
    elif text[i] == "[" and text[i + 1 : i + 2] == ":":
        raise _BadPattern("POSIX classes like [:alpha:] are not supported; list the characters")
    if i + 1 >= len(text):
        raise _BadPattern("unterminated character class")
    return text[i], i + 1


def _char_class(text: str, i: int) -> tuple[str, int]:
    """Translate the class starting after '[' at text[i:]; returns regex and next index."""
    out = ["["]
    if i < len(text) and text[i] == "^":
        out.append("^")
        i += 1
    members = 0
    while not (i < len(text) and text[i] == "]" and members):
        lo, i = _class_char(text, i)
        hi = lo
        if text[i] == "-":
            hi, i = _class_char(text, i + 1)
        if lo > hi:
            raise _BadPattern(f"character range {lo}-{hi} runs backwards")
        out.append(re.escape(lo) if lo == hi else f"{re.escape(lo)}-{re.escape(hi)}")
        members += 1
    return "".join(out) + "]", i + 1


def _double_star(text: str, i: int, kind: _Kind) -> tuple[str, int, _Kind]:
    """Handle '**' whose second '*' is text[i]; mirrors moby's compile exactly."""
    i += 1
    if text[i : i + 1] == "/":
        i += 1
    if i < len(text):
        return "(?:.*/)?", i, _Kind.REGEX
    if kind is _Kind.EXACT:
        return "", i, _Kind.PREFIX
    return ".*", i, _Kind.REGEX


def _compile(text: str) -> _Pattern:
    """Compile a cleaned pattern (no '!') the way moby's Pattern.compile does."""
    parts: list[str] = []
    kind, i, first = _Kind.EXACT, 0, True
    while i < len(text):
        ch, i = text[i], i + 1
        if ch == "*" and text[i : i + 1] == "*":
            piece, i, kind = _double_star(text, i, kind)
            kind = _Kind.SUFFIX if first else kind
        elif ch in "*?":
            piece, kind = ("[^/]*" if ch == "*" else "[^/]"), _Kind.REGEX
        elif ch == "\\":
            if i >= len(text):
                raise _BadPattern("a trailing '\\' escapes nothing")
            piece, i, kind = re.escape(text[i]), _check_escape(text, i) + 1, _Kind.REGEX
        elif ch == "[":
            (piece, i), kind = _char_class(text, i), _Kind.REGEX
        else:
            # RE2 reads a bare '^' as an anchor and ']' as itself; Python agrees.
            piece = "^" if ch == "^" else re.escape(ch)
            kind = _Kind.REGEX if ch == "]" else kind
        parts.append(piece)
        first = False
    regex = re.compile("".join(parts)) if kind is _Kind.REGEX else None
    return _Pattern(text=text, exclusion=False, kind=kind, regex=regex)


def _new_pattern(raw: str) -> _Pattern | None:
    """moby's New() for one pattern: trim, clean, split off '!', validate, compile."""
    text = raw.strip(_GO_SPACE)
    if not text:
        return None
    text = go_clean(text)
    exclusion = text.startswith("!")
    if exclusion:
        if len(text) == 1:
            raise _BadPattern('illegal exclusion pattern: "!"')
        text = text[1:]
    try:
        compiled = _compile(text)
    except re.error as e:
        raise _BadPattern(f"invalid pattern: {e}") from e
    return _Pattern(compiled.text, exclusion, compiled.kind, compiled.regex)


def read_patterns(text: str) -> list[tuple[int, str]]:
    """moby's ignorefile.ReadAll: (line number, pattern) for each pattern line of the file."""
    lines = text.split("\n")
    lines[0] = lines[0].removeprefix("\ufeff")
    found: list[tuple[int, str]] = []
    for number, raw in enumerate(lines, start=1):
        line = raw.removesuffix("\r")
        # Only a '#' in column 1 starts a comment: " # x" is the pattern "# x".
        if line.startswith("#"):
            continue
        pattern = line.strip(_GO_SPACE)
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip(_GO_SPACE)
        if pattern:
            pattern = go_clean(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        found.append((number, "!" + pattern if invert else pattern))
    return found


MatchInfo = tuple[bool, ...]


class DockerIgnore:
    """The patterns of one .dockerignore file; decides which context paths are left out."""

    def __init__(self, patterns: Iterable[str], *, source: Path | str = ".dockerignore") -> None:
        self._init(list(enumerate(patterns, start=1)), source)

    def _init(self, numbered: Sequence[tuple[int, str]], source: Path | str) -> None:
        compiled: list[_Pattern] = []
        for number, raw in numbered:
            try:
                pattern = _new_pattern(raw)
            except _BadPattern as e:
                raise ConfigError(source, f"{e} in {raw!r}", line=number, fix=_FIX) from e
            if pattern is not None:
                compiled.append(pattern)
        self._patterns = tuple(compiled)
        self.source = source
        exceptions = [p for p in compiled if p.exclusion]
        self.has_exceptions = bool(exceptions)
        prefixes = [prefix for p in exceptions if (prefix := p.literal_prefix()) is not None]
        # None: some exception is a glob, so any excluded directory may hold a kept path.
        literal = len(prefixes) == len(exceptions)
        self._exception_prefixes = tuple(prefixes) if literal else None

    @classmethod
    def from_text(cls, text: str, *, source: Path | str = ".dockerignore") -> DockerIgnore:
        ignore = cls.__new__(cls)
        ignore._init(read_patterns(text), source)
        return ignore

    @property
    def patterns(self) -> tuple[str, ...]:
        """The cleaned patterns, exceptions with their leading '!'."""
        return tuple(("!" if p.exclusion else "") + p.text for p in self._patterns)

    def match(self, path: str, parent: MatchInfo | None = None) -> tuple[bool, MatchInfo]:
        """moby's MatchesUsingParentResults: is path excluded, given its parent's MatchInfo."""
        matched = False
        info: list[bool] = []
        for index, pattern in enumerate(self._patterns):
            hit = parent[index] if parent else False
            if not hit:
                if pattern.exclusion != matched:
                    info.append(False)
                    continue
                hit = pattern.match(path) or (not parent and _parent_hit(pattern, path))
            info.append(hit)
            if hit:
                matched = not pattern.exclusion
        return matched, tuple(info)

    def excluded(self, relpath: str) -> bool:
        """Whether the walk of a build context leaves relpath (slash-separated) out."""
        path = go_clean(relpath)
        if path == ".":
            return False
        parent_dir = _go_dir(path)
        info: MatchInfo | None = None
        if parent_dir != ".":
            parts = parent_dir.split("/")
            for end in range(1, len(parts) + 1):
                _, info = self.match("/".join(parts[:end]), info)
        return self.match(path, info)[0]

    def may_include_below(self, directory: str) -> bool:
        """Whether an excluded directory must still be walked (fsutil's rule)."""
        if not self.has_exceptions:
            return False
        if self._exception_prefixes is None:
            return True
        below = directory + "/"
        return any((prefix + "/").startswith(below) for prefix in self._exception_prefixes)


def _parent_hit(pattern: _Pattern, path: str) -> bool:
    """Whether pattern matches one of path's parent directories."""
    parent_dir = _go_dir(path)
    if parent_dir == ".":
        return False
    parts = parent_dir.split("/")
    return any(pattern.match("/".join(parts[:end])) for end in range(1, len(parts) + 1))
