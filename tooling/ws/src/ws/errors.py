"""The errors ws raises: each says what failed, where, and what to do next."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ws.printable import printable


class WsError(Exception):
    """An error the user can act on; the CLI prints its message and exits 1."""

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return self.message if self.fix is None else f"{self.message}\n  fix: {self.fix}"


class ConfigError(WsError):
    """A configuration file is wrong: names the file, where, and the fix."""

    def __init__(
        self,
        path: Path | str,
        problem: str,
        *,
        line: int | None = None,
        column: int | None = None,
        fix: str | None = None,
    ) -> None:
        where = printable(str(path))  # a name with a newline must not break the line
        if line is not None:
            where += f":{line}"
            if column is not None:
                where += f":{column}"
        super().__init__(f"{where}: {problem}", fix=fix or None)
        self.path = Path(path)
        self.line = line
        self.column = column


class WorkspaceNotFound(WsError):
    """No uv workspace above the starting directory."""


class CommandFailed(WsError):
    """A subprocess exited non-zero; carries its command line and stderr."""

    def __init__(self, argv: Sequence[str], returncode: int, stdout: str, stderr: str) -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        detail = stderr.strip() or stdout.strip() or "(no output)"
        command = printable(" ".join(self.argv))
        super().__init__(f"`{command}` exited {returncode}:\n{detail}")


class ToolNotFound(WsError):
    """A program ws runs (uv, git) is not installed."""


class GitError(WsError):
    """git refused a request (a missing ref, not a repository)."""


class LockError(WsError):
    """Locking a member failed or a lock disagrees with the root lock."""


class Busy(WsError):
    """Another ws run holds the workspace lock."""


class DockerUnavailable(WsError):
    """No Docker engine answers."""


class BuildFailed(WsError):
    """An image build failed; carries the failing step's output."""


class RegistryError(WsError):
    """A registry refused or could not answer a request."""


class StaleFiles(WsError):
    """Generated files, locks or pins are out of date (check modes)."""

    def __init__(self, problems: Sequence[str], fix: str) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  {printable(p)}" for p in self.problems)  # one line each
        super().__init__(f"{len(self.problems)} problem(s):\n{lines}", fix=fix)
