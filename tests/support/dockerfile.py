"""A generated Dockerfile read back as data: its stages, their instructions, and what each
stage reads from the build context (COPY sources, RUN --mount=type=bind sources) and where."""

from __future__ import annotations

import json
from dataclasses import dataclass

Read = tuple[str, str]  # (source in the build context, target in the stage)


@dataclass(frozen=True)
class Instruction:
    """One instruction with its continuation lines joined: keyword, --flags, the rest."""

    keyword: str
    flags: tuple[str, ...]
    args: str

    def binds(self, *, writable: bool | None = None) -> list[Read]:
        """The context bind mounts of a RUN; writable True or False: only rw or only read-only."""
        found = []
        for flag in self.flags if self.keyword == "RUN" else ():
            if not flag.startswith("--mount="):
                continue
            options = _options(flag.removeprefix("--mount="))
            if options.get("type") != "bind" or "from" in options:
                continue
            if writable is None or ("rw" in options) == writable:
                found.append((options.get("source", "."), options["target"]))
        return found

    def copies(self) -> list[Read]:
        """The context paths of a COPY (none for COPY --from), each with its destination."""
        if self.keyword != "COPY" or any(f.startswith("--from=") for f in self.flags):
            return []
        paths = json.loads(self.args) if self.args.startswith("[") else self.args.split()
        return [(source, paths[-1]) for source in paths[:-1]]


@dataclass(frozen=True)
class Stage:
    name: str
    base: str
    instructions: tuple[Instruction, ...]

    def of(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    @property
    def copies(self) -> list[Read]:
        return [read for i in self.instructions for read in i.copies()]

    @property
    def mounts(self) -> list[Read]:
        """The context bind mounts of the stage's RUN instructions, in order."""
        return [read for i in self.instructions for read in i.binds()]

    @property
    def reads(self) -> list[Read]:
        """Everything the stage takes from the context: COPY sources and bind mounts."""
        return [read for i in self.instructions for read in [*i.copies(), *i.binds()]]


@dataclass(frozen=True)
class Dockerfile:
    stages: tuple[Stage, ...]

    def __getitem__(self, name: str) -> Stage:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(f"no stage {name!r} among {[s.name for s in self.stages]}")

    @property
    def sources(self) -> set[str]:
        """Every context path any stage reads."""
        return {source for stage in self.stages for source, _ in stage.reads}


def parse_dockerfile(text: str) -> Dockerfile:
    """The stages of text, each FROM ... AS name with the instructions after it."""
    stages: list[tuple[str, str, list[Instruction]]] = []
    for instruction in _instructions(text):
        if instruction.keyword == "FROM":
            base, _, name = instruction.args.partition(" AS ")
            stages.append((name, base, []))
        else:
            stages[-1][2].append(instruction)
    return Dockerfile(tuple(Stage(name, base, tuple(body)) for name, base, body in stages))


def _instructions(text: str) -> list[Instruction]:
    """Every instruction, its lines joined by one space; comments and blank lines dropped."""
    found = []
    parts: list[str] = []
    for line in text.splitlines():
        if not parts and (not line.strip() or line.lstrip().startswith("#")):
            continue
        part = line.strip()
        parts.append(part.removesuffix("\\").rstrip())
        if part.endswith("\\"):
            continue
        keyword, *words = " ".join(parts).split(" ")
        parts = []
        flags = 0
        while flags < len(words) and words[flags].startswith("--"):
            flags += 1
        found.append(Instruction(keyword, tuple(words[:flags]), " ".join(words[flags:])))
    return found


def _options(spec: str) -> dict[str, str]:
    """key=value,flag -> {key: value, flag: ""}."""
    pairs = (part.partition("=") for part in spec.split(","))
    return {key: value for key, _, value in pairs}
