"""The .dockerignore matcher against moby's own test tables, its docs and its source."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import docker
import pytest
from ws.docker.generate.dockerignore import DockerIgnore, go_clean, read_patterns
from ws.errors import ConfigError

from tests.support.buildctx import COPY_ALL, copied, engine, tar_of

# Sources of the expected values (none is guessed):
#   PM   moby/patternmatcher patternmatcher_test.go TestMatches `tests`, checked there through
#        MatchesUsingParentResults (parent directories first): expected = pass != fail.
#   PMM  same file, `multiPatternTests`.
#   PMF  same file, the folder/exception tests (TestPatternMatchesFolder*, TestExclusion*).
#   GOM  same file, `matchTests` (Go's filepath.Match table run through Matches()).
#   DOC  the .dockerignore section of the Dockerfile reference (examples and their stated
#        behaviour: */temp*, */*/temp*, temp?, **/*.go, *.md with !README*.md, /foo/bar).
#   RA   moby/patternmatcher ignorefile.ReadAll: '#' only in column 1 is a comment, lines
#        are TrimSpace'd, filepath.Clean'ed, and a leading '/' is dropped.
#   SRC  read off patternmatcher.go / Go's filepath.Match grammar where no test states it:
#        regexes are case-sensitive; only '^' negates a class ('!' is a member); a pattern
#        starting with ** and otherwise literal is a suffix test (suffixMatch); the walk
#        uses MatchesUsingParentResults, which only re-tests a path against a pattern the
#        parent did not already skip.
# Row: (id, .dockerignore lines, path, excluded, engine). engine marks the rows the Docker
# 20.10 daemon confirms (test_engine_agrees_with_golden_rows). The others are where 20.10's
# older matcher differs from today's patternmatcher and BuildKit: it checks one parent level
# only (pm-starstar-dir-child, src-walk-skip-rule), has no suffix match type
# (src-starstar-*), and escapes only '.' and '$' so "()|{}+" are regex syntax (pm-parens-
# literal, pm-metachars). Each of those was run on the daemon and gave the other answer.
WHL = "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl"
GOLDEN: list[tuple[str, tuple[str, ...], str, bool, bool]] = [
    # PM: ** forms
    ("pm-starstar-file", ("**",), "file", True, True),
    ("pm-starstar-slash-file", ("**/",), "file", True, True),
    ("pm-starstar-dir-file", ("**",), "dir/file", True, True),
    ("pm-starstar-starstar", ("**/**",), "dir/file", True, True),
    ("pm-dir-starstar", ("dir/**",), "dir/file", True, True),
    ("pm-dir-starstar-deep", ("dir/**",), "dir/dir2/file", True, True),
    ("pm-starstar-dir-self", ("**/dir",), "dir", True, True),
    ("pm-starstar-dir-child", ("**/dir",), "dir/file", True, False),
    ("pm-starstar-dir2-star", ("**/dir2/*",), "dir/dir2/file", True, True),
    ("pm-starstar-dir2-starstar", ("**/dir2/**",), "dir/dir2/dir3/file", True, True),
    ("pm-starstarfile-root", ("**file",), "file", True, True),
    ("pm-starstarfile-deep", ("**file",), "dir/dir/file", True, True),
    ("pm-file-star-txt", ("**/file*",), "dir/dir/file.txt", True, True),
    ("pm-double-starstar-txt", ("**/**/*.txt",), "dir/dir/file.txt", True, True),
    ("pm-double-starstar-txt2", ("**/**/*.txt2",), "dir/dir/file.txt", False, True),
    ("pm-starstar-txt-root", ("**/*.txt",), "file.txt", True, True),
    ("pm-a-starstar-txt", ("a**/*.txt",), "a/dir/dir/file.txt", True, True),
    ("pm-star-no-cross", ("a/*.txt",), "a/dir/file.txt", False, True),
    ("pm-star-same-dir", ("a/*.txt",), "a/file.txt", True, True),
    ("pm-trailing-starstar", ("a/*.txt**",), "a/file.txt", True, True),
    ("pm-abc-starstar-not-abc", ("abc/**",), "abc", False, True),
    ("pm-starstar-foo-bar-root", ("**/foo/bar",), "foo/bar", True, True),
    ("pm-starstar-foo-bar-deep", ("**/foo/bar",), "dir/dir2/foo/bar", True, True),
    ("pm-starstar-dotfoo", ("**/.foo",), ".foo", True, True),
    ("pm-starstar-dotfoo-not-suffix", ("**/.foo",), "bar.foo", False, True),
    # PM: classes, '?', '.', regex metacharacters, '\' escapes
    ("pm-class-empty", ("a[b-d]e",), "ae", False, True),
    ("pm-class-in", ("a[b-d]e",), "ace", True, True),
    ("pm-class-out", ("a[b-d]e",), "aae", False, True),
    ("pm-class-negated", ("a[^b-d]e",), "aze", True, True),
    ("pm-dotstar", (".*",), ".foo", True, True),
    ("pm-dotstar-no", (".*",), "foo", False, True),
    ("pm-dot-literal", ("abc.def",), "abcZdef", False, True),
    ("pm-question", ("abc?def",), "abcZdef", True, True),
    ("pm-question-needs-one", ("abc?def",), "abcdef", False, True),
    ("pm-parens-literal", ("a(b)c/def",), "a(b)c/def", True, False),
    ("pm-parens-other", ("a(b)c/def",), "a(b)c/xyz", False, True),
    ("pm-metachars", ("a.|)$(}+{bc",), "a.|)$(}+{bc", True, False),
    ("pm-plus-in-name", ("dist/*.whl",), WHL, True, True),
    ("pm-escaped-backslash", ("a\\\\",), "a\\", True, True),
    ("pm-escaped-star", ("a\\*b",), "a*b", True, True),
    # PMM: exceptions, last match wins
    ("pmm-exception-dir", ("**", "!util/docker/web"), "util/docker/web/foo", False, True),
    (
        "pmm-reexcluded",
        ("**", "!util/docker/web", "util/docker/web/foo"),
        "util/docker/web/foo",
        True,
        True,
    ),
    ("pmm-exception-glob", ("**", "!dist/*.whl"), WHL, False, True),
    # PMF: folders with exceptions, and order
    ("pmf-folder", ("docs", "!docs/README.md"), "docs/README.md", False, True),
    ("pmf-folder-slash", ("docs/", "!docs/README.md"), "docs/README.md", False, True),
    ("pmf-folder-star", ("docs/*", "!docs/README.md"), "docs/README.md", False, True),
    ("pmf-folder-other", ("docs", "!docs/README.md"), "docs/other.md", True, True),
    ("pmf-exception-after", ("*.go", "!fileutils.go"), "fileutils.go", False, True),
    ("pmf-exception-before", ("!fileutils.go", "*.go"), "fileutils.go", True, True),
    # GOM: Go's filepath.Match table; a directory match covers what is inside it
    ("gom-parent-dir", ("a*",), "ab/c", True, True),
    ("gom-star-one-level", ("a*/b",), "a/c/b", False, True),
    ("gom-star-deep", ("a*b*c*d*e*/f",), "axbxcxdxe/xxx/f", False, True),
    ("gom-negated-class-hit", ("ab[^c]",), "abc", False, True),
    ("gom-negated-range", ("ab[^e-g]",), "abc", True, True),
    ("gom-question-no-slash", ("a?b",), "a/b", False, True),
    ("gom-star-no-slash", ("a*b",), "a/b", False, True),
    ("gom-question-unicode", ("a?b",), "a\u263ab", True, True),
    ("gom-class-escaped-bracket", ("[\\]a]",), "]", True, True),
    ("gom-class-escaped-dash", ("[x\\-]",), "-", True, True),
    ("gom-class-escaped-dash-no", ("[x\\-]",), "z", False, True),
    ("gom-class-unicode-range", ("*[a-\u03b6]",), "A", False, True),
    # DOC: the reference's examples
    ("doc-star-temp-file", ("*/temp*",), "somedir/temporary.txt", True, True),
    ("doc-star-temp-dir", ("*/temp*",), "somedir/temp", True, True),
    ("doc-star-temp-not-root", ("*/temp*",), "temporary.txt", False, True),
    ("doc-star-star-temp", ("*/*/temp*",), "somedir/subdir/temporary.txt", True, True),
    ("doc-temp-question", ("temp?",), "tempa", True, True),
    ("doc-temp-question-root-only", ("temp?",), "somedir/tempa", False, True),
    ("doc-starstar-go-root", ("**/*.go",), "main.go", True, True),
    ("doc-md-exception", ("*.md", "!README.md"), "README.md", False, True),
    ("doc-md-excluded", ("*.md", "!README.md"), "CHANGES.md", True, True),
    (
        "doc-secret-last",
        ("*.md", "!README*.md", "README-secret.md"),
        "README-secret.md",
        True,
        True,
    ),
    ("doc-secret-kept", ("*.md", "!README*.md", "README-secret.md"), "README-a.md", False, True),
    (
        "doc-secret-overridden",
        ("*.md", "README-secret.md", "!README*.md"),
        "README-secret.md",
        False,
        True,
    ),
    ("doc-leading-slash", ("/foo/bar",), "foo/bar", True, True),
    ("doc-no-leading-slash", ("foo/bar",), "foo/bar", True, True),
    ("doc-nothing-else", ("/foo/bar",), "x/foo/bar", False, True),
    # RA: comments, whitespace, cleaning
    ("ra-comment", ("# secret",), "# secret", False, True),
    ("ra-indented-hash-is-pattern", (" # secret",), "# secret", True, True),
    ("ra-dot-slash", ("./foo",), "foo", True, True),
    ("ra-trailing-slash-matches-file", ("foo/",), "foo", True, True),
    ("ra-dotdot-cleaned", ("foo/../bar",), "bar", True, True),
    ("ra-whitespace-trimmed", ("  *.log  ",), "x.log", True, True),
    ("ra-exception-space", ("*.log", "! /keep.log"), "keep.log", False, True),
    ("ra-blank-lines", ("", "   ", "*.log"), "a.log", True, True),
    # SRC: case sensitivity, '!' in a class, escapes, suffix matching, the walk's skip rule
    ("src-case-sensitive", ("*.MD",), "README.md", False, True),
    ("src-case-literal", ("Secret",), "secret", False, True),
    ("src-bang-is-member", ("a[!x]c",), "a!c", True, True),
    ("src-bang-not-negation", ("a[!x]c",), "abc", False, True),
    ("src-escaped-hash", ("\\#notes",), "#notes", True, True),
    ("src-escaped-question", ("what\\?",), "whatx", False, True),
    ("src-starstar-suffix", ("**file",), "dir/myfile", True, False),
    ("src-starstar-dot-suffix", ("**.txt",), "a/b.txt", True, False),
    ("src-negated-class-crosses-slash", ("a[^x]c",), "a/c", True, True),
    ("src-walk-skip-rule", ("a", "!a/b", "a"), "a/b", False, False),
    # The whitelist idiom ws generates: everything out, members back in, secrets out again.
    ("wl-kept", ("*", "!packages/foo", "**/.env*"), "packages/foo/src/x.py", False, True),
    ("wl-secret", ("*", "!packages/foo", "**/.env*"), "packages/foo/.env.local", True, True),
    ("wl-other-member", ("*", "!packages/foo", "**/.env*"), "packages/bar/x.py", True, True),
    ("wl-root-file", ("*", "!packages/foo", "**/.env*"), "README.md", True, True),
    ("wl-parent-dir", ("*", "!packages/foo", "**/.env*"), "packages", True, True),
]


@pytest.mark.parametrize(
    ("lines", "path", "expected"),
    [pytest.param(lines, path, want, id=ident) for ident, lines, path, want, _ in GOLDEN],
)
def test_golden(lines: tuple[str, ...], path: str, expected: bool) -> None:
    assert DockerIgnore.from_text("\n".join(lines)).excluded(path) is expected


def test_golden_table_is_large_and_unique() -> None:
    assert len(GOLDEN) >= 40
    assert len({row[0] for row in GOLDEN}) == len(GOLDEN)


def test_the_context_root_is_never_excluded() -> None:
    # PMF TestExclusionPatternMatchesWholeDirectory: "." never matches.
    assert not DockerIgnore(["*.go"]).excluded(".")
    assert not DockerIgnore(["**"]).excluded("./")


def test_trailing_slash_paths_are_cleaned_first() -> None:
    # PM rows with "file/" texts: moby's Matches() cleans the path before matching.
    assert DockerIgnore(["**/dir2/*"]).excluded("dir/dir2/file/")
    assert DockerIgnore(["dir/**"]).excluded("dir/dir2/file/")


def test_read_all_matches_moby_table() -> None:
    # RA: TestReadAll's input and expected patterns, line for line.
    text = "test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n"
    assert [p for _, p in read_patterns(text)] == [
        "test1",
        "test2",
        "a/file/here",
        "lastfile",
        "!inverted/abs/path",
    ]
    assert [n for n, _ in read_patterns(text)] == [1, 2, 3, 5, 7]


def test_bom_and_crlf_are_stripped() -> None:
    ignore = DockerIgnore.from_text("\ufeff*.log\r\nbuild\r\n")
    assert ignore.patterns == ("*.log", "build")


def test_exceptions_keep_their_bang() -> None:
    assert DockerIgnore.from_text("docs\n!docs/README.md").patterns == ("docs", "!docs/README.md")


@pytest.mark.parametrize(
    "pattern",
    # GOM rows whose error is filepath.ErrBadPattern, plus PM TestSingleExclamationError.
    ["[", "[^", "[^bc", "a[", "[]a]", "[-]", "[x-]", "[-x]", "\\", "[a-b-c]", "!"],
)
def test_docker_refuses_these_patterns(pattern: str) -> None:
    with pytest.raises(ConfigError) as caught:
        DockerIgnore.from_text(f"ok\n{pattern}\n", source="ctx/.dockerignore")
    assert str(caught.value).startswith("ctx/.dockerignore:2: ")
    assert caught.value.line == 2


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        # moby issue 52203: passes filepath.Match but RE2 rejects the range l-O.
        ("[Local-Only]/", "runs backwards"),
        # Docker's compiler rewrites * and ? even inside [...]: refused, not mimicked.
        ("[*]", r"inside \[\.\.\.\]"),
        # RE2 would read \d as a digit class where filepath.Match reads a 'd'.
        ("a\\d", "regex escape"),
        ("[[:alpha:]]", "POSIX"),
    ],
)
def test_patterns_ws_cannot_reproduce_are_refused(pattern: str, why: str) -> None:
    with pytest.raises(ConfigError, match=why):
        DockerIgnore.from_text(pattern)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("", "."),
        ("a//b", "a/b"),
        ("//a", "/a"),
        ("/../a", "/a"),
        ("a/./b/", "a/b"),
        ("../x", "../x"),
    ],
)
def test_go_clean(raw: str, clean: str) -> None:
    # Go's path/filepath Clean examples.
    assert go_clean(raw) == clean


@pytest.mark.parametrize(
    ("lines", "directory", "walked"),
    [
        # fsutil: literal exceptions only open directories on their way.
        (("*", "!packages/foo"), "packages", True),
        (("*", "!packages/foo"), "node_modules", False),
        (("*", "!packages/foo/**"), "packages", True),
        # Any glob in an exception means any excluded directory may hold a kept path.
        (("*", "!**/keep"), "node_modules", True),
        # No exceptions at all: an excluded directory is never entered.
        (("node_modules",), "node_modules", False),
    ],
)
def test_may_include_below(lines: tuple[str, ...], directory: str, walked: bool) -> None:
    assert DockerIgnore.from_text("\n".join(lines)).may_include_below(directory) is walked


@pytest.mark.docker
def test_engine_agrees_with_golden_rows() -> None:
    # The classic builder applies the context's .dockerignore itself only to the Dockerfile
    # (moby builder/remotecontext removeDockerfile): naming the Dockerfile after the row's
    # path makes the daemon's own matcher decide whether that path reaches the image. The
    # rows are independent builds, so they run a few at a time (one at a time took 26 s).
    rows = [(ident, lines, path, want) for ident, lines, path, want, on in GOLDEN if on]
    clients: list[docker.DockerClient] = []
    local = threading.local()

    def removed(lines: tuple[str, ...], path: str) -> bool:
        if not hasattr(local, "client"):
            local.client = engine()
            clients.append(local.client)
        context = tar_of({".dockerignore": "\n".join(lines).encode(), path: COPY_ALL})
        # No cache: side by side, one row's build must not build on a layer that another
        # row's clean-up removes meanwhile (the engine then answers "unable to find image").
        return path not in {m.name for m in copied(local.client, context, path, nocache=True)}

    try:
        with ThreadPoolExecutor(max_workers=6) as pool:
            answers = list(pool.map(lambda row: removed(row[1], row[2]), rows))
    finally:
        for client in clients:
            client.close()
    disagree = [(row[0], got) for row, got in zip(rows, answers, strict=True) if got is not row[3]]
    assert disagree == []
