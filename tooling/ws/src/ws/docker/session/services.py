"""The gRPC services ws serves in a build session, as BuildKit asks for them: secrets by id,
the host's ssh agent, registry logins, and the health check the engine polls every second
(a session that does not answer it is closed)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping

from grpclib._typing import IServable  # the type grpclib.server.Server takes its handlers as
from grpclib.const import Status
from grpclib.exceptions import GRPCError
from grpclib.health.service import Health
from grpclib.server import Stream

from ws.docker.session.plan import Logins, Offer
from ws.docker.session.protocol import (
    auth_grpc,
    auth_pb2,
    secrets_grpc,
    secrets_pb2,
    ssh_grpc,
    ssh_pb2,
)

DEFAULT_SSH_ID = "default"  # what `RUN --mount=type=ssh` asks for when it names no id
_CHUNK = 32 * 1024


def methods(offer: Offer) -> list[str]:
    """The gRPC methods the session tells the engine it serves (BuildKit asks only those)."""
    found = ["/grpc.health.v1.Health/Check"]
    found += ["/moby.buildkit.secrets.v1.Secrets/GetSecret"]
    found += ["/moby.sshforward.v1.SSH/CheckAgent", "/moby.sshforward.v1.SSH/ForwardAgent"]
    if offer.logins is not None:
        found.append("/moby.filesync.v1.Auth/Credentials")
    return found


def handlers(offer: Offer) -> list[IServable]:
    found: list[IServable] = [Health(), Secrets(offer.secrets), AgentForward(offer.ssh_agent)]
    if offer.logins is not None:
        found.append(RegistryLogins(offer.logins))
    return found


class Secrets(secrets_grpc.SecretsBase):
    """The secrets a build mounts (`RUN --mount=type=secret,id=...`); an unknown id is
    NOT_FOUND, which BuildKit takes as "not given" for a mount that does not require it."""

    def __init__(self, secrets: Mapping[str, bytes]) -> None:
        self._secrets = dict(secrets)

    async def GetSecret(
        self, stream: Stream[secrets_pb2.GetSecretRequest, secrets_pb2.GetSecretResponse]
    ) -> None:
        request = await stream.recv_message()
        data = self._secrets.get(request.ID) if request is not None else None
        if data is None:
            raise GRPCError(Status.NOT_FOUND, "no such secret in ws's build session")
        await stream.send_message(secrets_pb2.GetSecretResponse(data=data))


class AgentForward(ssh_grpc.SSHBase):
    """The host's ssh agent for `RUN --mount=type=ssh`: each ForwardAgent stream is one
    connection to the agent's socket, its bytes relayed both ways."""

    def __init__(self, agent: str | None) -> None:
        self._agent = agent

    async def CheckAgent(
        self, stream: Stream[ssh_pb2.CheckAgentRequest, ssh_pb2.CheckAgentResponse]
    ) -> None:
        request = await stream.recv_message()
        wanted = request.ID if request is not None and request.ID else DEFAULT_SSH_ID
        if self._agent is None or wanted != DEFAULT_SSH_ID:
            raise GRPCError(Status.NOT_FOUND, f"no ssh agent {wanted!r} in ws's build session")
        await stream.send_message(ssh_pb2.CheckAgentResponse())

    async def ForwardAgent(
        self, stream: Stream[ssh_pb2.BytesMessage, ssh_pb2.BytesMessage]
    ) -> None:
        if self._agent is None:
            raise GRPCError(Status.NOT_FOUND, "no ssh agent in ws's build session")
        try:
            reader, writer = await asyncio.open_unix_connection(self._agent)
        except OSError as e:
            raise GRPCError(Status.UNAVAILABLE, f"cannot reach the ssh agent: {e}") from e
        upstream = asyncio.ensure_future(_to_agent(stream, writer))
        try:
            while chunk := await reader.read(_CHUNK):
                await stream.send_message(ssh_pb2.BytesMessage(data=chunk))
        finally:
            upstream.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await upstream
            writer.close()


async def _to_agent(
    stream: Stream[ssh_pb2.BytesMessage, ssh_pb2.BytesMessage], writer: asyncio.StreamWriter
) -> None:
    while (message := await stream.recv_message()) is not None:
        writer.write(message.data)
        await writer.drain()
    writer.write_eof()


class RegistryLogins(auth_grpc.AuthBase):
    """Registry credentials as the docker CLI's session gives them (its authprovider): an
    identity token as the secret with no username, else username and password; an empty
    answer for a registry with none, which BuildKit then pulls from anonymously. Token
    fetching stays BuildKit's (the engine is told only of Credentials)."""

    def __init__(self, logins: Logins) -> None:
        self._logins = logins

    async def Credentials(
        self, stream: Stream[auth_pb2.CredentialsRequest, auth_pb2.CredentialsResponse]
    ) -> None:
        request = await stream.recv_message()
        host = request.Host if request is not None else ""
        # A credential helper is a program: ask it off the loop that serves the health checks.
        found = await asyncio.get_running_loop().run_in_executor(None, self._logins, host)
        username, secret = found or ("", "")
        await stream.send_message(auth_pb2.CredentialsResponse(Username=username, Secret=secret))

    async def FetchToken(self, stream: Stream[auth_pb2.FetchTokenRequest, object]) -> None:
        raise GRPCError(Status.UNIMPLEMENTED)

    async def GetTokenAuthority(
        self, stream: Stream[auth_pb2.GetTokenAuthorityRequest, object]
    ) -> None:
        raise GRPCError(Status.UNIMPLEMENTED)

    async def VerifyTokenAuthority(
        self, stream: Stream[auth_pb2.VerifyTokenAuthorityRequest, object]
    ) -> None:
        raise GRPCError(Status.UNIMPLEMENTED)
