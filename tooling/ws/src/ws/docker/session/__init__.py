"""A BuildKit session for ws's builds: the credentials a build needs (index secrets, the ssh
agent, registry logins) reach it through gRPC services ws serves on a connection it opens to
the engine, never through the build context, a build argument or a layer.

Imported only by `ws docker build`: grpclib, h2 and protobuf cost the other commands nothing.
"""
