"""Where a party's SIRET is found in an EN 16931 document, whichever program wrote it.

Programs put the SIRET in different places: the party identifier (BT-29 / BT-46) with
scheme ``0009``, the legal registration id (BT-30 / BT-47) with scheme ``0009``, ``0002``
(the SIRENE register: SIREN or SIRET) or none, or the electronic address (BT-34 / BT-49)
with the French reform's scheme ``0225`` (``SIREN``, ``SIREN_SIRET`` or
``SIREN_SIRET_routing``). The table of what is read where, and in which order, is in
docs/formats/mapping.md. A 9-digit SIREN is never taken for a SIRET.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stdnum.fr import siret as siret_number

SCHEME_SIRET = "0009"
SCHEME_SIREN = "0002"
SCHEME_FR_ADDRESS = "0225"
#: A party's identifier, legal registration id and electronic address, by group.
PARTY_ID_TERMS = {"BG-4": ("BT-29", "BT-30", "BT-34"), "BG-7": ("BT-46", "BT-47", "BT-49")}


@dataclass(frozen=True)
class Candidate:
    """A SIRET a party's terms give, where it was found (a business term) and whether a
    ``0009`` scheme declares it a SIRET (then it is taken even with a wrong check digit,
    for the ``fr`` rules to say so)."""

    value: str
    term: str
    declared: bool


def _text(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    return value.strip() if isinstance(value, str) and value.strip() else None


def declared_siret(value: str | None) -> str | None:
    """A value under scheme 0009: the SIRET when it has 14 digits, valid or not."""
    value = value and siret_number.compact(value)
    return value if value and len(value) == 14 and value.isdigit() else None


def _valid(value: str | None) -> str | None:
    """A value under an ambiguous scheme: a SIRET only when it is one, check digit included."""
    value = value and siret_number.compact(value)
    return value if value and siret_number.is_valid(value) else None


def _address_siret(value: str | None) -> str | None:
    """The SIRET of a ``0225`` address: the part after the first underscore."""
    parts = (value or "").split("_")
    return _valid(parts[1]) if len(parts) > 1 else None


def candidates(party: dict[str, Any], terms: tuple[str, str, str]) -> list[Candidate]:
    """Return the SIRETs ``party`` (a factur-x party dict) gives, in order of precedence.

    ``terms`` names its identifier, legal id and electronic address (BT-29, BT-30, BT-34
    for the seller). Order: identifier ``0009``; legal id ``0009``; identifier without
    scheme; legal id ``0002`` or without scheme; electronic address ``0225`` or ``0009``.
    """
    identifier, legal, address = terms
    identifiers = party.get("identifiers") or {}
    legal_id = _text(party.get("legal_identifier"))
    legal_scheme = _text(party.get("legal_identifier_schemeid"))
    address_id = _text(party.get("einvoicing_addr"))
    address_scheme = _text(party.get("einvoicing_addr_schemeid"))
    found = [
        (declared_siret(_text(identifiers.get(SCHEME_SIRET))), identifier, True),
        (legal_scheme == SCHEME_SIRET and declared_siret(legal_id), legal, True),
        # factur-x reads a scheme-less identifier under None; kept terms under "null".
        (_valid(_text(identifiers.get(None) or identifiers.get("null"))), identifier, False),
        (legal_scheme in (SCHEME_SIREN, None) and _valid(legal_id), legal, False),
        (address_scheme == SCHEME_FR_ADDRESS and _address_siret(address_id), address, False),
        (address_scheme == SCHEME_SIRET and _valid(address_id), address, False),
    ]
    return [Candidate(value, term, declared) for value, term, declared in found if value]


def party_siret(party: dict[str, Any], terms: tuple[str, str, str]) -> str | None:
    """Return the party's SIRET: the first candidate in order of precedence."""
    found = candidates(party, terms)
    return found[0].value if found else None


def conflicting(party: dict[str, Any], terms: tuple[str, str, str], siret: str) -> list[Candidate]:
    """Return the valid SIRETs ``party`` gives that differ from ``siret`` (when it is valid)."""
    if not siret_number.is_valid(siret):
        return []
    return [
        found
        for found in candidates(party, terms)
        if found.value != siret and siret_number.is_valid(found.value)
    ]
