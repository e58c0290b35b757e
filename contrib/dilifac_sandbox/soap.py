"""SOAP 1.1 on the wire: read an envelope safely, write answers and faults.

Incoming XML is parsed without entities, DTD or network, within a size limit; a DOCTYPE is
refused outright. Every refusal is a SOAP Fault whose detail carries a stable code.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree
from lxml.builder import ElementMaker

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
NS = "urn:facture-gateway:dilifac:v1"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
#: A request holds one file of at most 10 MB, base64-encoded (4/3), and its envelope.
MAX_REQUEST_BYTES = 14 * 1024 * 1024
MEDIA_TYPE = "text/xml; charset=utf-8"

E = ElementMaker(namespace=NS, nsmap={"dil": NS})
S = ElementMaker(namespace=SOAP, nsmap={"soap": SOAP, "dil": NS})


class Fault(Exception):
    """A refusal, answered as a SOAP Fault: ``client`` faults are the caller's, the others
    the service's; ``status`` is the HTTP status (500, as SOAP 1.1 says, or 503)."""

    def __init__(self, code: str, message: str, client: bool = True, status: int = 500):
        super().__init__(message)
        self.code = code
        self.message = message
        self.client = client
        self.status = status


@dataclass
class Request:
    operation: str
    body: etree._Element
    login: str
    password: str


def parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False)


def read(data: bytes) -> Request:
    """Return the operation, its body element and the UsernameToken of an envelope."""
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise Fault("REQUETE_INVALIDE", "Déclaration DOCTYPE ou entité refusée.")
    try:
        root = etree.fromstring(data, parser())
    except (etree.XMLSyntaxError, ValueError) as ex:
        raise Fault("REQUETE_INVALIDE", f"Enveloppe SOAP illisible : {ex}") from ex
    if root.getroottree().docinfo.doctype:
        raise Fault("REQUETE_INVALIDE", "Déclaration DOCTYPE refusée.")
    if root.tag != f"{{{SOAP}}}Envelope":
        raise Fault("REQUETE_INVALIDE", "Une enveloppe SOAP 1.1 est attendue.")
    body = root.find(f"{{{SOAP}}}Body")
    operations = [child for child in body if isinstance(child.tag, str)] if body is not None else []
    if len(operations) != 1 or etree.QName(operations[0]).namespace != NS:
        raise Fault("REQUETE_INVALIDE", "Le corps SOAP doit contenir une seule opération Dilifac.")
    token = root.find(f"{{{SOAP}}}Header/{{{WSSE}}}Security/{{{WSSE}}}UsernameToken")
    login = token.findtext(f"{{{WSSE}}}Username") if token is not None else None
    password = token.findtext(f"{{{WSSE}}}Password") if token is not None else None
    return Request(etree.QName(operations[0]).localname, operations[0], login or "", password or "")


def text(element: etree._Element, name: str, required: bool = True) -> str | None:
    value = element.findtext(f"{{{NS}}}{name}")
    if value is None or not value.strip():
        if required:
            raise Fault("REQUETE_INVALIDE", f"Élément « {name} » manquant.")
        return None
    return value.strip()


def texts(element: etree._Element, name: str) -> list[str]:
    return [(child.text or "").strip() for child in element.findall(f"{{{NS}}}{name}")]


def envelope(answer: etree._Element) -> bytes:
    return etree.tostring(S.Envelope(S.Body(answer)), xml_declaration=True, encoding="utf-8")


def fault(error: Fault) -> bytes:
    code = "soap:Client" if error.client else "soap:Server"
    element = S.Fault(
        etree.Element("faultcode"),
        etree.Element("faultstring"),
        etree.Element("detail"),
    )
    element[0].text = code
    element[1].text = error.message
    element[1].set("{http://www.w3.org/XML/1998/namespace}lang", "fr")
    element[2].append(E.Erreur(E.code(error.code), E.message(error.message)))
    return envelope(element)
