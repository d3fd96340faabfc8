"""A tiny command-line tool with no workspace dependencies."""
