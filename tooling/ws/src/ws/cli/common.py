"""What every ws command shares: the global options, loading the workspace, and how output,
errors and exit codes look (as uv's: `error:` and `hint:` lines; 2 for usage; Ctrl-C: ws.entry)."""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from ws.errors import WsError
from ws.printable import printable, printable_lines

if TYPE_CHECKING:
    import networkx as nx

    from ws.state import Records
    from ws.workspace.members import Workspace

F = TypeVar("F", bound=Callable[..., Any])
USAGE = 2
# Global options, accepted before or after the subcommand as uv accepts them.
GLOBAL_VALUED = frozenset({"--root", "--directory", "--color"})
GLOBAL_FLAGS = frozenset({"--quiet", "--verbose", "--offline", "--no-progress"})
_COUNTED = re.compile(r"-(q+|v+)")
_ANSI = {"error": "\x1b[1;31m", "warning": "\x1b[1;33m", "hint": "\x1b[1;36m"}


@dataclass
class Settings:
    """The global options of this run."""

    root: Path | None = None
    quiet: int = 0
    verbose: int = 0
    color: bool = False
    progress: bool = True
    offline: bool = False


SETTINGS = Settings()


def wants_color(choice: str, env: dict[str, str], stream: Any) -> bool:
    """--color always|never|auto; auto honours NO_COLOR and FORCE_COLOR, then the terminal."""
    if choice != "auto":
        return choice == "always"
    if env.get("NO_COLOR"):
        return False
    if env.get("FORCE_COLOR"):
        return True
    return bool(getattr(stream, "isatty", lambda: False)()) and env.get("TERM") != "dumb"


def hoist_global_options(argv: Sequence[str]) -> list[str]:
    """argv with the global options found after the subcommand moved before it."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest += argv[i:]
            break
        name = arg.split("=", 1)[0]
        if name in GLOBAL_VALUED and "=" not in arg and i + 1 < len(argv):
            front += [arg, argv[i + 1]]
            i += 1
        elif name in GLOBAL_VALUED or arg in GLOBAL_FLAGS or _COUNTED.fullmatch(arg):
            front.append(arg)
        else:
            rest.append(arg)
        i += 1
    return front + rest


def label(kind: str, text: str) -> str:
    """`error: text`, the label bold and coloured when colour is on."""
    prefix = f"{_ANSI[kind]}{kind}:\x1b[0m" if SETTINGS.color else f"{kind}:"
    return f"{prefix} {text}"


def emit(text: str, *, err: bool = False, kind: str | None = None) -> None:
    """The one door of ws's output: every line shown with its control characters escaped
    (display.printable_lines), then ws's own label and colour. A diagnostic's (kind's) later
    lines are indented, so no text inside it can start a line that reads as ws's own."""
    lines = printable_lines(text).split("\n")
    if kind is not None:
        lines = [label(kind, lines[0]), *(_indented(line) for line in lines[1:])]
    # color=: click strips escape sequences from a stream that is not a terminal otherwise
    typer.echo("\n".join(lines), err=err, color=SETTINGS.color)


def _indented(line: str) -> str:
    return line if not line or line[0].isspace() else f"  {line}"


def report_error(message: str, fix: str | None = None) -> None:
    emit(message, err=True, kind="error")
    if fix:
        emit(fix, err=True, kind="hint")


def warn(message: str) -> None:
    if SETTINGS.quiet < 2:
        emit(message, err=True, kind="warning")


def say(text: str) -> None:
    """A status line (what changed, that all is well): hidden by -q."""
    if SETTINGS.quiet == 0:
        emit(text)


def out(text: str) -> None:
    """What the command was asked for (a list, a graph, JSON): hidden only by -qq."""
    if SETTINGS.quiet < 2:
        emit(text)


def handle_errors(func: F) -> F:
    """Turn WsError into `error:` and `hint:` lines and exit 1 (Ctrl-C: see ws.entry)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except WsError as e:
            report_error(e.message, e.fix)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]  # wraps keeps the signature typer reads


def usage_error(message: str, fix: str | None = None) -> typer.Exit:
    """A usage error raised by a command: same look as the parser's, exit 2."""
    report_error(message, fix)
    return typer.Exit(USAGE)


def live_progress() -> bool:
    """Whether long work may redraw lines in place: a terminal, not CI, neither
    --no-progress nor -q, nor -v (which asks for every line)."""
    terminal = sys.stderr.isatty() and not os.environ.get("CI")
    return terminal and SETTINGS.progress and SETTINGS.verbose == 0


def lock_env() -> dict[str, str]:
    """The environment uv runs with: this one, plus --offline."""
    env = dict(os.environ)
    if SETTINGS.offline:
        env["UV_OFFLINE"] = "1"
    return env


def user_home(env: dict[str, str]) -> Path | None:
    """$HOME, where uv finds the user's uv.toml; None when unset."""
    return Path(env["HOME"]) if env.get("HOME") else None


def cache_home(env: dict[str, str]) -> Path | None:
    """The user's cache folder, as uv finds its own: $XDG_CACHE_HOME, else ~/.cache."""
    if env.get("XDG_CACHE_HOME"):
        return Path(env["XDG_CACHE_HOME"])
    home = user_home(env)
    return home / ".cache" if home else None


def open_records(ws: Workspace) -> Records:
    """This run's records of what this machine verified (ws.state), read once; the command
    saves them once at its end."""
    from ws.git import tracks
    from ws.state import load_records, machine_key

    key = machine_key(cache_home(dict(os.environ)))
    return load_records(ws.root, key, lambda path: tracks(ws.root, path))


def workspace_uv(ws: Workspace, env: dict[str, str]) -> str:
    """The uv binary to run in ws: one its `required-version` allows. -v says which, and why."""
    from ws import uv  # imported by the commands that run uv only

    choice = uv.choose_uv(env, uv.required_version(ws.root, ws.data), uv.bundled_uv())
    if SETTINGS.verbose and SETTINGS.quiet < 2:
        # one line, whatever the paths in it hold (a newline included)
        emit(printable(f"uv {choice.version} at {choice.binary}: {choice.why}"), err=True)
    return choice.binary


def load() -> tuple[Workspace, nx.DiGraph]:
    """The workspace and its graph, from --root or the current directory."""
    from ws.workspace.graph import build_graph

    ws = load_workspace_only()
    return ws, build_graph(ws)


def load_workspace_only() -> Workspace:
    """The workspace, for commands that need no graph (and so no networkx)."""
    from ws.workspace.members import find_workspace, load_workspace

    if SETTINGS.root is not None:
        ws = load_workspace(SETTINGS.root)
    else:
        ws = load_workspace(*find_workspace(Path.cwd()))
    for warning in ws.warnings:
        warn(warning)
    return ws


def run_app(app: typer.Typer, argv: Sequence[str]) -> int:
    """Run the typer app on argv; parser errors print as `error:`/`hint:` and exit 2."""
    from click import exceptions as click_errors

    try:
        code = app(args=hoist_global_options(argv), prog_name="ws", standalone_mode=False)
    except click_errors.NoArgsIsHelpError as e:
        emit(e.ctx.get_help() if e.ctx else "", err=True)
        return USAGE
    except click_errors.UsageError as e:
        path = e.ctx.command_path if e.ctx else "ws"
        report_error(e.format_message(), f"`{path} --help` lists what it takes")
        return USAGE
    return code if isinstance(code, int) else 0
