"""HTTP service answering with word reports from example-core and example-report."""

from example_service.app import main, make_server

__all__ = ["main", "make_server"]
