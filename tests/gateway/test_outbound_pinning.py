"""DNS rebinding: the worker connects to the very address its check resolved.

A name may answer a public address when it is checked and 127.0.0.1 a moment later, when
the connection opens. The resolution is the policy's one seam (``configure(resolve=…)``):
these tests answer for the DNS, and a listener on 127.0.0.1 shows where connections go.
"""

from __future__ import annotations

import ipaddress
import ssl
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway import outbound
from gateway.outbound import OutboundRefused, check_outbound_url, outbound_client

LOOPBACK = ipaddress.ip_address("127.0.0.1")
PUBLIC = ipaddress.ip_address("193.49.160.1")  # never connected to: the tests stop first


class Recorder:
    """An HTTP(S) server on 127.0.0.1 noting, for each request, its TLS server name (SNI),
    ``Host`` header and path."""

    def __init__(self, tls: ssl.SSLContext | None = None):
        self.requests: list[tuple[str | None, str, str]] = []
        self.server_names: list[str | None] = []
        recorded, names = self.requests, self.server_names

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # connections kept alive, for a client to reuse

            def do_GET(self):
                sni = getattr(self.connection, "sni", None)
                recorded.append((sni, self.headers["Host"], self.path))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_port
        if tls is not None:

            def remember(sock, name, context):
                sock.sni = name
                names.append(name)

            tls.sni_callback = remember
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Dns:
    """Answers for names: each a list of answers, the last repeated; addresses as such."""

    def __init__(self, **answers: list[list]):
        self.answers = {name.replace("_", "."): list(each) for name, each in answers.items()}
        self.asked: list[str] = []

    def __call__(self, host: str, port: int):
        self.asked.append(host)
        try:
            return (ipaddress.ip_address(host),)
        except ValueError:
            pass
        answers = self.answers[host]
        return tuple(answers.pop(0) if len(answers) > 1 else answers[0])


@pytest.fixture
def policy():
    """Install a policy for one test, and none (unrestricted) after it."""
    yield outbound.configure
    outbound.configure(None)


@pytest.fixture
def trap():
    recorder = Recorder()
    yield recorder
    recorder.stop()


def test_a_name_rebound_to_loopback_after_its_check_is_never_connected(policy, trap):
    dns = Dns(rebind_test=[[PUBLIC], [LOOPBACK]])
    policy(["rebind.test"], resolve=dns)
    url = f"http://rebind.test:{trap.port}/oauth/token"
    check_outbound_url(url, setting="settings.chorus.token_url")  # saved: public, allowed
    with outbound_client(5.0) as client, pytest.raises(OutboundRefused, match="127.0.0.1"):
        client.get(url)
    assert dns.asked == ["rebind.test", "rebind.test"]  # checked once more, then not again
    assert trap.requests == []


def test_every_address_of_a_name_is_checked_before_any_is_connected(policy, trap):
    dns = Dns(mixed_test=[[PUBLIC, LOOPBACK]])
    policy(["mixed.test"], resolve=dns)
    with outbound_client(5.0) as client, pytest.raises(OutboundRefused, match="interne"):
        client.get(f"http://mixed.test:{trap.port}/")
    assert trap.requests == []


def test_an_allowed_loopback_name_is_reached_at_the_checked_address(policy, trap):
    # As the sandbox's configuration does: the name and its loopback address both listed.
    # No DNS knows sandbox.test: reaching the listener shows the connection went to the
    # address the check resolved, asked once.
    dns = Dns(sandbox_test=[[LOOPBACK]])
    policy(["sandbox.test", f"127.0.0.1:{trap.port}"], resolve=dns)
    with outbound_client(5.0) as client:
        answer = client.get(f"http://sandbox.test:{trap.port}/api/v1?x=1")
    assert answer.status_code == 200
    assert str(answer.request.url) == f"http://sandbox.test:{trap.port}/api/v1?x=1"
    assert trap.requests == [(None, f"sandbox.test:{trap.port}", "/api/v1?x=1")]
    assert dns.asked == ["sandbox.test"]


def test_an_unlisted_port_of_an_allowed_loopback_is_refused(policy, trap):
    policy(["sandbox.test", "127.0.0.1:1"], resolve=Dns(sandbox_test=[[LOOPBACK]]))
    with outbound_client(5.0) as client, pytest.raises(OutboundRefused):
        client.get(f"http://sandbox.test:{trap.port}/")
    assert trap.requests == []


def _certificates(directory: Path, name: str) -> tuple[Path, ssl.SSLContext]:
    """Return a CA's certificate file, and a server context holding a certificate it
    signed for ``name`` only."""
    now = datetime.now(UTC)

    def issue(subject, key, issuer, issuer_key, extensions):
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(hours=1))
        )
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")])
    ca = issue(
        ca_name, ca_key, ca_name, ca_key, [(x509.BasicConstraints(ca=True, path_length=0), True)]
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = issue(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]),
        key,
        ca_name,
        ca_key,
        [(x509.SubjectAlternativeName([x509.DNSName(name)]), False)],
    )
    ca_file, chain, key_file = (directory / n for n in ("ca.pem", "chain.pem", "key.pem"))
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    chain.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(chain, key_file)
    return ca_file, server


def test_tls_to_the_pinned_address_sends_and_verifies_the_name(policy, tmp_path, monkeypatch):
    ca_file, server_tls = _certificates(tmp_path, "chorus.test")
    # How an administrator names the authorities to trust; read when the client is made.
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    listener = Recorder(server_tls)
    try:
        dns = Dns(chorus_test=[[LOOPBACK]], other_test=[[LOOPBACK]])
        policy(["chorus.test", "other.test", f"127.0.0.1:{listener.port}"], resolve=dns)
        with outbound_client(5.0) as client:
            answer = client.get(f"https://chorus.test:{listener.port}/structures")
            assert answer.status_code == 200
            # The same address, its connection kept alive, under a name its certificate
            # does not hold: not reused for that name, a handshake of its own fails.
            with pytest.raises(httpx.ConnectError, match="certificate"):
                client.get(f"https://other.test:{listener.port}/structures")
    finally:
        listener.stop()
    assert listener.requests == [("chorus.test", f"chorus.test:{listener.port}", "/structures")]
    assert listener.server_names == ["chorus.test", "other.test"]
