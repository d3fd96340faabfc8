"""Word reports built on example-core."""

from example_report.report import Report, build_report, render_table

__all__ = ["Report", "build_report", "render_table"]
