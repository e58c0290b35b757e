"""The Flow Service (XP Z12-013 annex A, AFNOR Flow Service 1.1.0): deposit, search, download
and health of flows. Field names, enums and statuses are the annex's."""

from __future__ import annotations

import hashlib
import html
import json
import re
from typing import TYPE_CHECKING, Any

import falcon

from .lifecycle import lifecycle_view
from .web import api_error, bad, iso, json_body, parse_time, send_json

if TYPE_CHECKING:
    from .app import Sandbox

# components/schemas of the annex
PROCESSING_RULES = ("B2B", "B2BInt", "B2C", "OutOfScope", "ArchiveOnly", "NotApplicable")
SYNTAXES = ("CII", "UBL", "Factur-X", "CDAR", "FRR")
PROFILES = ("Basic", "CIUS", "Extended-CTC-FR")
FLOW_TYPES = (
    "CustomerInvoice", "SupplierInvoice", "StateInvoice", "CustomerInvoiceLC",
    "SupplierInvoiceLC", "StateCustomerInvoiceLC", "StateSupplierInvoiceLC",
    "AggregatedCustomerTransactionReport", "UnitaryCustomerTransactionReport",
    "AggregatedCustomerPaymentReport", "UnitaryCustomerPaymentReport",
    "UnitarySupplierTransactionReport", "MultiFlowReport",
)  # fmt: skip
DIRECTIONS = ("In", "Out")
ACK_STATUSES = ("Pending", "Ok", "Error")
DOC_TYPES = ("Metadata", "Original", "Converted", "ReadableView")
MAX_ID = 36  # NotOnlyUuid
MAX_NAME = 255
SHA256 = re.compile(r"^[a-f0-9]{64}$")
SEARCH_LIMIT, SEARCH_LIMIT_MAX = 25, 100
FLOW_INFO_FIELDS = {"trackingId", "name", "processingRule", "flowSyntax", "flowProfile", "sha256"}
SEARCH_FILTERS = {
    "updatedAfter", "updatedBefore", "processingRule", "flowType", "flowDirection",
    "trackingId", "ackStatus",
}  # fmt: skip


def flow_view(sandbox: Sandbox, flow: dict) -> dict[str, Any]:
    """A flow as the annex's `Flow` schema; invoices also carry their lifecycle (sandbox
    extension, see the README)."""
    acknowledgement: dict[str, Any] = {"status": flow["ack_status"]}
    if flow["ack_details"]:
        acknowledgement["details"] = json.loads(flow["ack_details"])
    view = {
        "flowId": flow["flow_id"],
        "submittedAt": iso(flow["submitted_at"]),
        "updatedAt": iso(flow["updated_at"]),
        "trackingId": flow["tracking_id"],
        "flowType": flow["flow_type"],
        "processingRule": flow["processing_rule"],
        "processingRuleSource": flow["rule_source"],
        "flowDirection": flow["direction"],
        "flowSyntax": flow["syntax"],
        "flowProfile": flow["profile"],
        "acknowledgement": acknowledgement,
    }
    view = {key: value for key, value in view.items() if value is not None}
    if flow["syntax"] != "CDAR" and flow["syntax"] != "FRR":
        view["lifecycle"] = lifecycle_view(sandbox.store.lifecycle(flow["flow_id"]))
    return view


def full_flow_info(flow: dict) -> dict[str, Any]:
    """The deposit's answer: the annex's `FullFlowInfo` (flow info, id and submission time)."""
    info = {
        "flowId": flow["flow_id"],
        "submittedAt": iso(flow["submitted_at"]),
        "trackingId": flow["tracking_id"],
        "name": flow["name"],
        "processingRule": flow["processing_rule"],
        "flowSyntax": flow["syntax"],
        "flowProfile": flow["profile"],
        "sha256": flow["sha256"],
    }
    return {key: value for key, value in info.items() if value is not None}


def check_flow_info(info: Any) -> dict[str, Any]:
    """Check the `flowInfo` part against the annex's `FlowInfo` schema."""
    if not isinstance(info, dict):
        raise bad("flowInfo doit être un objet JSON.")
    unknown = set(info) - FLOW_INFO_FIELDS
    if unknown:
        raise bad(f"Champs inconnus dans flowInfo : {', '.join(sorted(unknown))}.")
    if "flowSyntax" not in info:
        raise bad("flowInfo.flowSyntax est obligatoire.")
    for key, allowed in (
        ("flowSyntax", SYNTAXES),
        ("flowProfile", PROFILES),
        ("processingRule", PROCESSING_RULES),
    ):
        if key in info and info[key] not in allowed:
            raise bad(f"flowInfo.{key} doit valoir {', '.join(allowed)}.")
    for key, size in (("trackingId", MAX_ID), ("name", MAX_NAME)):
        if key in info and (not isinstance(info[key], str) or not 0 < len(info[key]) <= size):
            raise bad(f"flowInfo.{key} doit être une chaîne de 1 à {size} caractères.")
    if "sha256" in info and not (isinstance(info["sha256"], str) and SHA256.match(info["sha256"])):
        raise bad("flowInfo.sha256 doit être 64 caractères hexadécimaux en minuscules.")
    return info


class FlowsResource:
    """`POST /v1/flows` (createFlow): a multipart body with a `flowInfo` and a `file` part."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        limit = self.sandbox.max_file_bytes
        if req.content_length and req.content_length > limit + 1024 * 1024:
            raise api_error(413, "Le fichier dépasse la taille maximale.")
        if not (req.content_type or "").startswith("multipart/form-data"):
            raise bad("Le corps doit être multipart/form-data (parties flowInfo et file).")
        info, content = self._parts(req, limit)
        owner = req.context.client["siren"]
        tracking_id = info.get("trackingId")
        if tracking_id is not None:
            self.sandbox.store.count("deposits", tracking_id)
        sha256 = hashlib.sha256(content).hexdigest()
        if tracking_id is not None:
            for earlier in self.sandbox.store.find_flows(
                owner=owner, direction="Out", tracking_id=tracking_id
            ):
                if earlier["sha256"] != sha256:
                    raise api_error(
                        422, "Ce trackingId a déjà servi pour un autre fichier.", "ALREADY_EXISTS"
                    )
                return send_json(resp, full_flow_info(earlier), 202)  # a retried deposit
        syntax = info["flowSyntax"]
        invoice = syntax in ("CII", "UBL", "Factur-X")
        flow = self.sandbox.store.add_flow(
            self.sandbox.now(),
            owner=owner,
            direction="Out",
            flow_type="CustomerInvoice" if invoice else _other_type(syntax),
            syntax=syntax,
            profile=info.get("flowProfile"),
            processing_rule=info.get("processingRule") or ("B2B" if invoice else "NotApplicable"),
            rule_source="Input" if "processingRule" in info else "Computed",
            tracking_id=tracking_id,
            name=info.get("name"),
            sha256=sha256,
            declared_sha256=info.get("sha256"),
            content=content,
        )
        send_json(resp, full_flow_info(flow), 202)

    @staticmethod
    def _parts(req: falcon.Request, limit: int) -> tuple[dict, bytes]:
        info = content = None
        try:
            for part in req.get_media():
                if part.name == "flowInfo":
                    try:
                        info = json.loads(part.get_data())
                    except (ValueError, UnicodeDecodeError) as ex:
                        raise bad("flowInfo n'est pas du JSON.") from ex
                elif part.name == "file":
                    content = part.stream.read(limit + 1)
                    if len(content) > limit:
                        raise api_error(413, "Le fichier dépasse la taille maximale.")
                else:
                    part.stream.pipe()  # an unknown part is skipped
        except falcon.MediaMalformedError as ex:
            raise bad("Le corps multipart est mal formé.") from ex
        if info is None or content is None:
            raise bad("Les parties flowInfo et file sont obligatoires.")
        return check_flow_info(info), content


def _other_type(syntax: str) -> str:
    # A lifecycle deposited by a member answers an invoice it received; an e-reporting file
    # is not split by the sandbox.
    return "SupplierInvoiceLC" if syntax == "CDAR" else "MultiFlowReport"


class SearchResource:
    """`POST /v1/flows/search` (searchFlow): criteria ANDed, list values ORed; pages by
    `updatedAfter`, oldest update first."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = json_body(req)
        if not isinstance(body.get("where"), dict):
            raise bad("Le corps doit porter un objet where.")
        limit = body.get("limit", SEARCH_LIMIT)
        if type(limit) is not int or not 0 < limit <= SEARCH_LIMIT_MAX:
            raise bad(f"limit doit être un entier de 1 à {SEARCH_LIMIT_MAX}.")
        where = body["where"]
        filters = self._filters(where)
        found = self.sandbox.store.search_flows(req.context.client["siren"], filters, limit)
        send_json(
            resp,
            {
                "limit": limit,
                "filters": where,
                "results": [flow_view(self.sandbox, flow) for flow in found],
            },
        )

    @staticmethod
    def _filters(where: dict) -> dict[str, Any]:
        unknown = set(where) - SEARCH_FILTERS
        if unknown:
            raise bad(f"Critères inconnus : {', '.join(sorted(unknown))}.")
        if not where:
            raise bad("Au moins un critère est requis.")
        filters: dict[str, Any] = {}
        for key in ("updatedAfter", "updatedBefore"):
            if key in where:
                filters[key] = parse_time(where[key], key)
        for key, allowed in (
            ("processingRule", PROCESSING_RULES),
            ("flowType", FLOW_TYPES),
            ("flowDirection", DIRECTIONS),
        ):
            if key in where:
                values = where[key]
                if not isinstance(values, list) or any(v not in allowed for v in values):
                    raise bad(f"{key} doit être une liste parmi {', '.join(allowed)}.")
                filters[key] = values
        if "ackStatus" in where:
            if where["ackStatus"] not in ACK_STATUSES:
                raise bad(f"ackStatus doit valoir {', '.join(ACK_STATUSES)}.")
            filters["ackStatus"] = where["ackStatus"]
        if "trackingId" in where:
            if not isinstance(where["trackingId"], str) or len(where["trackingId"]) > MAX_ID:
                raise bad(f"trackingId doit être une chaîne d'au plus {MAX_ID} caractères.")
            filters["trackingId"] = where["trackingId"]
        return filters


class FlowResource:
    """`GET /v1/flows/{flowId}` (getFlow) with `docType`: Metadata (default), Original,
    Converted, ReadableView."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def on_get(self, req: falcon.Request, resp: falcon.Response, flow_id: str) -> None:
        doc_type = req.get_param("docType") or "Metadata"
        if doc_type not in DOC_TYPES:
            raise bad(f"docType doit valoir {', '.join(DOC_TYPES)}.")
        flow = self.sandbox.store.flow(flow_id)
        if flow is None or flow["owner"] != req.context.client["siren"]:
            raise api_error(404, "Flux inconnu.")
        if doc_type == "Metadata":
            return send_json(resp, flow_view(self.sandbox, flow))
        if doc_type == "Converted":
            raise api_error(404, "Le bac à sable ne convertit pas les flux.")
        if doc_type == "ReadableView":
            return self._readable(resp, flow)
        pdf = flow["syntax"] == "Factur-X"
        resp.content_type = "application/pdf" if pdf else "application/xml"
        name = flow["name"] or f"{flow['flow_id']}.{'pdf' if pdf else 'xml'}"
        resp.set_header("Content-Disposition", f'attachment;filename="{_safe_name(name)}"')
        resp.data = flow["content"]

    @staticmethod
    def _readable(resp: falcon.Response, flow: dict) -> None:
        """A Factur-X PDF is its own readable view; other flows get a short HTML page."""
        if flow["syntax"] == "Factur-X":
            resp.content_type = "application/pdf"
            resp.data = flow["content"]
            return
        rows = {
            "Flux": flow["flow_id"],
            "Syntaxe": flow["syntax"],
            "Facture": flow["invoice_number"] or "",
            "Émetteur (SIREN)": flow["sender"] or "",
            "Destinataire (SIREN)": flow["recipient"] or "",
        }
        cells = "".join(
            f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows.items()
        )
        resp.content_type = "text/html; charset=utf-8"
        resp.text = f'<!doctype html><html lang="fr"><meta charset="utf-8"><table>{cells}</table>'


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


class HealthResource:
    """`GET /v1/healthcheck` (getHealth): 200 with no body."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.status = falcon.HTTP_200


def add_routes(app: falcon.App, sandbox: Sandbox, prefix: str) -> None:
    app.add_route(prefix + "/v1/flows", FlowsResource(sandbox))
    app.add_route(prefix + "/v1/flows/search", SearchResource(sandbox))
    app.add_route(prefix + "/v1/flows/{flow_id}", FlowResource(sandbox))
    app.add_route(prefix + "/v1/healthcheck", HealthResource())
