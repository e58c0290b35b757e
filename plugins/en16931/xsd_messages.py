"""The XSD validator's messages, said in French for the bookseller.

libxml2 writes its schema errors in English, in a handful of fixed shapes; each is said
again here with the elements named by their usual prefix (``ram:Name``, ``cbc:ID``). A
message of another shape is kept as it is, after a French sentence saying what it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_NAME = re.compile(r"\{([^}]*)\}([\w.-]+)")
_ELEMENT = r"Element '(?P<element>[^']+)'(?:, attribute '(?P<attribute>[^']+)')?: "


def _names(text: str, prefixes: dict[str, str]) -> str:
    """Write ``{namespace}Local`` names as ``prefix:Local``, comma-separated."""

    def short(match: re.Match) -> str:
        prefix = prefixes.get(match.group(1), "")
        return f"{prefix}:{match.group(2)}" if prefix else match.group(2)

    return ", ".join(_NAME.sub(short, part.strip()) for part in text.split(","))


#: The parts of a message that name elements or types (a value is quoted as it is).
_NAMED = {"element", "expected", "type"}

_EXPECTED = r"Expected is (?:one of )?\( (?P<expected>.*) \)\."


def _shape(tail: str, say: Callable[[dict[str, str]], str]):
    return re.compile(_ELEMENT + tail), say


def _of(parts: dict[str, str]) -> str:
    return parts["attribute"] or parts["element"]


_SHAPES = [
    _shape(
        r"This element is not expected\. " + _EXPECTED,
        lambda m: (
            f"l'élément {m['element']} n'est pas à sa place ; le schéma attend ici {m['expected']}."
        ),
    ),
    _shape(
        r"This element is not expected\.",
        lambda m: f"l'élément {m['element']} n'est pas attendu à cet endroit.",
    ),
    _shape(
        r"Missing child element\(s\)\. " + _EXPECTED,
        lambda m: f"il manque dans l'élément {m['element']} l'élément {m['expected']}.",
    ),
    _shape(
        r"'(?P<value>.*)' is not a valid value of the (?:local )?(?:atomic|list|union) "
        r"type '(?P<type>[^']+)'\.",
        lambda m: (
            f"la valeur « {m['value']} » de {_of(m)} n'est pas une valeur permise "
            f"(type {m['type']})."
        ),
    ),
    _shape(
        r"\[facet 'enumeration'\] The value '(?P<value>.*)' is not an element of the set .*",
        lambda m: (
            f"la valeur « {m['value']} » de {_of(m)} ne fait pas partie de la liste "
            "de codes permise."
        ),
    ),
    _shape(
        r"\[facet 'pattern'\] The value '(?P<value>.*)' is not accepted by the pattern .*",
        lambda m: f"la valeur « {m['value']} » de {_of(m)} n'a pas la forme attendue.",
    ),
    _shape(
        r"\[facet '(?:minLength|length)'\] The value has a length of '0'.*",
        lambda m: f"{_of(m)} est vide alors qu'une valeur est requise.",
    ),
    _shape(
        r"The attribute '(?P<name>[^']+)' is required but missing\.",
        lambda m: f"l'attribut {m['name']} est obligatoire sur l'élément {m['element']}.",
    ),
    _shape(
        r"The attribute '(?P<name>[^']+)' is not allowed\.",
        lambda m: f"l'attribut {m['name']} n'est pas permis sur l'élément {m['element']}.",
    ),
    _shape(
        r"Character content other than whitespace is not allowed.*",
        lambda m: (
            f"l'élément {m['element']} ne peut pas contenir de texte, seulement des éléments."
        ),
    ),
    _shape(
        r"No matching global declaration available for the validation root\.",
        lambda m: (
            f"l'élément racine {m['element']} n'est pas celui d'une facture de cette syntaxe."
        ),
    ),
]


def french_xsd_message(message: str, prefixes: dict[str, str]) -> str:
    """Return libxml2's XSD error ``message`` as a French clause (no capital, final dot)."""
    message = message.strip()
    for pattern, say in _SHAPES:
        match = pattern.fullmatch(message)
        if match:
            parts = {
                key: _names(value, prefixes) if value and key in _NAMED else value
                for key, value in match.groupdict().items()
            }
            return say(parts)
    return f"le schéma le refuse (message du validateur : {message})"
