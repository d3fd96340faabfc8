"""A loopback stand-in for trusted publishing on GitHub Actions, over https with a throwaway
certificate authority made here: the runner's ID-token endpoint, the index's OIDC audience
and token exchange (`/_/oidc/audience`, `/_/oidc/mint-token`, as uv asks them of the
publish URL's host), and an upload endpoint that takes only the minted token and hands the
file to a real pypiserver. Reads (`/simple/`, `/packages/`) are passed to pypiserver too."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import ssl
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.pypiserver import PASSWORD, USER, PyPIServer

AUDIENCE = "ws-test-index"
REQUEST_TOKEN = "runner-request-token"  # noqa: S105 -- what the runner gives the job, fake
MINTED = "pypi-minted-upload-token"
CLAIMS = {
    "sub": "repo:example/ws:ref:refs/heads/main",
    "repository": "example/ws",
    "repository_owner": "example",
    "repository_owner_id": "1",
    "job_workflow_ref": "example/ws/.github/workflows/release.yml@refs/heads/main",
    "ref": "refs/heads/main",
    "environment": "release",
    "aud": AUDIENCE,
}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


ID_TOKEN = ".".join(
    [_b64(b'{"alg":"none","typ":"JWT"}'), _b64(json.dumps(CLAIMS).encode()), _b64(b"sig")]
)


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A CA (ca.pem, for SSL_CERT_FILE) and a server certificate for 127.0.0.1 it signed."""
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ws test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_ca_usage(), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=2))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(pem))
    paths[1].write_bytes(server.public_bytes(pem))
    paths[2].write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


def _ca_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


class OidcStandIn:
    """The https server; .seen lists (method, path) in the order they came."""

    def __init__(self, folder: Path, index: PyPIServer) -> None:
        self.ca, cert, key = make_certificates(folder)
        self.index = index
        self.seen: list[tuple[str, str]] = []
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.standin = self
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    standin: OidcStandIn


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:  # the names http.server dispatches to
        self._get(head=False)

    def do_HEAD(self) -> None:
        self._get(head=True)

    def do_POST(self) -> None:
        path = self._seen("POST")
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if path == "/_/oidc/mint-token":
            good = json.loads(body or b"{}").get("token") == ID_TOKEN
            self._json(200 if good else 422, {"token": MINTED} if good else {"message": "no"})
        elif path == "/legacy/" and self.headers.get("Authorization") == _minted_auth():
            self._forward("POST", body)
        else:
            self._json(403, {"message": "upload needs the minted token"})

    def _seen(self, method: str) -> str:
        path = urlsplit(self.path).path
        self.server.standin.seen.append((method, path))
        return path

    def _get(self, *, head: bool) -> None:
        path = self._seen("HEAD" if head else "GET")
        if path == "/_/oidc/audience":
            self._json(200, {"audience": AUDIENCE})
        elif path == "/id-token":
            query = parse_qs(urlsplit(self.path).query)
            bearer = self.headers.get("Authorization", "").lower() == f"bearer {REQUEST_TOKEN}"
            good = bearer and query.get("audience") == [AUDIENCE]
            self._json(200 if good else 403, {"value": ID_TOKEN} if good else {})
        else:
            self._forward("HEAD" if head else "GET", None)

    def _forward(self, method: str, body: bytes | None) -> None:
        """To pypiserver: an upload with its own password, a read as it is."""
        index = self.server.standin.index.upload_url.rstrip("/")
        target = index + (self.path if body is None else "/")
        request = urllib.request.Request(target, data=body, method=method)  # noqa: S310 -- loopback http
        if body is not None:
            request.add_header("Content-Type", self.headers["Content-Type"])
            pair = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            request.add_header("Authorization", f"Basic {pair}")
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 -- loopback http
                status, ctype, data = answer.status, answer.headers["Content-Type"], answer.read()
        except urllib.error.HTTPError as e:
            status, ctype, data = e.code, "text/plain", e.read()
        self._send(status, ctype or "text/plain", data, head=method == "HEAD")

    def _json(self, status: int, payload: object) -> None:
        self._send(status, "application/json", json.dumps(payload).encode())

    def _send(self, status: int, ctype: str, data: bytes, *, head: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if not head:
            self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep pytest output free of access logs


def _minted_auth() -> str:
    return "Basic " + base64.b64encode(f"__token__:{MINTED}".encode()).decode()
