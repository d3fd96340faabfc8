"""python -m ws."""

from ws.cli import main

main()
