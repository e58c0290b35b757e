"""The Directory Service (XP Z12-013 annex B, AFNOR Directory Service 1.3.0): legal units
(SIREN), facilities (SIRET), routing codes and directory lines, each got by id or searched.

A directory line says where a recipient receives: its addressing identifier (the electronic
address, scheme 0225: SIREN, or SIREN_routing-identifier) and the platform type, WK for an
approved platform, DFH for the public one (PPF, Chorus Pro for public buyers).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import falcon

from .seed import COMPANIES, Company, RoutingCode
from .web import api_error, bad, json_body, send_json

DEFAULT_LIMIT, MAX_LIMIT = 50, 1000
OPERATORS = ("strict", "contains", "startWith")


def _status(active: bool) -> str:
    return "A" if active else "C"


def legal_unit(company: Company) -> dict[str, Any]:
    """legalUnitPayloadHistory / legalUnitPayloadIncluded."""
    return {
        "siren": company.siren,
        "businessName": company.name,
        "entityType": "Public" if company.public else "PrivateVatRegistered",
        "administrativeStatus": _status(company.active),
        "instructions": {"isSalesProspectingForbidden": False},
    }


def address(company: Company) -> dict[str, str]:
    """addressRead."""
    return {
        "addressLine1": company.address,
        "postalCode": company.postcode,
        "locality": company.city,
        "countryCode": "FR",
        "countryName": "France",
    }


def facility(company: Company, instructions_key: str = "siretInstructions") -> dict[str, Any]:
    """facilityPayloadHistory (``siretInstructions``) or facilityPayloadIncluded
    (``instructions``); public structures carry their B2G data."""
    view: dict[str, Any] = {
        "siret": company.siret,
        "siren": company.siren,
        "name": company.name,
        "facilityType": "P",
        "administrativeStatus": _status(company.active),
        instructions_key: {"isSalesProspectingForbidden": False},
        "address": address(company),
    }
    if company.public:
        view["b2gAdditionalData"] = {
            "pm": False,
            "pmOnly": False,
            "managesPaymentStatus": company.manages_payment_status,
            "managesLegalCommitmentCode": company.engagement_required,
            "managesLegalCommitmentOrServiceCode": company.service_or_engagement,
            "serviceCodeStatus": company.service_required,
        }
    return view


def routing_code(company: Company, code: RoutingCode) -> dict[str, Any]:
    """routingCodePayloadHistoryLegalUnitFacility (without its inclusions)."""
    return {
        "routingIdentifier": code.identifier,
        "siret": company.siret,
        "routingIdentifierType": code.type,
        "routingCodeName": code.name,
        "managesLegalCommitmentCode": code.legal_commitment,
        "administrativeStatus": _status(company.active),
        "address": address(company),
    }


def _line_routing_code(company: Company, code: RoutingCode) -> dict[str, Any]:
    """The routing code as a directory line includes it."""
    view = routing_code(company, code)
    del view["siret"], view["managesLegalCommitmentCode"]
    return view | {"managesLegalCommitment": code.legal_commitment}


class Line:
    """One directory line: a SIREN, or a SIREN/SIRET/routing code, and where it receives."""

    def __init__(self, company: Company, code: RoutingCode | None = None) -> None:
        self.company = company
        self.code = code
        self.id = f"{company.siren}_{code.identifier}" if code else company.siren

    def view(self, include: set[str]) -> dict[str, Any]:
        view: dict[str, Any] = {
            "addressingIdentifier": self.id,
            "platformType": "DFH" if self.company.public else "WK",
            "directoryLineStatus": "Enabled" if self.company.active else "Disabled",
            "siren": self.company.siren,
        }
        if self.code:
            view |= {"siret": self.company.siret, "routingIdentifier": self.code.identifier}
            if "routingCode" in include:
                view["routingCode"] = _line_routing_code(self.company, self.code)
        if "siren" in include:
            view["legalUnit"] = legal_unit(self.company)
        if "siret" in include and self.code:
            view["facility"] = facility(self.company, "instructions")
        return view


LINES = [Line(company) for company in COMPANIES] + [
    Line(company, code) for company in COMPANIES for code in company.routing_codes
]
CODES = [(company, code) for company in COMPANIES for code in company.routing_codes]


def _addresses(company: Company) -> str:
    return f"{company.address} {company.postcode} {company.city}"


def _matches(value: Any, op: str, wanted: str) -> bool:
    text = "" if value is None else str(value)
    if op == "strict":
        return text == wanted
    if op == "startWith":
        return text.lower().startswith(wanted.lower())
    return wanted.lower() in text.lower()


class Searchable:
    """One resource's search: its filters (name → value of an item), the fields a result may
    be cut to, what it may include, and how an item is shown."""

    def __init__(
        self,
        items: Callable[[], list],
        filters: dict[str, Callable[[Any], Any]],
        fields: tuple[str, ...],
        includes: tuple[str, ...],
        view: Callable[[Any, set[str]], dict],
    ) -> None:
        self.items = items
        self.filters = filters
        self.fields = fields
        self.includes = includes
        self.view = view

    def search(self, body: dict[str, Any]) -> dict[str, Any]:
        filters = body.get("filters") or {}
        if not isinstance(filters, dict):
            raise bad("filters must be an object")
        for name, condition in filters.items():
            if name not in self.filters:
                raise bad(f"unknown filter {name!r} ({', '.join(self.filters)})")
            if (
                not isinstance(condition, dict)
                or condition.get("op") not in OPERATORS
                or not isinstance(condition.get("value"), str)
            ):
                raise bad(f'filter {name} must be {{"op": strict|contains|startWith, "value"}}')
        limit, ignore = body.get("limit", DEFAULT_LIMIT), body.get("ignore", 0)
        if type(limit) is not int or not 0 < limit <= MAX_LIMIT:
            raise bad(f"limit must be an integer from 1 to {MAX_LIMIT}")
        if type(ignore) is not int or ignore < 0:
            raise bad("ignore must be a positive integer")
        include = self.include_of(body.get("include"))
        fields = self.fields_of(body.get("fields"))
        found = [
            item
            for item in self.items()
            if all(
                _matches(self.filters[name](item), c["op"], c["value"])
                for name, c in filters.items()
            )
        ]
        views = [self.view(item, include) for item in found]
        for sort in reversed(body.get("sorting") or []):
            if not isinstance(sort, dict) or sort.get("order", "ascending") not in (
                "ascending",
                "descending",
            ):
                raise bad('sorting is a list of {"field", "order": ascending|descending}')
            field_name = sort.get("field")
            views.sort(
                key=lambda v: str(v.get(field_name, "")),  # noqa: B023 (used at once)
                reverse=sort.get("order") == "descending",
            )
        return {
            "search": body,
            "totalNumberOfResults": len(views),
            "results": [_cut(v, fields) for v in views[ignore : ignore + limit]],
        }

    def include_of(self, include: Any) -> set[str]:
        include = include or []
        if not isinstance(include, list) or any(i not in self.includes for i in include):
            raise bad(f"include must be a list among {', '.join(self.includes) or 'nothing'}")
        return set(include)

    def fields_of(self, fields: Any) -> set[str] | None:
        if fields is None:
            return None
        if not isinstance(fields, list) or any(f not in self.fields for f in fields):
            raise bad(f"fields must be a list among {', '.join(self.fields)}")
        return set(fields)


def _cut(view: dict[str, Any], fields: set[str] | None) -> dict[str, Any]:
    """Keep the asked fields (and the included objects, asked apart)."""
    if not fields:
        return view
    included = {"legalUnit", "facility", "routingCode"}
    return {k: v for k, v in view.items() if k in fields or k in included}


SIREN = Searchable(
    lambda: list(COMPANIES),
    {
        "siren": lambda c: c.siren,
        "businessName": lambda c: c.name,
        "entityType": lambda c: legal_unit(c)["entityType"],
        "administrativeStatus": lambda c: _status(c.active),
    },
    ("siren", "businessName", "entityType", "administrativeStatus", "instructions"),
    (),
    lambda c, include: legal_unit(c),
)
SIRET = Searchable(
    lambda: list(COMPANIES),
    {
        "siret": lambda c: c.siret,
        "siren": lambda c: c.siren,
        "name": lambda c: c.name,
        "facilityType": lambda c: "P",
        "administrativeStatus": lambda c: _status(c.active),
        "addressLines": lambda c: c.address,
        "postalCode": lambda c: c.postcode,
        "locality": lambda c: c.city,
        "countrySubdivision": lambda c: None,
    },
    ("siret", "siren", "name", "facilityType", "administrativeStatus", "siretInstructions",
     "address", "b2gAdditionalData"),
    ("siren",),
    lambda c, include: facility(c) | ({"legalUnit": legal_unit(c)} if include else {}),
)  # fmt: skip
ROUTING_CODE = Searchable(
    lambda: list(CODES),
    {
        "siret": lambda pair: pair[0].siret,
        "routingIdentifier": lambda pair: pair[1].identifier,
        "routingCodeName": lambda pair: pair[1].name,
        "administrativeStatus": lambda pair: _status(pair[0].active),
        "addressLines": lambda pair: pair[0].address,
        "postalCode": lambda pair: pair[0].postcode,
        "locality": lambda pair: pair[0].city,
    },
    ("siret", "routingIdentifierType", "routingCodeName", "routingIdentifier",
     "managesLegalCommitmentCode", "administrativeStatus", "address"),
    ("siren", "siret"),
    lambda pair, include: routing_code(*pair)
    | ({"legalUnit": legal_unit(pair[0])} if "siren" in include else {})
    | ({"facility": facility(pair[0], "instructions")} if "siret" in include else {}),
)  # fmt: skip
DIRECTORY_LINE = Searchable(
    lambda: list(LINES),
    {
        "addressingIdentifier": lambda line: line.id,
        "siren": lambda line: line.company.siren,
        "siret": lambda line: line.company.siret if line.code else None,
        "routingIdentifier": lambda line: line.code.identifier if line.code else None,
        "addressingSuffix": lambda line: None,
    },
    ("addressingIdentifier", "siren", "siret", "routingIdentifier", "addressingSuffix"),
    ("siren", "siret", "routingCode"),
    lambda line, include: line.view(include),
)


def _company(**where: str) -> Company:
    for company in COMPANIES:
        if all(getattr(company, key) == value for key, value in where.items()):
            return company
    raise api_error(404, "Aucune entrée de l'annuaire ne correspond.")


def _query_list(req: falcon.Request, name: str) -> list[str] | None:
    values = req.get_param_as_list(name)
    return [v for value in values for v in value.split(",")] if values else None


class SearchResource:
    def __init__(self, searchable: Searchable) -> None:
        self.searchable = searchable

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        send_json(resp, self.searchable.search(json_body(req)))


class GetResource:
    """A get by id, with the `fields` (and, where the annex has it, `include`) parameters."""

    def __init__(self, searchable: Searchable, find: Callable[..., dict]) -> None:
        self.searchable = searchable
        self.find = find

    def on_get(self, req: falcon.Request, resp: falcon.Response, **ids: str) -> None:
        include = self.searchable.include_of(_query_list(req, "include"))
        fields = self.searchable.fields_of(_query_list(req, "fields"))
        send_json(resp, _cut(self.find(include, **ids), fields))


def _line(include: set[str], addressing_identifier: str) -> dict:
    line = next((line for line in LINES if line.id == addressing_identifier), None)
    if line is None:
        raise api_error(404, "Aucune ligne d'annuaire pour cet identifiant d'adressage.")
    return line.view(include)


def _routing_code(include: set[str], siret: str, routing_identifier: str) -> dict:
    for company, code in CODES:
        if company.siret == siret and code.identifier == routing_identifier:
            return ROUTING_CODE.view((company, code), include)
    raise api_error(404, "Aucun code de routage pour ce SIRET et cet identifiant.")


class HealthResource:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.status = falcon.HTTP_200


def add_routes(app: falcon.App, prefix: str) -> None:
    v1 = prefix + "/v1"
    app.add_route(v1 + "/healthcheck", HealthResource())
    app.add_route(v1 + "/siren/search", SearchResource(SIREN))
    app.add_route(
        v1 + "/siren/code-insee:{siren}",
        GetResource(SIREN, lambda include, siren: legal_unit(_company(siren=siren))),
    )
    app.add_route(v1 + "/siret/search", SearchResource(SIRET))
    app.add_route(
        v1 + "/siret/code-insee:{siret}",
        GetResource(SIRET, lambda include, siret: SIRET.view(_company(siret=siret), {"siren"})),
    )
    app.add_route(v1 + "/routing-code/search", SearchResource(ROUTING_CODE))
    app.add_route(
        v1 + "/routing-code/siret:{siret}/code:{routing_identifier}",
        GetResource(ROUTING_CODE, _routing_code),
    )
    app.add_route(v1 + "/directory-line/search", SearchResource(DIRECTORY_LINE))
    app.add_route(
        v1 + "/directory-line/code:{addressing_identifier}", GetResource(DIRECTORY_LINE, _line)
    )
