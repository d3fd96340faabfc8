"""What every ws command shares: the --root state, loading the workspace, errors to exit codes."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from ws.errors import WsError

if TYPE_CHECKING:
    import networkx as nx

    from ws.workspace import Workspace

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def handle_errors(func: F) -> F:
    """Turn WsError into `error: ...` and exit 1, Ctrl-C into exit 130."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except WsError as e:
            raise fail(str(e)) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]  # wraps keeps the signature typer reads


class State:
    root: Path | None = None


STATE = State()


def load() -> tuple[Workspace, nx.DiGraph]:
    """The workspace and its graph, from --root or the current directory."""
    from ws.graph import build_graph  # noqa: PLC0415
    from ws.workspace import find_root, load_workspace  # noqa: PLC0415

    root = STATE.root if STATE.root is not None else find_root(Path.cwd())
    ws = load_workspace(root)
    for warning in ws.warnings:
        typer.echo(f"warning: {warning}", err=True)
    return ws, build_graph(ws)
