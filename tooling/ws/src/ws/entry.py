"""The `ws` command's entry point: the CLI is imported inside the Ctrl-C guard, so an
interrupt while Python is still loading ws exits 130 like one at any later moment."""

import sys

INTERRUPTED = 130


def main() -> None:
    try:
        from ws.cli import main as cli_main  # noqa: PLC0415 -- imported inside the guard

        cli_main()
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(INTERRUPTED)
