"""Shared test helpers: a local package index, workspace and git repository builders."""
