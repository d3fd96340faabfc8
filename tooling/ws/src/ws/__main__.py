"""python -m ws."""

from ws.entry import main

main()
