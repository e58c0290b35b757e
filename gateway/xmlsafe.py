"""Safe parsing of untrusted XML.

Documents come from outside: no DTD, no entity, no file and no network access, and a size
bound checked before parsing. Every failure is a :class:`gateway.errors.FormatError` whose
message a bookseller can read.
"""

from __future__ import annotations

from lxml import etree

from gateway.errors import FormatError

#: Largest XML document accepted (bytes). An invoice with a thousand lines is far below it.
MAX_XML_BYTES = 20 * 1024 * 1024


class _RefuseResolver(etree.Resolver):
    """Refuse every external resource, should libxml2 ever ask for one."""

    def resolve(self, system_url, public_id, context):  # noqa: ANN001, ANN201 (lxml API)
        raise FormatError(f"Ressource externe refusée dans le document XML : {system_url}")


def _parser() -> etree.XMLParser:
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
    )
    parser.resolvers.add(_RefuseResolver())
    return parser


def parse_xml(data: bytes, *, max_bytes: int = MAX_XML_BYTES) -> etree._Element:
    """Return the root element of ``data``; refuse DTDs, entities and oversized input."""
    if len(data) > max_bytes:
        raise FormatError(
            f"Document XML trop volumineux ({len(data)} octets, maximum {max_bytes})."
        )
    if not data.strip():
        raise FormatError("Le document XML est vide.")
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as ex:
        if "DOCTYPE" in str(ex) or "Entity" in str(ex) or "entity" in str(ex):
            raise FormatError(
                "Déclaration DOCTYPE ou entité refusée : un document de facture n'en contient "
                "jamais.",
                line=ex.lineno,
            ) from ex
        raise FormatError(
            f"Document XML mal formé (ligne {ex.lineno}) : {ex.msg}", line=ex.lineno
        ) from ex
    except ValueError as ex:  # e.g. a str with an encoding declaration
        raise FormatError(f"Document XML illisible : {ex}") from ex
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise FormatError(
            "Déclaration DOCTYPE refusée : un document de facture n'en contient jamais.",
            line=1,
        )
    return root


def looks_like_xml(data: bytes) -> bool:
    """Return True when ``data`` starts like an XML document (cheap, no parsing)."""
    head = data[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"<")


def root_tag(data: bytes) -> str | None:
    """Return the root element's ``{namespace}name``, reading only the document's start."""
    parser = etree.XMLPullParser(
        events=("start",), resolve_entities=False, no_network=True, load_dtd=False
    )
    try:
        parser.feed(data[:4096])
        for _event, element in parser.read_events():
            return element.tag
    except etree.XMLSyntaxError:
        return None
    return None
