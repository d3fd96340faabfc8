"""Progress of long work: live lines on a terminal, gone when done; plain lines elsewhere."""

from __future__ import annotations

import io

from ws.cli.progress import LiveBuilds, LockProgress


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_terminal_shows_a_count_the_time_left_and_each_running_build() -> None:
    stream, clock = io.StringIO(), Clock()
    display = LiveBuilds(3, stream, live=True, clock=clock)
    display("api", "[deps 2/6] RUN uv sync")
    display("web", "[deps 1/6] COPY\x1b[31m")
    frame = stream.getvalue()
    assert "Building 0/3 images\n" in frame
    assert "  api: [deps 2/6] RUN uv sync\n" in frame and "\\x1b[31m" in frame  # escaped
    clock.now += 20
    display.built("api")
    last = stream.getvalue().rsplit("\x1b[J", 1)[1]
    assert last == "Building 1/3 images, about 40 s left\n  web: [deps 1/6] COPY\\x1b[31m\n"
    display.close()
    assert stream.getvalue().endswith("\x1b[2F\x1b[J"), "the lines are gone when done"


def test_elsewhere_every_line_is_printed_with_its_member() -> None:
    stream = io.StringIO()
    display = LiveBuilds(2, stream, live=False)
    display("api", "step one")
    display.built("api")
    display("web", "step two")
    display.close()
    assert stream.getvalue() == "api | step one\nweb | step two\n"


def test_a_sync_shows_one_line_while_uv_locks_and_erases_it_even_on_failure() -> None:
    stream = io.StringIO()
    progress = LockProgress(stream, live=True, plain=False)
    progress("root", "locking")
    assert stream.getvalue() == "\r\x1b[2KLocking the workspace with uv..."
    progress.close()  # uv failed: no status came, the error must not share the line
    assert stream.getvalue().endswith("\r\x1b[2K")
    plain = io.StringIO()
    LockProgress(plain, live=False, plain=True)("root", "unchanged")
    assert plain.getvalue() == "  workspace root: unchanged\n"


def test_ws_run_draws_a_live_line_per_running_member_and_erases_them() -> None:
    import io

    from ws.cli.run_display import RunDisplay
    from ws.run.runner import Outcome

    stream = io.StringIO()
    clock = iter([0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5])
    display = RunDisplay("test", 2, stream, mode="live", show_all=False, clock=lambda: next(clock))
    display("env", "core", None)
    display("start", "core", None)
    display("env", "cli\x1b[31m", None)
    assert "  core: running test" in stream.getvalue()
    assert "\x1b[31m" not in stream.getvalue()  # a name is shown escaped
    display("done", "core", Outcome("core", "failed", 1, 1.5, output=b"boom\n"))
    display.close()
    text = stream.getvalue()
    assert "core: test FAILED (1.5 s)\nboom\n" in text
    assert text.endswith("\x1b[2F\x1b[J")  # the header and cli's line erased at the end
