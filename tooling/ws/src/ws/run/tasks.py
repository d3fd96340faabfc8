"""Tasks: declared once at the root (`[tool.ws.tasks]`), overridden per member in its own
pyproject.toml, parsed here once and checked field by field.

    [tool.ws.tasks]
    test = "pytest -q"
    lint = { cmd = "ruff check", env = ["RUFF_OUTPUT_FORMAT"] }
    cov = { cmd = "pytest --cov", outputs = ["coverage.xml"], if-exists = ["tests"] }

A command is split as a shell would split it (shlex) but never run through a shell: `cmd`
may be a list of arguments too. It runs in the member's folder, in the member's exact
environment.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from ws.errors import ConfigError
from ws.workspace.members import Member, Workspace

_FIELDS = frozenset({"cmd", "env", "outputs", "if-exists", "timeout"})
_EXAMPLE = '[tool.ws.tasks] test = "pytest -q"'


@dataclass(frozen=True)
class Task:
    """One task as it applies to one member."""

    name: str
    argv: tuple[str, ...]
    # Variables whose values the result depends on: they key it (and nothing else of the
    # environment does, so that a result is reused across machines).
    env: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()  # member-relative glob patterns, stored with the result
    if_exists: tuple[str, ...] = ()  # member-relative paths: the task applies if all exist
    timeout: float | None = None
    declared_in: Path | None = None
    own: bool = False  # declared by the member itself, not inherited from the root


def declared(ws: Workspace) -> dict[str, dict[str, Task]]:
    """Member name -> task name -> its task: the root's tasks, each member's own over them."""
    root = _tasks_of(ws.data, ws.pyproject, own=False)
    tasks: dict[str, dict[str, Task]] = {}
    for name, member in ws.members.items():
        mine = _tasks_of(member.data, member.pyproject, own=True)
        tasks[name] = {**root, **mine} if member.pyproject != ws.pyproject else root
    return tasks


def task_names(tasks: Mapping[str, Mapping[str, Task]]) -> list[str]:
    return sorted({t for per_member in tasks.values() for t in per_member})


def _tasks_of(data: Mapping[str, Any], path: Path, *, own: bool) -> dict[str, Task]:
    table = data.get("tool", {}).get("ws", {}).get("tasks", {})
    if not isinstance(table, dict):
        raise ConfigError(path, "[tool.ws.tasks] must be a table of task names", fix=_EXAMPLE)
    return {name: _task(name, value, path, own=own) for name, value in table.items()}


def _task(name: str, value: Any, path: Path, *, own: bool) -> Task:
    where = f"tool.ws.tasks.{name}"
    if isinstance(value, (str, list)):
        value = {"cmd": value}
    if not isinstance(value, dict):
        raise ConfigError(path, f"{where} must be a command or a table", fix=_EXAMPLE)
    unknown = sorted(set(value) - _FIELDS)
    if unknown:
        raise ConfigError(
            path,
            f"{where} has unknown field(s): {', '.join(unknown)}",
            fix=f"use only: {', '.join(sorted(_FIELDS))}",
        )
    return Task(
        name=name,
        argv=_argv(value.get("cmd"), f"{where}.cmd", path),
        env=_names(value.get("env", []), f"{where}.env", path),
        outputs=_paths(value.get("outputs", []), f"{where}.outputs", path),
        if_exists=_paths(value.get("if-exists", []), f"{where}.if-exists", path),
        timeout=_timeout(value.get("timeout"), f"{where}.timeout", path),
        declared_in=path,
        own=own,
    )


def _argv(cmd: Any, where: str, path: Path) -> tuple[str, ...]:
    fix = f'give {where} a command line, e.g. cmd = "pytest -q"'
    if isinstance(cmd, str):
        try:
            argv = shlex.split(cmd)
        except ValueError as e:
            raise ConfigError(path, f"{where}: {e}", fix=fix) from e
    elif isinstance(cmd, list) and all(isinstance(a, str) for a in cmd):
        argv = list(cmd)
    else:
        raise ConfigError(path, f"{where} must be a string or a list of strings", fix=fix)
    if not argv or not argv[0]:
        raise ConfigError(path, f"{where} is empty", fix=fix)
    return tuple(argv)


def _strings(value: Any, where: str, path: Path, fix: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(path, f"{where} must be a list of non-empty strings", fix=fix)
    return tuple(value)


def _names(value: Any, where: str, path: Path) -> tuple[str, ...]:
    fix = f'list variable names, e.g. {where.rsplit(".", 1)[-1]} = ["CI"]'
    names = _strings(value, where, path, fix)
    for name in names:
        if "=" in name or "\0" in name:
            raise ConfigError(path, f"{where}: {name!r} is not a variable name", fix=fix)
    return tuple(sorted(set(names)))


def _paths(value: Any, where: str, path: Path) -> tuple[str, ...]:
    fix = f'list paths inside the member, e.g. {where.rsplit(".", 1)[-1]} = ["tests"]'
    paths = _strings(value, where, path, fix)
    for p in paths:
        pure = PurePosixPath(p)
        if pure.is_absolute() or ".." in pure.parts or "\\" in p:
            raise ConfigError(path, f"{where}: {p!r} is not inside the member", fix=fix)
    return paths


def _timeout(value: Any, where: str, path: Path) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError(
            path, f"{where} must be a positive number of seconds", fix="timeout = 600"
        )
    return float(value)


def applies(task: Task, member: Member) -> str | None:
    """None when task applies to member, else why not (a path it needs is missing)."""
    for rel in task.if_exists:
        if not (member.path / rel).exists():
            return f"no {rel} in {member.rel}"
    return None
