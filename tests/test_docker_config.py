"""[tool.ws.docker] validation: good tables load, every bad value is one clear ConfigError."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner
from ws.cli.app import app
from ws.docker.generate.config import (
    DEFAULT_USER,
    HealthCheck,
    ImageConfig,
    image_name,
    load_config,
    load_root_config,
)
from ws.docker.generate.render import DEFAULT_ID, RunUser, run_user
from ws.errors import ConfigError
from ws.workspace.members import load_workspace

from tests.support.files import make_workspace

DIGEST = "sha256:" + "ab" * 32
ROOT = f"""
[tool.ws.docker]
python-image = "localhost:5000/python:3.11-slim@{DIGEST}"  # pinned
uv-image = "localhost:5000/astral-sh/uv:0.13.9"
registry = "localhost:5000/team"
user = "app:app"
labels = {{ "com.example.team" = "search", "com.example.tier" = "root" }}
env = {{ LOG_LEVEL = "info", MODE = "root" }}
"""
SERVICE = """
[tool.ws.docker]
command = ["service", "--port", "8080"]
entrypoint = ["tini", "--"]
expose = [8080, "9090/udp"]
env = { MODE = "service", EMPTY = "" }
labels = { "com.example.tier" = "web" }
include = ["config/app.toml", "static"]
user = "1000:1000"

[tool.ws.docker.healthcheck]
command = ["probe"]
interval = "10s"
timeout = "1m30s"
retries = 3
start-period = "500ms"
"""


def workspace(tmp_path: Path, service: str = SERVICE, root: str = ROOT, files=None) -> Path:
    files = {"config/app.toml": "x = 1\n", "static/index.html": "<p>\n"} if files is None else files
    return make_workspace(
        tmp_path / "ws",
        {
            "core": {},
            "service": {"dependencies": ["core"], "extra": service, "files": files},
        },
        root_extra=root,
    )


def config_error(root: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(load_workspace(root))
    message = str(caught.value)
    assert "\n  fix: " in message, "every error says what to do"
    return message


def test_a_full_table_loads(tmp_path: Path) -> None:
    config = load_config(load_workspace(workspace(tmp_path)))
    assert config.root is not None
    assert str(config.root.python_image) == f"localhost:5000/python:3.11-slim@{DIGEST}"
    assert config.root.uv_image.digest is None
    assert config.root.user == "app:app"
    assert config.root.env == (("LOG_LEVEL", "info"), ("MODE", "root"))
    assert list(config.images) == ["service"], "core has no table, so no image"
    service = config.images["service"]
    assert service == ImageConfig(
        member="service",
        pyproject=service.pyproject,
        command=("service", "--port", "8080"),
        entrypoint=("tini", "--"),
        expose=("8080", "9090/udp"),
        env=(("EMPTY", ""), ("MODE", "service")),
        labels=(("com.example.tier", "web"),),
        include=("config/app.toml", "static"),
        healthcheck=HealthCheck(("probe",), "10s", "1m30s", 3, "500ms"),
        user="1000:1000",
    )
    assert image_name(config.root, "service") == "localhost:5000/team/service"


def test_defaults(tmp_path: Path) -> None:
    root = 'python-image = "localhost:5000/py:3"\nuv-image = "localhost:5000/uv:1"'
    ws = load_workspace(workspace(tmp_path, "[tool.ws.docker]\n", f"[tool.ws.docker]\n{root}"))
    config = load_root_config(ws)
    assert (config.registry, config.user, config.labels, config.env) == (None, DEFAULT_USER, (), ())
    assert image_name(config, "service") == "service"
    image = load_config(ws).images["service"]
    assert (image.command, image.healthcheck, image.expose, image.user) == (None, None, (), None)


@pytest.mark.parametrize(
    ("user", "made"),
    [
        ("app", RunUser("app", DEFAULT_ID, "app", DEFAULT_ID)),
        ("svc", RunUser("svc", DEFAULT_ID, "svc", DEFAULT_ID)),
        ("1000", RunUser("app", 1000, "app", 1000)),
        ("svc:web", RunUser("svc", DEFAULT_ID, "web", DEFAULT_ID)),
        ("1000:2000", RunUser("app", 1000, "app", 2000)),
    ],
)
def test_each_user_form_loads_and_names_the_user_the_image_makes(
    tmp_path: Path, user: str, made: RunUser
) -> None:
    """A name, a uid, name:group or uid:gid; what is left out: the name app, the id 10001, the
    user's own group."""
    config = load_config(load_workspace(workspace(tmp_path, f'[tool.ws.docker]\nuser = "{user}"')))
    assert config.images["service"].user == user
    assert run_user(user) == made
    assert made.home == f"/home/{made.name}"


def test_the_default_user_is_app_with_its_own_id() -> None:
    assert DEFAULT_USER == "app"
    assert run_user(DEFAULT_USER) == RunUser("app", 10001, "app", 10001)


def test_no_tables_no_images(tmp_path: Path) -> None:
    config = load_config(load_workspace(workspace(tmp_path, "", "")))
    assert config.root is None and config.images == {}


def test_an_image_member_needs_the_root_table(tmp_path: Path) -> None:
    message = config_error(workspace(tmp_path, root=""))
    assert "pyproject.toml: `tool.ws.docker` is missing, but service ask(s) for an image" in message


@pytest.mark.parametrize(
    ("member", "key", "problem"),
    [
        ('command = ["app", "--x\\nRUN curl evil"]', "tool.ws.docker.command[1]", "U+000A"),
        ('command = ["app\\r"]', "tool.ws.docker.command[0]", "U+000D"),
        ('command = ["app", "\\u0000"]', "tool.ws.docker.command[1]", "U+0000"),
        ('command = "app"', "tool.ws.docker.command", "must be an array, not a string"),
        ("command = []", "tool.ws.docker.command", "must not be empty"),
        ("command = [1]", "tool.ws.docker.command[0]", "must be a string, not an integer"),
        ('comand = ["app"]', "tool.ws.docker.comand", "is not a known key"),
        ('env = { A = "1\\n2" }', "tool.ws.docker.env.A", "U+000A"),
        ('env = { "A B" = "1" }', "tool.ws.docker.env.A B", "is not a valid name"),
        ('env = { PATH = "/x" }', "tool.ws.docker.env.PATH", "is set by ws"),
        ("env = { A = 1 }", "tool.ws.docker.env.A", "must be a string, not an integer"),
        ('env = ["A=1"]', "tool.ws.docker.env", "must be a table"),
        ('labels = { "a b" = "x" }', "tool.ws.docker.labels.a b", "is not a valid name"),
        (
            'labels = { "org.opencontainers.image.version" = "9" }',
            "tool.ws.docker.labels.org.opencontainers.image.version",
            "is set by ws",
        ),
        ('labels = { x = "\\t" }', "tool.ws.docker.labels.x", "U+0009"),
        ("expose = [70000]", "tool.ws.docker.expose[0]", "outside 1-65535"),
        ('expose = ["80/tcp\\nUSER root"]', "tool.ws.docker.expose[0]", "U+000A"),
        ('expose = ["http"]', "tool.ws.docker.expose[0]", "is not a port"),
        ("expose = [true]", "tool.ws.docker.expose[0]", "must be a string, not a boolean"),
        ('user = "root"', "tool.ws.docker.user", "runs the image as root"),
        ('user = "0:0"', "tool.ws.docker.user", "runs the image as root"),
        ('user = "app:root"', "tool.ws.docker.user", "runs the image as root"),
        ('user = "app:0"', "tool.ws.docker.user", "runs the image as root"),
        ('user = "1000:0"', "tool.ws.docker.user", "runs the image as root"),
        ('user = "app:"', "tool.ws.docker.user", "is not a user"),
        ('user = "app; rm"', "tool.ws.docker.user", "is not a user"),
        ('include = ["../core/x"]', "tool.ws.docker.include[0]", "not a path inside the member"),
        ('include = ["/etc/passwd"]', "tool.ws.docker.include[0]", "not a path inside the member"),
        ('include = ["missing.txt"]', "tool.ws.docker.include[0]", "does not exist"),
        ('include = ["con fig"]', "tool.ws.docker.include[0]", "a Dockerfile COPY would misread"),
        ('include = ["$HOME"]', "tool.ws.docker.include[0]", "a Dockerfile COPY would misread"),
        ('healthcheck = { interval = "1s" }', "tool.ws.docker.healthcheck.command", "is missing"),
        (
            'healthcheck = { command = ["p"], interval = "10" }',
            "tool.ws.docker.healthcheck.interval",
            "is not a duration",
        ),
        (
            'healthcheck = { command = ["p"], retries = true }',
            "tool.ws.docker.healthcheck.retries",
            "not a positive integer",
        ),
        (
            'healthcheck = { command = ["p"], every = "1s" }',
            "tool.ws.docker.healthcheck.every",
            "is not a known key",
        ),
        (
            'healthcheck = { command = ["p", "\\n"] }',
            "tool.ws.docker.healthcheck.command[1]",
            "U+000A",
        ),
    ],
)
def test_bad_member_values(tmp_path: Path, member: str, key: str, problem: str) -> None:
    root = workspace(tmp_path, f"[tool.ws.docker]\n{member}\n")
    message = config_error(root)
    assert message.startswith(str(root / "packages" / "service" / "pyproject.toml") + ": ")
    assert f"`{key}`" in message
    assert problem in message


@pytest.mark.parametrize(
    ("line", "key", "problem"),
    [
        ('python-image = "localhost:5000/Python:3"', "python-image", "not a valid image reference"),
        ('python-image = "localhost:5000/py:3\\nRUN x"', "python-image", "U+000A"),
        ('python-image = "localhost:5000/py"', "python-image", "has no tag"),
        (
            'python-image = "localhost:5000/py:3@sha256:abc"',
            "python-image",
            "not a valid image reference",
        ),
        ("uv-image = 5", "uv-image", "must be a string, not an integer"),
        ('registry = "localhost:5000/team:latest"', "registry", "not a valid registry prefix"),
        ('registry = "localhost:5000/team/"', "registry", "not a valid registry prefix"),
        ('user = "root:root"', "user", "runs the image as root"),
        ('env = { X = "a\\u001bb" }', "env.X", "U+001B"),
        ('pyhton-image = "x"', "pyhton-image", "is not a known key"),
    ],
)
def test_bad_root_values(tmp_path: Path, line: str, key: str, problem: str) -> None:
    base = {
        "python-image": 'python-image = "localhost:5000/py:3"',
        "uv-image": 'uv-image = "localhost:5000/uv:1"',
    }
    field = line.split(" = ")[0]
    body = "\n".join([v for k, v in base.items() if k != field] + [line])
    root = workspace(tmp_path, root=f"[tool.ws.docker]\n{body}\n")
    message = config_error(root)
    assert message.startswith(str(root / "pyproject.toml") + ": ")
    assert f"`tool.ws.docker.{key}`" in message
    assert problem in message


def test_missing_image_keys(tmp_path: Path) -> None:
    message = config_error(
        workspace(tmp_path, root='[tool.ws.docker]\nuv-image = "localhost:5000/uv:1"')
    )
    assert "`tool.ws.docker.python-image` is missing" in message


def test_a_table_that_is_not_a_table(tmp_path: Path) -> None:
    message = config_error(workspace(tmp_path, service='[tool.ws]\ndocker = "yes"\n'))
    assert "`tool.ws.docker` must be a table" in message


def test_include_through_a_symlink_out_of_the_member(tmp_path: Path) -> None:
    root = workspace(tmp_path, '[tool.ws.docker]\ninclude = ["leak"]\n', files={})
    (root / "packages" / "service" / "leak").symlink_to(root / "packages" / "core")
    assert "leads outside the member" in config_error(root)


# ---------------------------------------------------------------- build-files


def test_build_files_are_paths_under_the_root_that_exist(tmp_path: Path) -> None:
    service = '[tool.ws.docker]\ncommand = ["s"]\nbuild-files = ["../../shared/./deps.txt", "x"]\n'
    root = workspace(tmp_path, service, files={"x": ""})
    (root / "shared").mkdir()
    (root / "shared" / "deps.txt").write_text("core\n")
    config = load_config(load_workspace(root))
    assert config.images["service"].build_files == ("shared/deps.txt", "packages/service/x")
    assert config.build_files["service"] == ("shared/deps.txt", "packages/service/x")


def test_a_library_declaring_build_files_gets_no_image(tmp_path: Path) -> None:
    root = workspace(tmp_path, '[tool.ws.docker]\nbuild-files = ["../../VERSION"]\n', files={})
    (root / "VERSION").write_text("1.0\n")
    config = load_config(load_workspace(root))
    assert config.images == {}
    assert config.build_files == {"service": ("VERSION",)}


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ('"../../../outside.txt"', "is not a path inside the workspace root"),
        ('"/etc/passwd"', "is not a path inside the workspace root"),
        ('"../../missing.txt"', "does not exist"),
        ('"../../a b.txt"', "a Dockerfile COPY would misread"),
        ("3", "must be a string, not an integer"),
    ],
)
def test_bad_build_files(tmp_path: Path, entry: str, problem: str) -> None:
    root = workspace(tmp_path, f"[tool.ws.docker]\nbuild-files = [{entry}]\n", files={})
    message = config_error(root)
    assert message.startswith(str(root / "packages" / "service" / "pyproject.toml") + ": ")
    assert "`tool.ws.docker.build-files[0]`" in message and problem in message


def test_a_build_file_through_a_symlink_out_of_the_root(tmp_path: Path) -> None:
    root = workspace(tmp_path, '[tool.ws.docker]\nbuild-files = ["../../leak"]\n', files={})
    (tmp_path / "secret.txt").write_text("x")
    (root / "leak").symlink_to(tmp_path / "secret.txt")
    assert "leads outside the workspace root" in config_error(root)


# ---------------------------------------------------------------- a root that is a project

ROOT_PROJECT = """
[project]
name = "app"
version = "1.0"
requires-python = ">=3.11"
"""


def test_a_root_project_carries_its_image_keys_in_the_root_table(tmp_path: Path) -> None:
    own = 'command = ["app"]\nexpose = [8080]\ninclude = ["conf.toml"]\n'
    root = workspace(tmp_path, root=ROOT + own + ROOT_PROJECT)
    (root / "conf.toml").write_text("x = 1\n")
    config = load_config(load_workspace(root))
    assert config.root is not None and config.root.user == "app:app"
    app = config.images["app"]
    assert (app.command, app.expose, app.include) == (("app",), ("8080",), ("conf.toml",))
    assert app.pyproject == root / "pyproject.toml"
    assert app.env == () and app.user is None, "the root's own env and user apply as defaults"
    assert "service" in config.images


def test_a_root_project_without_image_keys_gets_no_image(tmp_path: Path) -> None:
    root = workspace(tmp_path, root=ROOT + ROOT_PROJECT)
    assert "app" not in load_config(load_workspace(root)).images


def test_a_root_without_a_project_refuses_image_keys(tmp_path: Path) -> None:
    message = config_error(workspace(tmp_path, root=ROOT + 'command = ["app"]\n'))
    assert "`tool.ws.docker.command` belongs to an image" in message
    assert "has no [project]" in message


def test_a_root_project_refuses_unknown_keys(tmp_path: Path) -> None:
    message = config_error(workspace(tmp_path, root=ROOT + "port = 1\n" + ROOT_PROJECT))
    assert "`tool.ws.docker.port` is not a known key" in message and "command" in message


def pinned_root(uv_image: str, required: str | None) -> str:
    """ROOT with uv-image and, when given, [tool.uv] required-version."""
    body = ROOT.replace('"localhost:5000/astral-sh/uv:0.13.9"', f'"{uv_image}"')
    return body + ("" if required is None else f'\n[tool.uv]\nrequired-version = "{required}"\n')


@pytest.mark.parametrize(
    ("uv_image", "required"),
    [
        ("localhost:5000/astral-sh/uv:0.13.9", None),
        ("localhost:5000/astral-sh/uv:0.13.9", "~=0.13.0"),
        (f"localhost:5000/astral-sh/uv:0.12.24-python3.12-bookworm@{DIGEST}", ">=0.12,<0.13"),
        ("localhost:5000/astral-sh/uv:latest", None),
    ],
)
def test_a_uv_image_the_pin_allows_loads(tmp_path: Path, uv_image: str, required) -> None:
    ws = load_workspace(workspace(tmp_path, root=pinned_root(uv_image, required)))
    root = load_config(ws).root
    assert root is not None and str(root.uv_image) == uv_image


@pytest.mark.parametrize(
    ("uv_image", "said"),
    [
        ("localhost:5000/astral-sh/uv:0.13.9", "holds uv 0.13.9, and"),
        ("localhost:5000/astral-sh/uv:0.12", "names no exact uv release"),  # a moving series
        ("localhost:5000/astral-sh/uv:latest", "names no exact uv release"),
    ],
)
def test_a_uv_image_the_pin_refuses_is_a_config_error(
    tmp_path: Path, uv_image: str, said: str
) -> None:
    """The uv in the image reads required-version too: refused here, not inside a build."""
    root = workspace(tmp_path, root=pinned_root(uv_image, "~=0.12.0"))
    with pytest.raises(ConfigError) as err:
        load_config(load_workspace(root))
    message = err.value.message
    assert message.startswith(f"{root / 'pyproject.toml'}: `tool.ws.docker.uv-image` = ")
    assert said in message
    assert f"`tool.uv.required-version = '~=0.12.0'` in {root / 'pyproject.toml'}" in message
    assert err.value.fix is not None and "~=0.12.0" in err.value.fix


def test_a_uv_image_older_than_the_dockerfile_needs_is_a_config_error(tmp_path: Path) -> None:
    """The dependency step runs `uv sync --no-install-local` (uv 0.8.14): an older uv would
    fail inside the build."""
    root = workspace(tmp_path, root=pinned_root("localhost:5000/astral-sh/uv:0.8.3", None))
    with pytest.raises(ConfigError) as err:
        load_config(load_workspace(root))
    assert "holds uv 0.8.3, older than the 0.8.14 the generated Dockerfile needs" in str(err.value)
    assert err.value.fix == "tag uv-image with uv 0.8.14 or newer and run `ws docker pin`"


def test_ws_docker_pin_refuses_a_uv_image_the_pin_refuses(tmp_path: Path) -> None:
    """Before asking any registry: pinning a uv the workspace refuses would only move the
    refusal to `ws docker generate`."""
    root = workspace(tmp_path, root=pinned_root("localhost:5000/astral-sh/uv:0.13.9", "~=0.12.0"))
    result = CliRunner().invoke(app, ["--root", str(root), "docker", "pin"])
    assert result.exit_code == 1, result.output
    assert "`tool.ws.docker.uv-image` = 'localhost:5000/astral-sh/uv:0.13.9' holds" in result.output


def test_the_pin_in_a_root_uv_toml_counts_for_the_uv_image(tmp_path: Path) -> None:
    root = workspace(tmp_path, root=pinned_root("localhost:5000/astral-sh/uv:0.13.9", "~=0.13.0"))
    (root / "uv.toml").write_text('required-version = "==0.12.24"\n')  # uv reads this one
    with pytest.raises(ConfigError) as err:
        load_config(load_workspace(root))
    assert f"`required-version = '==0.12.24'` in {root / 'uv.toml'}" in err.value.message


# ---------------------------------------------------------------- extras


def extras_workspace(tmp_path: Path, extras: str, optional: str | None = None) -> Path:
    """service with the extras Server and metrics, or with the TOML optional instead."""
    service: dict[str, Any] = {"optional-dependencies": {"Server": ["core"], "metrics": []}}
    if optional is not None:
        service = {}
    table = f'[tool.ws.docker]\ncommand = ["s"]\nextras = {extras}\n'
    service["extra"] = f"{optional or ''}\n{table}"
    return make_workspace(tmp_path / "ws", {"core": {}, "service": service}, root_extra=ROOT)


def test_extras_load_normalised_as_uv_writes_them(tmp_path: Path) -> None:
    root = extras_workspace(tmp_path, '["server", "Metrics", "SERVER"]')
    assert load_config(load_workspace(root)).images["service"].extras == ("server", "metrics")


@pytest.mark.parametrize(
    ("extras", "optional", "key", "problem", "fix"),
    [
        ('["server", "web"]', None, "extras[1]", "= 'web' is not an extra of service",
         "use one of its extras: metrics, server"),
        ('["server"]', "", "extras[0]", "= 'server' is not an extra of service",
         "declare it under [project.optional-dependencies] of service"),
        ('"server"', None, "extras", "must be an array, not a string", 'extras = ["server"]'),
        ("[1]", None, "extras[0]", "must be a string, not an integer", "quote it"),
        ('["server --no-dev"]', None, "extras[0]", "= 'server --no-dev' is not an extra's name",
         "letters, digits"),
    ],
)  # fmt: skip
def test_bad_extras(
    tmp_path: Path, extras: str, optional: str | None, key: str, problem: str, fix: str
) -> None:
    root = extras_workspace(tmp_path, extras, optional)
    with pytest.raises(ConfigError) as caught:
        load_config(load_workspace(root))
    assert caught.value.path == root / "packages" / "service" / "pyproject.toml"
    assert f"`tool.ws.docker.{key}` {problem}" in str(caught.value)
    assert fix in (caught.value.fix or "")


def test_dynamic_extras_take_any_well_formed_name(tmp_path: Path) -> None:
    root = extras_workspace(tmp_path, '["gpu"]', "[tool.hatch.metadata.hooks.custom]\n")
    pyproject = root / "packages/service/pyproject.toml"
    dynamic = 'version = "0.1.0"\ndynamic = ["optional-dependencies"]'
    pyproject.write_text(pyproject.read_text().replace('version = "0.1.0"', dynamic))
    assert load_config(load_workspace(root)).images["service"].extras == ("gpu",)


def test_a_root_project_asks_for_its_extras_in_the_root_table(tmp_path: Path) -> None:
    project = ROOT_PROJECT + "\n[project.optional-dependencies]\nfast = []\n"
    root = workspace(tmp_path, root=ROOT + 'command = ["app"]\nextras = ["fast"]\n' + project)
    assert load_config(load_workspace(root)).images["app"].extras == ("fast",)
