"""Docker image building for ws: config, rendering, build contexts, registry pins."""
