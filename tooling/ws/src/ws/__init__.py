"""ws: a monorepo workspace manager for uv workspaces, with a Docker image builder."""

__version__ = "0.1.0"
