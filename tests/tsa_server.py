"""A real RFC 3161 time-stamping authority on loopback, for the tests: OpenSSL's own
(``openssl ts -reply``) behind a small HTTP server, with a throwaway CA and TSA certificate
made here with ``cryptography``. Its ``mode`` makes it misbehave as a real one may."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from asn1crypto import tsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: What OpenSSL's TSA answers with (openssl-ts(1), section "CONFIGURATION FILE OPTIONS").
OPENSSL_CONFIG = """\
[ tsa ]
default_tsa = tsa_config

[ tsa_config ]
dir = {directory}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.pem
certs = $dir/ca.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
other_policies = 1.2.3.4.5
digests = sha256, sha384, sha512
accuracy = secs:1
clock_precision_digits = 0
ordering = no
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def openssl_ts() -> str | None:
    """Return the ``openssl`` binary when it has the ``ts`` command, else None."""
    binary = shutil.which("openssl")
    if binary is None:
        return None
    done = subprocess.run([binary, "ts", "-help"], capture_output=True)
    return binary if b"-reply" in done.stdout + done.stderr else None


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "facture-gateway tests"),
        ]
    )


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


class Authority:
    """A CA and the time-stamping certificate it issued (extendedKeyUsage timeStamping,
    critical), as files in ``directory``: ``ca.pem``, ``tsa.pem``, ``tsa.key``."""

    def __init__(self, directory: Path, name: str = "Horodatage de test", key: str = "rsa"):
        self.directory = directory
        self.name = name
        directory.mkdir(parents=True, exist_ok=True)
        now = datetime.now(UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        self.ca = (
            x509.CertificateBuilder()
            .subject_name(_name(f"{name} CA"))
            .issuer_name(_name(f"{name} CA"))
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
            .sign(ca_key, hashes.SHA256())
        )
        tsa_key = (
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
            if key == "rsa"
            else ec.generate_private_key(ec.SECP256R1())
        )
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(self.ca.subject)
            .public_key(tsa_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
            )
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=True,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(tsa_key.public_key()), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
            )
            .sign(ca_key, hashes.SHA256())
        )
        self.ca_file = directory / "ca.pem"
        self.ca_file.write_bytes(_pem(self.ca))
        self.certificate_file = directory / "tsa.pem"
        self.certificate_file.write_bytes(_pem(self.certificate))
        key_file = directory / "tsa.key"
        key_file.write_bytes(
            tsa_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        key_file.chmod(0o600)
        (directory / "serial").write_text("01\n")
        self.config_file = directory / "openssl-tsa.cnf"
        self.config_file.write_text(OPENSSL_CONFIG.format(directory=directory))


class TsaServer:
    """``authority``'s TSA over HTTP on 127.0.0.1, answering each ``POST`` with what
    ``openssl ts -reply`` makes of the query. ``mode``:

    - ``"ok"``: OpenSSL's reply;
    - ``"http-error"``: 500 and no reply;
    - ``"garbage"``: 200 and bytes that are no reply;
    - ``"rejection"``: a reply refusing the request (status rejection, badAlg);
    - ``"replay"``: the previous reply again (another nonce, another message);
    - ``"slow"``: OpenSSL's reply, 2 seconds late.
    """

    def __init__(self, authority: Authority, openssl: str):
        self.authority = authority
        self.openssl = openssl
        self.mode = "ok"
        self.queries: list[bytes] = []
        self.replies: list[bytes] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                query = self.rfile.read(length)
                status, body = server.answer(self.headers.get("Content-Type"), query)
                self.send_response(status)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):  # quiet
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/tsa"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, content_type: str | None, query: bytes) -> tuple[int, bytes]:
        if self.mode == "slow":
            time.sleep(2)
        with self.lock:
            self.queries.append(query)
            if content_type != "application/timestamp-query":
                return 415, b""
            if self.mode == "http-error":
                return 500, b""
            if self.mode == "garbage":
                return 200, b"<html>Service indisponible</html>"
            if self.mode == "rejection":
                # TimeStampResp ::= SEQUENCE { status, timeStampToken OPTIONAL }: no token.
                status = tsp.PKIStatusInfo(
                    {
                        "status": "rejection",
                        "status_string": ["unsupported algorithm"],
                        "fail_info": {"bad_alg"},
                    }
                ).dump()
                return 200, bytes([0x30, len(status)]) + status
            if self.mode == "replay" and self.replies:
                return 200, self.replies[-1]
            reply = self.reply(query)
            self.replies.append(reply)
            return 200, reply

    def reply(self, query: bytes) -> bytes:
        with tempfile.TemporaryDirectory() as work:
            query_file, reply_file = Path(work) / "query.tsq", Path(work) / "reply.tsr"
            query_file.write_bytes(query)
            subprocess.run(
                [
                    self.openssl,
                    "ts",
                    "-reply",
                    "-config",
                    str(self.authority.config_file),
                    "-queryfile",
                    str(query_file),
                    "-out",
                    str(reply_file),
                ],
                check=True,
                capture_output=True,
                cwd=self.authority.directory,
            )
            return reply_file.read_bytes()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)
