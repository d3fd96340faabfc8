"""The one door to OCI registries: where a request may go (transport), one request and its
answer (exchange), docker's logins (logins) and the distribution API for a repository that
ws reads and writes (repository). docker/pin resolves tags through it."""
