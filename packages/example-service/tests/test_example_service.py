import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from importlib.metadata import requires

import pytest
from example_service import make_server


@pytest.fixture
def base_url() -> Iterator[str]:
    server = make_server("127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback only
            assert response.headers["Content-Type"] == "application/json"
            return response.status, json.load(response)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def test_health(base_url: str) -> None:
    status, body = get(f"{base_url}/health")
    assert status == 200
    assert body["status"] == "ok"
    assert body["version"] == "0.1.0"
    assert isinstance(body["uptime"], str)


def test_report_uses_both_libraries(base_url: str) -> None:
    status, body = get(f"{base_url}/report?text=Hello+world.+Hello+again!&title=Greetings&top=1")
    assert status == 200
    assert body == {
        "title": "Greetings",
        "slug": "greetings",
        "stats": {"characters": 25, "words": 4, "unique_words": 3, "sentences": 2},
        "top_words": [["hello", 2]],
        "reading_seconds": 2,
        "id": "greetings-4-words",
    }


@pytest.mark.parametrize(
    ("path", "status", "error"),
    [
        ("/report", 400, "give the text"),
        ("/report?text=hi&top=many", 400, "top must be a whole number"),
        ("/report?text=hi&top=-2", 400, "top must be a whole number"),
        ("/nowhere", 404, "no such path: /nowhere"),
    ],
)
def test_bad_requests_get_json_errors(base_url: str, path: str, status: int, error: str) -> None:
    got_status, body = get(base_url + path)
    assert got_status == status
    assert error in body["error"]


def test_dev_group_is_not_a_runtime_dependency() -> None:
    runtime = [req.split(";")[0] for req in requires("example-service") or []]
    assert not any(req.startswith("pytest") for req in runtime)
    assert any(req.startswith("example-report") for req in runtime)
