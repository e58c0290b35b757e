"""RFC 3161 time-stamps of the archive's checkpoints.

A checkpoint's Ed25519 signature proves who stated the journal's state; only the gateway's
own clock says when. With ``[archive] tsa_url``, the checkpoint's message
(:func:`gateway.archive.checkpoint_message`) is also sent, as its SHA-256, to a
time-stamping authority (RFC 3161), whose signed token proves that the message existed at
the token's ``genTime``. The token is kept with the checkpoint (``timestamp_token``,
``timestamped_at``) and checked by ``facture-gateway archive verify``; :func:`verify_token`
checks one offline, as ``openssl ts -verify`` does. See docs/archive.md.

An authority that cannot be reached, or that answers badly, costs the checkpoint its token,
never the checkpoint: it is signed and kept, and a warning is logged.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import httpx
from asn1crypto import cms, core, tsp
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway.logs import get_logger
from gateway.outbound import OutboundRefused, check_outbound_url, outbound_client

log = get_logger(__name__)

QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"
#: Seconds the authority has to answer.
TIMEOUT = 30.0
#: The largest reply read: a token is a few kilobytes, its certificates included.
MAX_REPLY = 1024 * 1024
#: A token proves its checkpoint's date when dated at most this long after it…
MAX_DELAY = timedelta(minutes=5)
#: …and not before it by more than two clocks may differ (genTime may drop the fraction).
CLOCK_SKEW = timedelta(minutes=1)
#: How many certificates of the token may stand between its signer and the configured one.
MAX_CHAIN = 4

#: The hashes a token may use: the message imprint, the signed attributes' digest.
HASHES = {"sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}
GRANTED = ("granted", "granted_with_mods")


class TimestampError(Exception):
    """No time-stamp: the authority could not be reached, refused, or answered badly. Its
    message, in French, says which (never the request's bytes)."""


class InvalidToken(TimestampError):
    """A token that does not prove what it should; its message (French) says why."""


@dataclass(frozen=True)
class Timestamp:
    """A verified time-stamp token."""

    #: The TimeStampToken as the authority signed it: a CMS ContentInfo (DER).
    token: bytes
    #: When the authority attests having seen the message (UTC).
    gen_time: datetime
    #: The authority, as its certificate names it (its common name).
    tsa: str
    serial_number: int
    policy: str
    nonce: int | None


class _Reply(core.Sequence):
    """TimeStampResp, whose token is absent when the authority refuses (RFC 3161 §2.4.2)."""

    _fields = [
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


# --- requests ------------------------------------------------------------------------------


def build_request(message: bytes, nonce: int) -> bytes:
    """Return the TimeStampReq (DER) of ``message``: its SHA-256, ``nonce``, and the
    authority's certificate asked for in the token (certReq)."""
    return tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {
                "hash_algorithm": {"algorithm": "sha256"},
                "hashed_message": hashlib.sha256(message).digest(),
            },
            "nonce": nonce,
            "cert_req": True,
        }
    ).dump()


def shown_url(url: str) -> str:
    """Return ``url`` as logs and messages show it: no credentials, no query."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    try:
        port = parts.port
    except ValueError:
        port = None
    return urlunsplit((parts.scheme, host + (f":{port}" if port else ""), parts.path, "", ""))


def request_timestamp(
    message: bytes,
    url: str,
    *,
    certificate_pem: str | bytes | None = None,
    client: httpx.Client | None = None,
    timeout: float = TIMEOUT,
) -> Timestamp:
    """Have the authority at ``url`` time-stamp ``message``; return the verified token.

    The URL goes through the gateway's outbound policy (``[security] outbound_hosts``). The
    reply must grant the request, for this message's imprint and this request's nonce, and
    its token verify (:func:`verify_token`, with ``certificate_pem`` when given). Raises
    :class:`TimestampError` otherwise.
    """
    where = shown_url(url)
    nonce = secrets.randbits(63) | 1 << 62  # positive, never 0, 63 bits
    query = build_request(message, nonce)
    own = client is None
    try:
        check_outbound_url(url, setting="[archive] tsa_url")
        client = client or outbound_client(timeout)
        body = _post(client, url, query, where)
    except OutboundRefused as ex:
        raise TimestampError(f"l'autorité d'horodatage ({where}) est refusée : {ex}") from ex
    except httpx.InvalidURL as ex:
        raise TimestampError(f"l'adresse de l'autorité d'horodatage ({where}) est invalide") from ex
    except httpx.TimeoutException as ex:
        raise TimestampError(
            f"l'autorité d'horodatage ({where}) n'a pas répondu dans les {timeout:g} s"
        ) from ex
    except httpx.HTTPError as ex:
        raise TimestampError(
            f"l'autorité d'horodatage ({where}) est injoignable ({type(ex).__name__} : {ex})"
        ) from ex
    finally:
        if own and client is not None:
            client.close()
    token = _granted_token(body, where)
    try:
        stamp = verify_token(token, message, certificate_pem)
    except InvalidToken as ex:
        raise InvalidToken(
            f"l'autorité d'horodatage ({where}) a donné un jeton invalide : {ex}"
        ) from ex
    if stamp.nonce != nonce:
        raise InvalidToken(
            f"l'autorité d'horodatage ({where}) a répondu à une autre demande (nonce différent)"
        )
    return stamp


def _post(client: httpx.Client, url: str, query: bytes, where: str) -> bytes:
    """POST the query; return the reply's body (200, at most :data:`MAX_REPLY` bytes)."""
    headers = {"Content-Type": QUERY_TYPE, "Accept": REPLY_TYPE}
    with client.stream("POST", url, content=query, headers=headers) as response:
        if response.status_code != 200:
            raise TimestampError(
                f"l'autorité d'horodatage ({where}) a répondu HTTP {response.status_code}"
            )
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > MAX_REPLY:
                raise TimestampError(f"l'autorité d'horodatage ({where}) a répondu trop long")
    return bytes(body)


def _granted_token(body: bytes, where: str) -> bytes:
    """Return the token of a TimeStampResp that grants the request."""
    try:
        reply = _Reply.load(body, strict=True)
        status = reply["status"]["status"].native
        detail = reply["status"]["status_string"].native or []
        failure = sorted(reply["status"]["fail_info"].native or [])
        token = reply["time_stamp_token"]
        token_der = None if isinstance(token, core.Void) else token.dump()
    except (ValueError, TypeError, KeyError) as ex:
        raise TimestampError(
            f"l'autorité d'horodatage ({where}) a répondu autre chose qu'une réponse RFC 3161"
        ) from ex
    if status not in GRANTED:
        reasons = ", ".join([*detail, *failure])
        raise TimestampError(
            f"l'autorité d'horodatage ({where}) a refusé la demande ({status}"
            + (f" : {reasons})" if reasons else ")")
        )
    if token_der is None:
        raise TimestampError(f"l'autorité d'horodatage ({where}) a accordé sans jeton")
    return token_der


# --- verification --------------------------------------------------------------------------


def load_certificates(pem: str | bytes) -> list[x509.Certificate]:
    """Return the certificates of a PEM text; :class:`ValueError` when there are none."""
    data = pem.encode() if isinstance(pem, str) else pem
    certificates = x509.load_pem_x509_certificates(data)
    if not certificates:
        raise ValueError("no certificate")
    return certificates


def name_of(certificate: x509.Certificate) -> str:
    """Return a certificate's subject as a person reads it: its common name, else all."""
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else certificate.subject.rfc4514_string()


def verify_token(
    token_der: bytes, message: bytes, certificate_pem: str | bytes | None = None
) -> Timestamp:
    """Check that ``token_der`` (a TimeStampToken, DER) time-stamps ``message``; return it.

    Checked, with the token alone (offline): it is CMS SignedData of a TSTInfo whose
    message imprint is the hash of ``message``; its signed attributes name the TSTInfo
    (content type) and hold its digest (messageDigest), and name the signer's certificate
    (ESS signingCertificate); the signer's certificate is in the token, is a time-stamping
    one (extendedKeyUsage timeStamping, critical) valid at genTime, and its key verifies
    the signature over the signed attributes. With ``certificate_pem`` (the authority's
    certificate or its CA's, PEM; several may be given), the signer's certificate must be
    one of them or be issued by one (directly or through certificates of the token).

    Raises :class:`InvalidToken` whose message (French) says what does not hold.
    """
    trusted = None
    if certificate_pem:
        try:
            trusted = load_certificates(certificate_pem)
        except ValueError as ex:
            raise InvalidToken("le certificat de l'autorité configuré est illisible") from ex
    try:
        return _verify(bytes(token_der), message, trusted)
    except (
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        AttributeError,
        OverflowError,
        x509.InvalidVersion,
    ) as ex:
        # asn1crypto parses lazily: a malformed part may show only when it is read.
        raise InvalidToken("ce n'est pas un jeton d'horodatage RFC 3161 lisible") from ex


def _verify(token_der: bytes, message: bytes, trusted: list[x509.Certificate] | None) -> Timestamp:
    try:
        signed, content, info = _parse(token_der)
        imprint = info["message_imprint"]
        imprint_algorithm = imprint["hash_algorithm"]["algorithm"].native
        hashed = imprint["hashed_message"].native
        gen_time = info["gen_time"].native
        serial_number = info["serial_number"].native
        policy = info["policy"].native
        nonce = info["nonce"].native
        signers = list(signed["signer_infos"])
        certificates = [
            x509.load_der_x509_certificate(choice.chosen.dump())
            for choice in signed["certificates"]
            if choice.name == "certificate"
        ]
    except (ValueError, TypeError, KeyError, AttributeError) as ex:
        raise InvalidToken("ce n'est pas un jeton d'horodatage RFC 3161 lisible") from ex
    if imprint_algorithm not in HASHES:
        raise InvalidToken(f"empreinte par un algorithme non pris en charge ({imprint_algorithm})")
    if hashlib.new(imprint_algorithm, message).digest() != hashed:
        raise InvalidToken("il horodate un autre message (empreinte différente)")
    if len(signers) != 1:
        raise InvalidToken(f"{len(signers)} signataires au lieu d'un")
    signer = _signer_certificate(signers[0], certificates)
    _check_signed_attributes(signers[0], content, signer)
    _check_signature(signers[0], signer)
    _check_time_stamping_certificate(signer, gen_time)
    if trusted is not None:
        _check_issued_by(signer, trusted, certificates)
    return Timestamp(
        token=token_der,
        gen_time=gen_time,
        tsa=name_of(signer),
        serial_number=serial_number,
        policy=policy,
        nonce=nonce,
    )


def _parse(token_der: bytes) -> tuple[cms.SignedData, bytes, tsp.TSTInfo]:
    """Return the token's SignedData, its eContent bytes and the TSTInfo they hold."""
    info = cms.ContentInfo.load(bytes(token_der), strict=True)
    if info["content_type"].native != "signed_data":
        raise ValueError(info["content_type"].native)
    signed = info["content"]
    encapsulated = signed["encap_content_info"]
    if encapsulated["content_type"].native != "tst_info":
        raise ValueError(encapsulated["content_type"].native)
    content = encapsulated["content"].contents
    return signed, content, tsp.TSTInfo.load(content, strict=True)


def _signer_certificate(
    signer_info: cms.SignerInfo, certificates: list[x509.Certificate]
) -> x509.Certificate:
    """Return the certificate the SignerInfo designates, among the token's."""
    sid = signer_info["sid"]
    for certificate in certificates:
        if sid.name == "issuer_and_serial_number":
            wanted = sid.chosen
            if (
                certificate.serial_number == wanted["serial_number"].native
                and certificate.issuer.public_bytes() == wanted["issuer"].dump()
            ):
                return certificate
        elif sid.name == "subject_key_identifier":
            try:
                identifier = certificate.extensions.get_extension_for_class(
                    x509.SubjectKeyIdentifier
                ).value.digest
            except x509.ExtensionNotFound:
                continue
            if identifier == sid.chosen.native:
                return certificate
    raise InvalidToken("le certificat de l'autorité n'est pas dans le jeton (demandé : certReq)")


def _attributes(signer_info: cms.SignerInfo) -> dict[str, object]:
    signed_attrs = signer_info["signed_attrs"]
    if isinstance(signed_attrs, core.Void) or not len(signed_attrs):
        raise InvalidToken("il n'a pas d'attributs signés")
    found = {}
    for attribute in signed_attrs:
        name = attribute["type"].native
        if name in found or len(attribute["values"]) != 1:
            raise InvalidToken(f"attribut signé {name} répété")
        found[name] = attribute["values"][0]
    return found


def _check_signed_attributes(
    signer_info: cms.SignerInfo, content: bytes, signer: x509.Certificate
) -> None:
    digest_algorithm = signer_info["digest_algorithm"]["algorithm"].native
    if digest_algorithm not in HASHES:
        raise InvalidToken(f"condensé par un algorithme non pris en charge ({digest_algorithm})")
    attributes = _attributes(signer_info)
    content_type = attributes.get("content_type")
    if content_type is None or content_type.native != "tst_info":
        raise InvalidToken("l'attribut contentType ne désigne pas un TSTInfo")
    digest = attributes.get("message_digest")
    if digest is None or digest.native != hashlib.new(digest_algorithm, content).digest():
        raise InvalidToken("l'attribut messageDigest n'est pas le condensé du contenu signé")
    der = signer.public_bytes(Encoding.DER)
    if "signing_certificate_v2" in attributes:
        ids = attributes["signing_certificate_v2"]["certs"]
        algorithm = ids[0]["hash_algorithm"]["algorithm"].native if len(ids) else None
        if algorithm not in HASHES:
            raise InvalidToken(
                f"signingCertificateV2 par un algorithme non pris en charge ({algorithm})"
            )
        expected = hashlib.new(algorithm, der).digest()
    elif "signing_certificate" in attributes:
        ids = attributes["signing_certificate"]["certs"]
        expected = hashlib.sha1(der).digest()  # ESSCertID: SHA-1, an identifier only
    else:
        raise InvalidToken("il ne désigne pas le certificat de son signataire (signingCertificate)")
    if not len(ids) or ids[0]["cert_hash"].native != expected:
        raise InvalidToken(
            "le certificat que désigne l'attribut signingCertificate n'est pas celui du signataire"
        )


def _check_signature(signer_info: cms.SignerInfo, signer: x509.Certificate) -> None:
    """Check the signature over the signed attributes (their DER as a SET OF)."""
    signed = signer_info["signed_attrs"].dump()
    signed = b"\x31" + signed[1:]  # [0] IMPLICIT in the SignerInfo, a SET when signed
    signature = signer_info["signature"].native
    algorithm = signer_info["signature_algorithm"]
    digest = HASHES[signer_info["digest_algorithm"]["algorithm"].native]
    key = signer.public_key()
    try:
        kind = algorithm.signature_algo
        if kind == "rsassa_pkcs1v15":
            key.verify(signature, signed, padding.PKCS1v15(), digest())
        elif kind == "rsassa_pss":
            parameters = algorithm["parameters"]
            pss_hash = HASHES[parameters["hash_algorithm"]["algorithm"].native]
            mgf_hash = HASHES[parameters["mask_gen_algorithm"]["parameters"]["algorithm"].native]
            key.verify(
                signature,
                signed,
                padding.PSS(padding.MGF1(mgf_hash()), parameters["salt_length"].native),
                pss_hash(),
            )
        elif kind == "ecdsa":
            try:
                digest = HASHES[algorithm.hash_algo]
            except ValueError:
                pass  # "ecdsa" alone: the SignerInfo's digest algorithm
            key.verify(signature, signed, ec.ECDSA(digest()))
        elif kind in ("ed25519", "ed448"):
            key.verify(signature, signed)
        else:
            raise InvalidToken(f"signature par un algorithme non pris en charge ({kind})")
    except InvalidSignature as ex:
        raise InvalidToken("la signature de l'autorité est invalide") from ex
    except (ValueError, TypeError, KeyError, AttributeError) as ex:
        raise InvalidToken(
            "la signature de l'autorité est invalide (algorithme et clé ne vont pas ensemble)"
        ) from ex


def _check_time_stamping_certificate(signer: x509.Certificate, gen_time: datetime) -> None:
    """RFC 3161 §2.3: extendedKeyUsage critical, timeStamping only; valid at genTime."""
    try:
        usage = signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        usage = None
    if (
        usage is None
        or not usage.critical
        or list(usage.value) != [ExtendedKeyUsageOID.TIME_STAMPING]
    ):
        raise InvalidToken(
            f"le certificat de « {name_of(signer)} » n'est pas un certificat d'horodatage "
            "(extendedKeyUsage timeStamping, critique)"
        )
    if not signer.not_valid_before_utc <= gen_time <= signer.not_valid_after_utc:
        raise InvalidToken(
            f"le certificat de « {name_of(signer)} » n'était pas valide à la date du jeton"
        )


def _check_issued_by(
    signer: x509.Certificate,
    trusted: list[x509.Certificate],
    certificates: list[x509.Certificate],
) -> None:
    """The signer is a trusted certificate, or is issued by one, maybe through certificates
    of the token (each signature checked)."""
    current = signer
    for _ in range(MAX_CHAIN + 1):
        if current in trusted:
            return
        for issuer in trusted:
            if _issued(current, issuer):
                return
        parents = [c for c in certificates if c != current and _issued(current, c)]
        if not parents:
            break
        current = parents[0]
    raise InvalidToken(
        f"signé par « {name_of(signer)} », qui n'est pas l'autorité d'horodatage configurée "
        "ni certifié par elle"
    )


def _issued(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def time_problem(gen_time: datetime, at: datetime) -> str | None:
    """Tell (French) why a token dated ``gen_time`` does not date a checkpoint made at
    ``at``; None when it does (a few minutes after it at most)."""
    if gen_time < at - CLOCK_SKEW:
        return f"jeton daté du {_shown(gen_time)}, avant le point de contrôle"
    if gen_time > at + MAX_DELAY:
        minutes = int((gen_time - at).total_seconds() // 60)
        return f"jeton daté du {_shown(gen_time)}, {minutes} minutes après le point de contrôle"
    return None


def _shown(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S")


# --- checkpoints ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Stamper:
    """The time-stamping authority of ``[archive] tsa_url``, its tokens checked against
    ``[archive] tsa_certificate`` when given."""

    url: str
    certificate_pem: str | None = None
    timeout: float = TIMEOUT

    @classmethod
    def from_config(cls, archive) -> Stamper | None:
        """Return the authority an :class:`gateway.config.ArchiveConfig` names; None when
        ``tsa_url`` is empty. :class:`gateway.config.ConfigError` when its certificate
        cannot be read."""
        from gateway.config import ConfigError

        if not (archive.tsa_url or "").strip():
            return None
        pem = archive.tsa_certificate_pem()
        if pem is not None:
            try:
                load_certificates(pem)
            except ValueError as ex:
                raise ConfigError("[archive] tsa_certificate: aucun certificat PEM lisible") from ex
        return cls(archive.tsa_url.strip(), pem)

    @property
    def shown(self) -> str:
        return shown_url(self.url)

    def stamp(self, message: bytes, client: httpx.Client | None = None) -> Timestamp:
        return request_timestamp(
            message,
            self.url,
            certificate_pem=self.certificate_pem,
            client=client,
            timeout=self.timeout,
        )


def stamp_checkpoint(
    store, checkpoint: dict, stamper: Stamper, client: httpx.Client | None = None
) -> Timestamp:
    """Time-stamp a stored checkpoint and keep the token with it.

    On failure, the checkpoint stays as it is (signed, no token), a warning is logged
    (``archive.timestamp_failed``: the authority's URL without credentials, the reason) and
    :class:`TimestampError` is raised for the caller to tell.
    """
    from gateway.archive import checkpoint_message

    message = checkpoint_message(checkpoint["seq"], checkpoint["hash"], checkpoint["at"])
    try:
        stamp = stamper.stamp(message, client)
    except TimestampError as ex:
        log.warning(
            "archive.timestamp_failed",
            tsa=stamper.shown,
            checkpoint=checkpoint["id"],
            seq=checkpoint["seq"],
            reason=str(ex),
        )
        raise
    store.set_checkpoint_timestamp(checkpoint["id"], stamp.token, stamp.gen_time)
    checkpoint.update(timestamp_token=stamp.token, timestamped_at=stamp.gen_time)
    log.info(
        "archive.timestamped",
        tsa=stamper.shown,
        authority=stamp.tsa,
        checkpoint=checkpoint["id"],
        seq=checkpoint["seq"],
        gen_time=stamp.gen_time.isoformat(),
    )
    return stamp


def try_stamp(store, checkpoint: dict, archive_config) -> None:
    """Time-stamp ``checkpoint`` when ``[archive] tsa_url`` is set. An authority out of reach,
    or misconfigured, leaves the checkpoint signed without a token (warned, not raised)."""
    from gateway.config import ConfigError

    try:
        stamper = Stamper.from_config(archive_config)
    except ConfigError as ex:
        log.warning("archive.timestamp_failed", checkpoint=checkpoint["id"], reason=str(ex))
        return
    if stamper is None:
        return
    try:
        stamp_checkpoint(store, checkpoint, stamper)
    except TimestampError:
        pass  # logged by stamp_checkpoint


def checkpoint_problem(checkpoint: dict, certificate_pem: str | bytes | None = None) -> str | None:
    """Tell (French) what is wrong with a checkpoint's stored token; None when it
    time-stamps the checkpoint's message, is valid (signed by the configured authority
    when ``certificate_pem`` is given) and dated a few minutes after the checkpoint."""
    from gateway.archive import checkpoint_message

    token = checkpoint.get("timestamp_token")
    if token is None:
        return None
    message = checkpoint_message(checkpoint["seq"], checkpoint["hash"], checkpoint["at"])
    try:
        stamp = verify_token(token, message, certificate_pem)
    except InvalidToken as ex:
        return f"jeton d'horodatage invalide : {ex}"
    stored = checkpoint.get("timestamped_at")
    if stored is None or stored != stamp.gen_time:
        return (
            f"date d'horodatage enregistrée ({_shown(stored) if stored else 'aucune'}) "
            f"différente de celle du jeton ({_shown(stamp.gen_time)})"
        )
    return time_problem(stamp.gen_time, checkpoint["at"])
