"""Compact JSON Schemas of the answers the tests rely on, written from the XP Z12-013 annexes
(AFNOR Flow Service 1.1.0, AFNOR Directory Service 1.3.0), and a small checker for the subset
of JSON Schema they use (jsonschema is not a dependency of the project)."""

from __future__ import annotations

import re
from typing import Any

DATE_TIME = {
    "type": "string",
    "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$",
}
NOT_ONLY_UUID = {"type": "string", "maxLength": 36}
SYNTAX = {"enum": ["CII", "UBL", "Factur-X", "CDAR", "FRR"]}
PROFILE = {"enum": ["Basic", "CIUS", "Extended-CTC-FR"]}
RULE = {"enum": ["B2B", "B2BInt", "B2C", "OutOfScope", "ArchiveOnly", "NotApplicable"]}
FLOW_TYPE = {
    "enum": [
        "CustomerInvoice", "SupplierInvoice", "StateInvoice", "CustomerInvoiceLC",
        "SupplierInvoiceLC", "StateCustomerInvoiceLC", "StateSupplierInvoiceLC",
        "AggregatedCustomerTransactionReport", "UnitaryCustomerTransactionReport",
        "AggregatedCustomerPaymentReport", "UnitaryCustomerPaymentReport",
        "UnitarySupplierTransactionReport", "MultiFlowReport",
    ]
}  # fmt: skip

ERROR = {
    "type": "object",
    "required": ["errorCode"],
    "properties": {"errorCode": {"type": "string"}, "errorMessage": {"type": ["string", "null"]}},
}

FULL_FLOW_INFO = {
    "type": "object",
    "required": ["flowId", "submittedAt", "flowSyntax"],
    "properties": {
        "flowId": NOT_ONLY_UUID,
        "submittedAt": DATE_TIME,
        "trackingId": NOT_ONLY_UUID,
        "name": {"type": "string", "maxLength": 255},
        "processingRule": RULE,
        "flowSyntax": SYNTAX,
        "flowProfile": PROFILE,
        "sha256": {"type": "string", "pattern": "^[a-f0-9]{64}$"},
    },
}

ACK_DETAIL = {
    "type": "object",
    "required": ["level", "item", "reasonCode", "reasonMessage"],
    "properties": {
        "level": {"enum": ["Error", "Warning"]},
        "item": {"type": "string"},
        "reasonCode": {"type": "string"},
        "reasonMessage": {"type": "string"},
    },
}

FLOW = {
    "type": "object",
    "required": ["flowId", "submittedAt", "updatedAt", "flowType", "flowDirection", "flowSyntax"],
    "properties": {
        "submittedAt": DATE_TIME,
        "updatedAt": DATE_TIME,
        "flowId": NOT_ONLY_UUID,
        "trackingId": NOT_ONLY_UUID,
        "flowType": FLOW_TYPE,
        "processingRule": RULE,
        "processingRuleSource": {"enum": ["Input", "Computed"]},
        "flowDirection": {"enum": ["In", "Out"]},
        "flowSyntax": SYNTAX,
        "flowProfile": PROFILE,
        "acknowledgement": {
            "type": "object",
            "required": ["status"],
            "properties": {
                "status": {"enum": ["Pending", "Ok", "Error"]},
                "details": {"type": "array", "minItems": 1, "items": ACK_DETAIL},
            },
        },
    },
}

SEARCH_FLOW_CONTENT = {
    "type": "object",
    "required": ["results"],
    "properties": {
        "limit": {"type": "integer"},
        "filters": {"type": "object"},
        "results": {"type": "array", "items": FLOW},
    },
}

WEBHOOK_CALLBACK = {"type": "object", "required": ["flowInfo"], "properties": {"flowInfo": FLOW}}

_TYPES = {
    "object": dict,
    "array": list,
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
    "null": type(None),
}


def problems(value: Any, schema: dict, where: str = "$") -> list[str]:
    """What in ``value`` breaks ``schema`` (type, required, enum, properties, items, pattern,
    maxLength, minItems); empty when it conforms."""
    found: list[str] = []
    types = schema.get("type")
    if types is not None:
        types = [types] if isinstance(types, str) else types
        ok = any(
            isinstance(value, _TYPES[t]) and not (t in ("integer", "number") and value is True)
            for t in types
        )
        if not ok:
            return [f"{where}: {value!r} is not {'/'.join(types)}"]
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{where}: {value!r} not in {schema['enum']}")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            found.append(f"{where}: {value!r} does not match {schema['pattern']}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            found.append(f"{where}: longer than {schema['maxLength']}")
    if isinstance(value, dict):
        required = schema.get("required", ())
        found += [f"{where}: {key} missing" for key in required if key not in value]
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                found += problems(value[key], sub, f"{where}.{key}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            found.append(f"{where}: fewer than {schema['minItems']} items")
        for index, item in enumerate(value):
            found += problems(item, schema.get("items", {}), f"{where}[{index}]")
    return found


def conforms(value: Any, schema: dict) -> bool:
    """Assert-friendly: raise with the problems, else True."""
    found = problems(value, schema)
    assert not found, found
    return True


# -- Directory Service 1.3.0 -----------------------------------------------------------------

SIREN = {"type": "string", "pattern": "^[0-9]{9}$"}
SIRET = {"type": "string", "pattern": "^[0-9]{14}$"}
STATUS_AC = {"enum": ["A", "C"]}
INSTRUCTIONS = {
    "type": "object",
    "properties": {"isSalesProspectingForbidden": {"type": "boolean"}},
}
ADDRESS = {
    "type": "object",
    "properties": {
        "addressLine1": {"type": "string", "maxLength": 255},
        "postalCode": {"type": "string", "pattern": "^[0-9]*$", "maxLength": 5},
        "locality": {"type": "string", "maxLength": 100},
        "countryCode": {"type": "string", "maxLength": 2},
        "countryName": {"type": "string", "maxLength": 100},
    },
}
LEGAL_UNIT = {
    "type": "object",
    "required": ["siren", "businessName", "entityType", "administrativeStatus"],
    "properties": {
        "siren": SIREN,
        "businessName": {"type": "string", "maxLength": 150},
        "entityType": {"enum": ["Public", "PrivateVatRegistered"]},
        "administrativeStatus": STATUS_AC,
        "instructions": INSTRUCTIONS,
    },
}
B2G = {
    "type": "object",
    "properties": {
        key: {"type": "boolean"}
        for key in (
            "pm",
            "pmOnly",
            "managesPaymentStatus",
            "managesLegalCommitmentCode",
            "managesLegalCommitmentOrServiceCode",
            "serviceCodeStatus",
        )
    },
}
FACILITY = {
    "type": "object",
    "required": ["siret", "siren", "name", "facilityType", "administrativeStatus"],
    "properties": {
        "siret": SIRET,
        "siren": SIREN,
        "name": {"type": "string", "maxLength": 100},
        "facilityType": {"enum": ["P", "S"]},
        "administrativeStatus": STATUS_AC,
        "siretInstructions": INSTRUCTIONS,
        "instructions": INSTRUCTIONS,
        "address": ADDRESS,
        "b2gAdditionalData": B2G,
        "legalUnit": LEGAL_UNIT,
    },
}
ROUTING_IDENTIFIER = {"type": "string", "pattern": r"^[\-_/a-zA-Z0-9]{1,100}$"}
ROUTING_CODE = {
    "type": "object",
    "required": ["routingIdentifier", "siret", "routingIdentifierType", "administrativeStatus"],
    "properties": {
        "routingIdentifier": ROUTING_IDENTIFIER,
        "siret": SIRET,
        "routingIdentifierType": {"type": "string", "maxLength": 4},
        "routingCodeName": {"type": "string", "maxLength": 100},
        "managesLegalCommitmentCode": {"type": "boolean"},
        "administrativeStatus": STATUS_AC,
        "address": ADDRESS,
        "legalUnit": LEGAL_UNIT,
        "facility": FACILITY,
    },
}
DIRECTORY_LINE = {
    "type": "object",
    "required": ["addressingIdentifier", "platformType", "directoryLineStatus", "siren"],
    "properties": {
        "addressingIdentifier": {"type": "string", "maxLength": 125},
        "platformType": {"enum": ["WK", "DFH"]},
        "directoryLineStatus": {"enum": ["Enabled", "Disabled", "Upcoming"]},
        "siren": SIREN,
        "siret": SIRET,
        "routingIdentifier": ROUTING_IDENTIFIER,
        "addressingSuffix": {"type": "string", "maxLength": 100},
        "routingCode": {
            "type": "object",
            "properties": {
                "routingIdentifier": ROUTING_IDENTIFIER,
                "managesLegalCommitment": {"type": "boolean"},
                "administrativeStatus": STATUS_AC,
            },
        },
        "legalUnit": LEGAL_UNIT,
        "facility": FACILITY,
    },
}


def search_response(item: dict) -> dict:
    """The `*SearchPost200Response` of a resource: the search, the total and the results."""
    return {
        "type": "object",
        "required": ["search", "totalNumberOfResults", "results"],
        "properties": {
            "search": {"type": "object"},
            "totalNumberOfResults": {"type": "integer"},
            "results": {"type": "array", "items": item},
        },
    }
