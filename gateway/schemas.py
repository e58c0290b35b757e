"""The REST contract (v1): marshmallow schemas for every body the API takes or returns.

The canonical invoice JSON (``examples/*.json``) loads into :mod:`gateway.model` objects
and dumps back from them. Unknown fields are refused, never dropped. Every error message
is in French; :func:`findings_from_errors` turns marshmallow's nested error dict into
findings with a stable code and the path of the field at fault.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from marshmallow import RAISE, Schema, ValidationError, fields, post_dump, post_load, validate

from gateway import model
from gateway.directory import COMPANY, OUT_OF_SCOPE, PUBLIC
from gateway.errors import Finding
from gateway.routing import CHANNELS

REQUIRED = "Ce champ est obligatoire."
NULL = "Ce champ ne peut pas être nul."
UNKNOWN = "Champ inconnu : il ne fait pas partie du contrat de l'API."
FIELD_MESSAGES = {
    "required": REQUIRED,
    "null": NULL,
    "invalid": "Valeur invalide.",
    "type": "Type de valeur invalide.",
    "validator_failed": "Valeur invalide.",
}
CODES_BY_MESSAGE = {REQUIRED: "field.required", NULL: "field.required", UNKNOWN: "field.unknown"}


def _french(field_class: type[fields.Field], **messages: str) -> type[fields.Field]:
    """Return a subclass of ``field_class`` whose error messages are in French."""
    merged = {**field_class.default_error_messages, **FIELD_MESSAGES, **messages}
    return type(field_class.__name__, (field_class,), {"default_error_messages": merged})


Str = _french(fields.String, invalid="Une chaîne de caractères est attendue.")
Bool = _french(fields.Boolean, invalid="Une valeur booléenne (true ou false) est attendue.")
Int = _french(fields.Integer, invalid="Un nombre entier est attendu.")
Date = _french(fields.Date, invalid="Une date au format AAAA-MM-JJ est attendue.")
AwareDateTime = _french(
    fields.AwareDateTime,
    invalid="Une date et heure ISO 8601 est attendue.",
    invalid_awareness="La date et heure doit indiquer son fuseau (Z ou +01:00).",
)
Email = _french(fields.Email, invalid="Adresse e-mail invalide.")
Url = _french(fields.Url, invalid="Adresse URL invalide.")
Dict = _french(fields.Dict, invalid="Un objet JSON est attendu.")


class FrenchList(fields.List):
    default_error_messages = {
        **fields.List.default_error_messages,
        **FIELD_MESSAGES,
        "invalid": "Une liste est attendue.",
    }


class FrenchNested(fields.Nested):
    default_error_messages = {
        **fields.Nested.default_error_messages,
        **FIELD_MESSAGES,
        "type": "Un objet JSON est attendu.",
    }


DECIMAL_PATTERN = re.compile(r"-?\d{1,15}(\.\d{1,10})?")


class DecimalString(fields.Field):
    """A decimal number written as a JSON string (``"12.50"``), loaded as ``Decimal``.

    JSON numbers are refused: a float cannot carry an amount exactly.
    """

    default_error_messages = {
        **FIELD_MESSAGES,
        "invalid": 'Nombre décimal attendu, écrit comme une chaîne (par exemple "12.50").',
    }

    def _deserialize(self, value, attr, data, **kwargs) -> Decimal:
        if not isinstance(value, str) or not DECIMAL_PATTERN.fullmatch(value):
            raise self.make_error("invalid")
        try:
            return Decimal(value)
        except InvalidOperation as ex:
            raise self.make_error("invalid") from ex

    def _serialize(self, value, attr, obj, **kwargs) -> str | None:
        return None if value is None else format(value, "f")


def _length(maximum: int, minimum: int = 1) -> validate.Length:
    return validate.Length(
        min=minimum,
        max=maximum,
        error=f"Longueur attendue entre {minimum} et {maximum} caractères.",
    )


def _range(minimum: Decimal, maximum: Decimal) -> validate.Range:
    return validate.Range(
        min=minimum, max=maximum, error=f"Valeur attendue entre {minimum} et {maximum}."
    )


def _one_of(choices) -> validate.OneOf:
    return validate.OneOf(choices, error="Valeur attendue parmi : " + ", ".join(choices) + ".")


def _regexp(pattern: str, message: str) -> validate.Regexp:
    return validate.Regexp(pattern, error=message)


SIRET_SHAPE = _regexp(r"^\d{14}$", "Un SIRET s'écrit avec 14 chiffres.")
COUNTRY = _regexp(r"^[A-Z]{2}$", "Code pays ISO 3166-1 à deux lettres majuscules attendu (FR).")
CURRENCY = _regexp(r"^[A-Z]{3}$", "Code devise ISO 4217 à trois lettres attendu (EUR).")
NON_NEGATIVE = _range(Decimal(0), Decimal("999999999999"))
VAT_RATE = _range(Decimal(0), Decimal(100))
#: UNCL 5305 VAT categories EN 16931 allows (B: Italian split payment).
VAT_CATEGORIES = ("S", "Z", "E", "AE", "K", "G", "O", "L", "M", "B")


class StrictSchema(Schema):
    """Base of every schema: unknown fields are errors, messages are French."""

    error_messages = {"unknown": UNKNOWN, "type": "Un objet JSON est attendu."}

    class Meta:
        unknown = RAISE
        ordered = True


class _ModelSchema(StrictSchema):
    """A schema that loads into the :mod:`gateway.model` class named by ``__model__``."""

    __model__: type

    @post_load
    def make_object(self, data: dict, **kwargs):
        return self.__model__(**data)


class _OtherTermsSchema(_ModelSchema):
    """A model schema with ``other_terms``: EN 16931 terms kept from a UBL or CII document,
    shown only when there are some."""

    other_terms = Dict(load_default=dict)

    @post_dump
    def drop_empty_other_terms(self, data: dict, **kwargs) -> dict:
        if not data.get("other_terms"):
            data.pop("other_terms", None)
        return data


def _opt(field_class: type[fields.Field], *args, **kwargs) -> fields.Field:
    """Return an optional, nullable field."""
    return field_class(*args, load_default=None, allow_none=True, **kwargs)


class AddressSchema(_ModelSchema):
    __model__ = model.Address
    line1 = _opt(Str, validate=_length(100))
    line2 = _opt(Str, validate=_length(100))
    line3 = _opt(Str, validate=_length(100))
    postcode = _opt(Str, validate=_length(20))
    city = _opt(Str, validate=_length(100))
    country_subdivision = _opt(Str, validate=_length(100))
    country = Str(load_default="FR", validate=COUNTRY)


class PartySchema(_ModelSchema):
    __model__ = model.Party
    name = Str(required=True, validate=_length(200))
    siret = _opt(Str, validate=SIRET_SHAPE)
    vat_id = _opt(Str, validate=_length(30))
    address = FrenchNested(AddressSchema, load_default=model.Address)
    email = _opt(Email)
    trading_name = _opt(Str, validate=_length(200))


class ReferencesSchema(_ModelSchema):
    __model__ = model.References
    service_code = _opt(Str, validate=_length(100))
    engagement = _opt(Str, validate=_length(100))
    purchase_order = _opt(Str, validate=_length(100))
    contract = _opt(Str, validate=_length(100))
    buyer_accounting_reference = _opt(Str, validate=_length(100))


class PrecedingInvoiceSchema(_ModelSchema):
    __model__ = model.PrecedingInvoice
    number = Str(required=True, validate=_length(100))
    issue_date = _opt(Date)


class LineAdjustmentSchema(_ModelSchema):
    __model__ = model.LineAdjustment
    amount = DecimalString(required=True, validate=NON_NEGATIVE)
    reason = _opt(Str, validate=_length(200))
    reason_code = _opt(Str, validate=_length(10))
    percent = _opt(DecimalString)
    base_amount = _opt(DecimalString)


class LineSchema(_OtherTermsSchema):
    __model__ = model.Line
    id = _opt(Str, validate=_length(50))
    item_id = _opt(Str, validate=_length(50))
    seller_item_id = _opt(Str, validate=_length(50))
    name = Str(required=True, validate=_length(500))
    description = _opt(Str, validate=_length(1000))
    note = _opt(Str, validate=_length(1000))
    quantity = DecimalString(required=True)
    unit_code = Str(load_default="C62", validate=_length(3, 2))
    base_quantity = _opt(DecimalString)
    gross_price = _opt(DecimalString, validate=NON_NEGATIVE)
    price_discount = _opt(DecimalString, validate=NON_NEGATIVE)
    net_price = DecimalString(required=True, validate=NON_NEGATIVE)
    vat_rate = DecimalString(required=True, validate=VAT_RATE)
    vat_category = _opt(Str, validate=_one_of(VAT_CATEGORIES))
    allowances = FrenchList(FrenchNested(LineAdjustmentSchema), load_default=list)
    charges = FrenchList(FrenchNested(LineAdjustmentSchema), load_default=list)
    line_amount = _opt(DecimalString)


class AllowanceChargeSchema(_ModelSchema):
    __model__ = model.AllowanceCharge
    reason = _opt(Str, validate=_length(200))
    reason_code = _opt(Str, validate=_length(10))
    amount = DecimalString(required=True, validate=NON_NEGATIVE)
    vat_rate = DecimalString(required=True, validate=VAT_RATE)
    vat_category = _opt(Str, validate=_one_of(VAT_CATEGORIES))
    base_amount = _opt(DecimalString)
    percent = _opt(DecimalString)


class PaymentSchema(_ModelSchema):
    __model__ = model.Payment
    means_code = _opt(Str, validate=_regexp(r"^\d{1,3}$", "Code UNTDID 4461 attendu (30…)."))
    iban = _opt(Str, validate=_length(34, 5))
    bic = _opt(Str, validate=_length(11, 8))
    account_name = _opt(Str, validate=_length(200))
    remittance_information = _opt(Str, validate=_length(140))
    terms = _opt(Str, validate=_length(500))


class TotalsSchema(_ModelSchema):
    """Totals a client may send: each one given is checked against the computed one."""

    __model__ = model.Totals
    lines = _opt(DecimalString)
    allowances = _opt(DecimalString)
    charges = _opt(DecimalString)
    tax_exclusive = _opt(DecimalString)
    vat = _opt(DecimalString)
    tax_inclusive = _opt(DecimalString)
    prepaid = _opt(DecimalString)
    rounding = _opt(DecimalString)
    payable = _opt(DecimalString)


class VatBreakdownSchema(StrictSchema):
    category = Str()
    rate = DecimalString()
    taxable_amount = DecimalString()
    tax_amount = DecimalString()
    exemption_reason = Str(allow_none=True)
    exemption_reason_code = Str(allow_none=True)


class InvoiceSchema(_OtherTermsSchema):
    """The canonical invoice, exactly as ``examples/*.json`` show it."""

    __model__ = model.Invoice
    number = Str(required=True, validate=_length(100))
    type = fields.Enum(
        model.InvoiceType,
        by_value=True,
        load_default=model.InvoiceType.INVOICE,
        error_messages={
            **FIELD_MESSAGES,
            "unknown": "Type attendu parmi : "
            + ", ".join(t.value for t in model.InvoiceType)
            + ".",
        },
    )
    issue_date = Date(required=True)
    due_date = _opt(Date)
    delivery_date = _opt(Date)
    currency = Str(load_default="EUR", validate=CURRENCY)
    seller = FrenchNested(PartySchema, required=True)
    buyer = FrenchNested(PartySchema, required=True)
    references = FrenchNested(ReferencesSchema, load_default=model.References)
    preceding_invoice = _opt(FrenchNested, PrecedingInvoiceSchema)
    delivery_notes = FrenchList(Str(validate=_length(100)), load_default=list)
    lines = FrenchList(
        FrenchNested(LineSchema),
        required=True,
        validate=validate.Length(min=1, error="Une facture a au moins une ligne."),
    )
    allowances = FrenchList(FrenchNested(AllowanceChargeSchema), load_default=list)
    charges = FrenchList(FrenchNested(AllowanceChargeSchema), load_default=list)
    payment = _opt(FrenchNested, PaymentSchema)
    notes = FrenchList(Str(validate=_length(2000)), load_default=list)
    vat_exemption_reason = _opt(Str, validate=_length(500))
    vat_exemption_reason_code = _opt(Str, validate=_length(30))
    prepaid_amount = DecimalString(load_default=model.ZERO, validate=NON_NEGATIVE)
    rounding_amount = DecimalString(load_default=model.ZERO)
    totals = _opt(FrenchNested, TotalsSchema)
    vat_breakdown = FrenchList(FrenchNested(VatBreakdownSchema), dump_only=True)


def _flatten(messages, path: str = "") -> list[tuple[str, str]]:
    """Yield (field path, message) pairs from marshmallow's nested error structure."""
    if isinstance(messages, str):
        return [(path, messages)]
    if isinstance(messages, list):
        if all(isinstance(message, str) for message in messages):
            return [(path, message) for message in messages]
        return [pair for message in messages for pair in _flatten(message, path)]
    pairs = []
    for key, value in messages.items():
        if key == "_schema":
            child = path
        elif isinstance(key, int):
            child = f"{path}[{key}]"
        else:
            child = f"{path}.{key}" if path else str(key)
        pairs.extend(_flatten(value, child))
    return pairs


def findings_from_errors(error: ValidationError, prefix: str = "") -> list[Finding]:
    """Turn a marshmallow ``ValidationError`` into findings, one per faulty field."""
    return [
        Finding(
            code=CODES_BY_MESSAGE.get(message, "field.invalid"),
            field=field or None,
            message=message,
        )
        for field, message in _flatten(error.messages, prefix)
    ]


def load_invoice(data) -> model.Invoice:
    """Load canonical JSON (already decoded) into an Invoice; raise ValidationError."""
    return InvoiceSchema().load(data)


def dump_invoice(invoice: model.Invoice) -> dict:
    return InvoiceSchema().dump(invoice)


# --- Resources other than the invoice itself ---------------------------------------------


class ErrorSchema(Schema):
    code = fields.String(required=True, metadata={"description": "Stable, for programs."})
    field = fields.String(allow_none=True, metadata={"description": "Canonical field at fault."})
    message = fields.String(required=True, metadata={"description": "In French, for people."})
    severity = fields.String(metadata={"description": "error or warning"})
    rule = fields.String()
    xpath = fields.String()
    line = fields.Integer()


class ErrorsSchema(Schema):
    errors = fields.List(fields.Nested(ErrorSchema), required=True)
    warnings = fields.List(fields.Nested(ErrorSchema))


class MemberOutletHealthSchema(Schema):
    member_id = fields.String()
    member = fields.String()
    ok = fields.Boolean()
    checked_at = fields.DateTime(allow_none=True)
    details = fields.Dict()


class OutletHealthSchema(Schema):
    ok = fields.Boolean(metadata={"description": "Every check below (each member's) is ok."})
    members = fields.List(
        fields.Nested(MemberOutletHealthSchema),
        metadata={"description": "Checked with each member's own settings of the outlet."},
    )
    checked_at = fields.DateTime(allow_none=True, metadata={"description": "Cached a minute."})
    details = fields.Dict(metadata={"description": "What Outlet.health() said besides ok."})
    last_success = fields.DateTime(
        allow_none=True, metadata={"description": "When an invoice last left by this outlet."}
    )
    queue = fields.Integer(metadata={"description": "Invoices waiting to leave by it."})
    errors = fields.Integer(metadata={"description": "Its invoices EN_ERREUR or waiting."})


class ExpiringCredentialSchema(Schema):
    member_id = fields.String()
    member = fields.String()
    outlet = fields.String()
    setting = fields.String()
    expires = fields.Date()
    days = fields.Integer(metadata={"description": "Negative: expired."})


class WorkerHealthSchema(Schema):
    alive = fields.Boolean(metadata={"description": "A heartbeat within the last minute."})
    alive_count = fields.Integer()
    last_heartbeat = fields.DateTime(allow_none=True)
    owner = fields.String()
    host = fields.String()
    pid = fields.Integer()
    started_at = fields.DateTime()


class QueueHealthSchema(Schema):
    due = fields.Integer()
    waiting = fields.Integer(metadata={"description": "Planned for a later attempt."})
    oldest_due_at = fields.DateTime(allow_none=True)


class CopiesHealthSchema(Schema):
    pending = fields.Integer()
    parked = fields.Integer()


class HealthSchema(Schema):
    status = fields.String(required=True)
    version = fields.String()
    database = fields.String()
    plugins = fields.Dict()
    # With the admin's key only:
    outlets = fields.Dict(keys=fields.String(), values=fields.Nested(OutletHealthSchema))
    credentials = fields.List(fields.Nested(ExpiringCredentialSchema))
    worker = fields.Nested(WorkerHealthSchema)
    queue = fields.Nested(QueueHealthSchema)
    copies = fields.Nested(CopiesHealthSchema)


class MemberCreateSchema(StrictSchema):
    name = Str(required=True, validate=_length(200))
    siret = _opt(Str, validate=SIRET_SHAPE)
    email = _opt(Email)
    settings = Dict(
        load_default=dict,
        metadata={"description": 'Per-outlet settings, e.g. {"chorus": {...}}; stored encrypted.'},
    )


class MemberSchema(Schema):
    id = fields.String()
    name = fields.String()
    siret = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    created_at = fields.DateTime()
    password_set = fields.Boolean(
        metadata={"description": "Whether the member can sign in to the web pages by password."}
    )
    settings = fields.Dict(metadata={"description": "Outlet settings with secrets redacted."})
    api_key = fields.String(metadata={"description": "Shown once, on creation only."})


class PasswordSchema(StrictSchema):
    password = Str(required=True, validate=_length(200))


class ApiKeyCreateSchema(StrictSchema):
    role = Str(load_default="member", validate=_one_of(("member", "auditor")))
    expires_at = _opt(AwareDateTime)
    label = _opt(Str, validate=_length(100))


class ApiKeyInfoSchema(Schema):
    id = fields.String()
    role = fields.String()
    prefix = fields.String(metadata={"description": "The key's first characters, to tell it."})
    label = fields.String(allow_none=True)
    created_at = fields.DateTime()
    expires_at = fields.DateTime(allow_none=True)
    revoked_at = fields.DateTime(allow_none=True)
    last_used_at = fields.DateTime(
        allow_none=True, metadata={"description": "Up to a minute behind the last use."}
    )


class ApiKeySchema(ApiKeyInfoSchema):
    api_key = fields.String(metadata={"description": "Shown once, on creation only."})


class ApiKeyListSchema(Schema):
    keys = fields.List(fields.Nested(ApiKeyInfoSchema))


class CopySchema(StrictSchema):
    channel = Str(required=True, validate=_one_of(("email",)))
    to = Email(required=True)
    label = _opt(Str, validate=_length(200))


class CustomerWriteSchema(StrictSchema):
    name = Str(required=True, validate=_length(200))
    channel = Str(load_default="chorus", validate=_one_of(CHANNELS))
    copies = FrenchList(FrenchNested(CopySchema), load_default=list)


class CustomerSchema(Schema):
    siret = fields.String()
    name = fields.String()
    channel = fields.String()
    copies = fields.List(fields.Dict())
    updated_at = fields.DateTime()


class ServiceSchema(Schema):
    code = fields.String()
    name = fields.String()
    status = fields.String()
    engagement_required = fields.Boolean()


class DirectoryEntrySchema(Schema):
    siret = fields.String()
    name = fields.String()
    status = fields.String()
    service_required = fields.Boolean()
    engagement_required = fields.Boolean()
    service_or_engagement_required = fields.Boolean()
    services = fields.List(fields.Nested(ServiceSchema))
    checked_at = fields.DateTime()


class RouteSchema(Schema):
    channel = fields.String()
    outlet = fields.String()
    copies = fields.List(fields.Dict())
    reason = fields.String(allow_none=True, metadata={"description": "Why this route, in French."})
    requested_channel = fields.String(
        allow_none=True,
        metadata={"description": "The customer's channel, when the gateway chose another."},
    )
    scope = fields.String(
        allow_none=True,
        validate=validate.OneOf((PUBLIC, COMPANY, OUT_OF_SCOPE)),
        metadata={
            "description": "The buyer in the 2026 reform's terms, when the directories "
            "decided the route (channel auto): public (Chorus Pro), entreprise (its approved "
            "platform), hors-champ (a consumer or a foreign buyer: out of e-invoicing)."
        },
    )
    recipient_platform = fields.String(
        allow_none=True,
        metadata={"description": "The approved platform (PA) that receives for the buyer."},
    )
    electronic_address = fields.String(
        allow_none=True,
        metadata={"description": "The buyer's electronic address, scheme 0225 (BT-49)."},
    )


class DirectoryFactsSchema(Schema):
    status = fields.String()
    name = fields.String()
    checked_at = fields.DateTime(allow_none=True)


class RoutePreviewSchema(RouteSchema):
    siret = fields.String()
    customer = fields.Boolean(metadata={"description": "Whether the member declared it."})
    directory = fields.Nested(
        DirectoryFactsSchema,
        allow_none=True,
        metadata={"description": "What the Chorus Pro directory says of the buyer, if known."},
    )
    warnings = fields.List(fields.Nested(ErrorSchema))


class CostItemSchema(Schema):
    label = fields.String()
    quantity = fields.String()
    unit = fields.String()
    unit_price = fields.String()
    amount = fields.String()


class InvoiceCostSchema(Schema):
    id = fields.String()
    number = fields.String()
    lines = fields.Integer()
    items = fields.List(fields.Nested(CostItemSchema))
    amount = fields.String()


class OutletCostSchema(Schema):
    outlet = fields.String()
    label = fields.String()
    count = fields.Integer()
    lines = fields.Integer()
    note = fields.String()
    subscription = fields.Nested(CostItemSchema, allow_none=True)
    invoices = fields.List(fields.Nested(InvoiceCostSchema))
    amount = fields.String(metadata={"description": "Euros excluding VAT."})
    minutes = fields.String(metadata={"description": "The bookseller's time, estimated."})


class AlternativeCostSchema(Schema):
    outlet = fields.String()
    label = fields.String()
    note = fields.String()
    subscription = fields.Nested(CostItemSchema, allow_none=True)
    amount = fields.String()
    minutes = fields.String()
    difference = fields.String(metadata={"description": "This outlet's amount minus the actual."})


class CostsSchema(Schema):
    period = fields.String()
    start = fields.Date()
    end = fields.Date(metadata={"description": "The day after the period."})
    currency = fields.String()
    count = fields.Integer()
    outlets = fields.List(fields.Nested(OutletCostSchema))
    amount = fields.String()
    minutes = fields.String()
    alternatives = fields.List(fields.Nested(AlternativeCostSchema))


class InvoiceAcceptedSchema(Schema):
    id = fields.String(required=True)
    number = fields.String()
    status = fields.String(required=True)
    channel = fields.String(required=True)
    totals = fields.Nested(TotalsSchema)
    warnings = fields.List(fields.Nested(ErrorSchema))


class InvoiceBatchAcceptedSchema(Schema):
    invoices = fields.List(fields.Nested(InvoiceAcceptedSchema), required=True)


class ValidationResultSchema(Schema):
    number = fields.String()
    valid = fields.Boolean(required=True)
    errors = fields.List(fields.Nested(ErrorSchema))
    warnings = fields.List(fields.Nested(ErrorSchema))
    route = fields.Nested(RouteSchema, allow_none=True)
    totals = fields.Nested(TotalsSchema)


class ValidationBatchSchema(Schema):
    valid = fields.Boolean(required=True)
    invoices = fields.List(fields.Nested(ValidationResultSchema), required=True)


class HistoryEntrySchema(Schema):
    status = fields.String()
    #: UTC; ``at_paris`` the same instant in Paris time.
    at = fields.DateTime()
    at_paris = fields.DateTime()
    #: A platform step's time as the platform gave it (its offset, its precision).
    platform_at = fields.String(allow_none=True)
    comment = fields.String(allow_none=True)


class DocumentInfoSchema(Schema):
    name = fields.String()
    media_type = fields.String()
    size = fields.Integer()
    sha256 = fields.String()
    created_at = fields.DateTime()
    #: original, received, attachment, receipt or rendered (docs/archive.md).
    role = fields.String(allow_none=True)
    #: Kept, and never deleted, until then.
    retention_until = fields.DateTime(allow_none=True)
    url = fields.String()


class PendingActionSchema(Schema):
    action = fields.String(metadata={"description": "recycle or complete"})
    requested_at = fields.DateTime()
    attempts = fields.Integer(metadata={"description": "Attempts made so far by the worker."})
    next_attempt_at = fields.DateTime(allow_none=True)
    buyer = fields.Dict(metadata={"description": "recycle: the corrected recipient."})
    references = fields.Dict(metadata={"description": "recycle: the corrected references."})
    attachments = fields.List(fields.String(), metadata={"description": "complete: file names."})
    comment = fields.String(metadata={"description": "complete: the comment sent with them."})


class InvoiceSummarySchema(Schema):
    id = fields.String()
    number = fields.String()
    type = fields.String()
    status = fields.String()
    channel = fields.String()
    outlet = fields.String()
    buyer_siret = fields.String()
    source_format = fields.String()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    attempts = fields.Integer()
    last_error = fields.String(allow_none=True)
    #: Next try planned (UTC, and Paris time), while waiting for the platform or in error.
    retry_at = fields.DateTime(allow_none=True)
    retry_at_paris = fields.DateTime(allow_none=True)
    #: Since when the invoice waits for its platform (``EN_ATTENTE_PLATEFORME``).
    waiting_since = fields.DateTime(allow_none=True)
    outlet_reference = fields.String(allow_none=True)
    totals = fields.Nested(TotalsSchema)
    warnings = fields.List(fields.Nested(ErrorSchema))
    next_actions = fields.List(
        fields.String(),
        metadata={"description": "Actions allowed now: POST /v1/invoices/{id}/<action>."},
    )
    needs_action = fields.Boolean(metadata={"description": "The bookseller must act now."})
    status_explanation = fields.String(
        metadata={"description": "What the status means and what to do, in French."}
    )
    pending_action = fields.Nested(
        PendingActionSchema,
        allow_none=True,
        metadata={"description": "An action asked for that the worker has not carried out yet."},
    )


class LinkSchema(Schema):
    #: credit_note, credited_invoice, reissue, reissue_of, replaces, replaced_by (invoices
    #: of the gateway's), or engagement, purchase_order, contract, delivery_note,
    #: preceding_invoice (references the invoice carries: no invoice_id).
    rel = fields.String()
    invoice_id = fields.String(allow_none=True)
    number = fields.String()
    #: The other invoice's status (links to invoices of the gateway's only).
    status = fields.String()


class CopyDeliverySchema(Schema):
    """An information copy of the invoice (the customer's ``copies``), e-mailed once the
    original has left; it never changes the invoice's status."""

    to = fields.String()
    label = fields.String(allow_none=True)
    status = fields.String(metadata={"description": "pending, sent or parked"})
    attempts = fields.Integer()
    sent_at = fields.DateTime(allow_none=True)
    last_error = fields.String(allow_none=True, metadata={"description": "In French."})


class InvoiceViewSchema(InvoiceSummarySchema):
    #: 1, then one more at each correction (``POST …/correct``); earlier documents are kept
    #: under names starting with ``v<version>-``.
    version = fields.Integer()
    route = fields.Nested(
        RouteSchema, allow_none=True, metadata={"description": "The route it took, and why."}
    )
    history = fields.List(fields.Nested(HistoryEntrySchema))
    documents = fields.List(fields.Nested(DocumentInfoSchema))
    links = fields.List(fields.Nested(LinkSchema))
    copies = fields.List(fields.Nested(CopyDeliverySchema))
    invoice = fields.Nested(InvoiceSchema)


class AuditEntrySchema(Schema):
    """A journal entry about the invoice; ``hash`` recomputes as docs/archive.md says."""

    seq = fields.Integer()
    at = fields.DateTime()
    at_paris = fields.DateTime()
    kind = fields.String()
    label = fields.String(metadata={"description": "What the kind means, in French."})
    data = fields.Dict()
    hash = fields.String()
    prev_hash = fields.String()


class AuditChainSchema(Schema):
    intact = fields.Boolean(
        metadata={"description": "Each entry recomputes and follows the one before it."}
    )
    entries = fields.Integer()
    problems = fields.List(fields.String(), metadata={"description": "In French."})


class CheckpointSchema(Schema):
    """The last signed checkpoint covering the entries (Ed25519, docs/archive.md)."""

    seq = fields.Integer()
    hash = fields.String()
    at = fields.DateTime()
    signature = fields.String()
    public_key = fields.String()


class AuditLinkSchema(LinkSchema):
    audit_url = fields.String(metadata={"description": "The linked invoice's own audit trail."})


class PaymentTrailSchema(Schema):
    due_date = fields.Date(allow_none=True)
    means_code = fields.String(allow_none=True, metadata={"description": "UNTDID 4461"})
    terms = fields.String(allow_none=True)
    remittance_information = fields.String(allow_none=True)
    put_into_payment_at = fields.DateTime(
        allow_none=True, metadata={"description": "When the platform said MISE_EN_PAIEMENT."}
    )


class AuditTrailSchema(Schema):
    """An invoice's audit trail, from its business references to its payment."""

    invoice_id = fields.String()
    number = fields.String()
    type = fields.String()
    status = fields.String()
    entries = fields.List(fields.Nested(AuditEntrySchema))
    chain = fields.Nested(AuditChainSchema)
    checkpoint = fields.Nested(CheckpointSchema, allow_none=True)
    documents = fields.List(fields.Nested(DocumentInfoSchema))
    invoices = fields.List(fields.Nested(AuditLinkSchema))
    references = fields.List(fields.Nested(LinkSchema))
    payment = fields.Nested(PaymentTrailSchema)


class RecycleBuyerSchema(StrictSchema):
    siret = Str(required=True, validate=SIRET_SHAPE)


class RecycleReferencesSchema(StrictSchema):
    # Absent: unchanged; null: removed (the new recipient asks for none).
    service_code = Str(allow_none=True, validate=_length(100))
    engagement = Str(allow_none=True, validate=_length(100))


class RecycleSchema(StrictSchema):
    """What changes in an ``A_RECYCLER`` invoice, in the canonical JSON's names."""

    buyer = FrenchNested(RecycleBuyerSchema)
    references = FrenchNested(RecycleReferencesSchema)


#: ``POST /v1/invoices/{id}/complete``: one or more files, and a comment.
COMPLETE_FORM = {
    "type": "object",
    "properties": {
        "file": {"type": "array", "items": {"type": "string", "format": "binary"}},
        "comment": {"type": "string"},
    },
    "required": ["file"],
}


class InvoicePageSchema(Schema):
    items = fields.List(fields.Nested(InvoiceSummarySchema))
    next_cursor = fields.String(allow_none=True)


class EventSchema(Schema):
    id = fields.String()
    type = fields.String()
    invoice_id = fields.String(allow_none=True)
    at = fields.DateTime()
    data = fields.Dict()


class EventPageSchema(Schema):
    events = fields.List(fields.Nested(EventSchema))
    next_cursor = fields.String(allow_none=True)


EVENT_TYPE = re.compile(r"[a-z_]+(\.[a-z_]+)+")


class EventTypes(fields.Field):
    """``"*"`` (every event) or a list of event types (``invoice.status_changed``…)."""

    default_error_messages = {
        **FIELD_MESSAGES,
        "invalid": '"*" ou une liste de types d\'événements (invoice.status_changed…) attendu.',
    }

    def _deserialize(self, value, attr, data, **kwargs) -> list[str]:
        if value == "*":
            return ["*"]
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(v, str) and (v == "*" or EVENT_TYPE.fullmatch(v)) for v in value)
        ):
            raise self.make_error("invalid")
        return sorted(set(value))

    def _serialize(self, value, attr, obj, **kwargs):
        return value


class WebhookCreateSchema(StrictSchema):
    url = Str(required=True, validate=_length(2000))
    events = EventTypes(load_default=lambda: ["*"])
    secret = _opt(Str, validate=_length(200, 16))


class WebhookSchema(Schema):
    id = fields.String()
    url = fields.String()
    events = fields.List(fields.String())
    created_at = fields.DateTime()
    secret = fields.String(metadata={"description": "Shown once, on creation only."})


class WebhookDeliverySchema(Schema):
    id = fields.Integer()
    event_id = fields.String()
    event_type = fields.String()
    invoice_id = fields.String(allow_none=True)
    state = fields.String()
    attempts = fields.Integer()
    next_attempt_at = fields.DateTime(allow_none=True)
    last_error = fields.String(allow_none=True)
    created_at = fields.DateTime()
    delivered_at = fields.DateTime(allow_none=True)


class WebhookDeliveryPageSchema(Schema):
    deliveries = fields.List(fields.Nested(WebhookDeliverySchema))


class AdminEventSchema(EventSchema):
    member_id = fields.String()


class AdminEventPageSchema(Schema):
    events = fields.List(fields.Nested(AdminEventSchema))
    next_cursor = fields.String(allow_none=True)


class CreditNoteRequestSchema(StrictSchema):
    """``POST /v1/invoices/{id}/credit-note``: why, and what changes in the invoice reissued."""

    reason = Str(required=True, validate=_length(500))
    #: Canonical fields of the invoice issued in place of the cancelled one, only those that
    #: change; ``number`` (a new one) is required.
    reissue = fields.Dict(load_default=None)
    #: Line ``id``s to credit, for a partial credit note (refused unless ``force_partial``).
    lines = FrenchList(Str(validate=_length(100)), load_default=None)
    force_partial = fields.Boolean(load_default=False)


class ManualDepositSchema(StrictSchema):
    """``POST /v1/invoices/{id}/manual-deposit``: the bookseller uploaded it on the portal."""

    # The invoice's Chorus Pro id (identifiantFactureCPP), digits only: with it and the
    # member's Chorus Pro credentials, the gateway follows the invoice through the API.
    platform_invoice_id = _opt(
        Str,
        validate=_regexp(
            r"^\d{1,18}$", "L'identifiant Chorus Pro de la facture s'écrit en chiffres."
        ),
    )
    deposited_at = _opt(AwareDateTime)
    comment = _opt(Str, validate=_length(500))


class PrintBatchInvoiceSchema(Schema):
    id = fields.String()
    number = fields.String()
    buyer = fields.String()
    status = fields.String()
    #: Held by the PDF last fetched: what a confirmation marks printed.
    in_fetched_pdf = fields.Boolean()


class PrintBatchSchema(Schema):
    """``GET /v1/print-batches/{date}``: a member's paper invoices of a day."""

    date = fields.String()
    invoices = fields.List(fields.Nested(PrintBatchInvoiceSchema))
    pages = fields.Integer(allow_none=True)
    fetched_at = fields.DateTime(allow_none=True)
    confirmed_at = fields.DateTime(allow_none=True)
    pdf = fields.String()
    confirmed = fields.List(fields.String())


# --- inbound invoices (docs/inbound.md) ----------------------------------------------------


class InboundStatusRequestSchema(StrictSchema):
    """``POST /v1/inbound-invoices/{id}/status``: the member's lifecycle status (XP Z12-012)."""

    status = Str(
        required=True,
        validate=_length(10),
        metadata={"description": "204, 205, 206, 207, 208, 210, 211 or 212."},
    )
    reason = _opt(Str, validate=_length(40), metadata={"description": "Required with 210."})
    comment = _opt(Str, validate=_length(1000))
    amount = _opt(DecimalString, metadata={"description": "The amount approved, with 206 only."})


class InboundSenderSchema(Schema):
    name = fields.String(allow_none=True)
    siren = fields.String(allow_none=True)
    siret = fields.String(allow_none=True)
    vat_id = fields.String(allow_none=True)


class InboundTotalsSchema(Schema):
    net = fields.String(allow_none=True)
    vat = fields.String(allow_none=True)
    gross = fields.String(allow_none=True)
    payable = fields.String(allow_none=True)


class InboundOriginalSchema(Schema):
    filename = fields.String()
    media_type = fields.String()
    size = fields.Integer()
    sha256 = fields.String()


class InboundAnswerSchema(Schema):
    """A status the member sent (or is sending) about an inbound invoice."""

    status = fields.String()
    label = fields.String()
    reason = fields.String(allow_none=True)
    reason_label = fields.String(allow_none=True)
    comment = fields.String(allow_none=True)
    amount = fields.String(allow_none=True)
    at = fields.DateTime()
    sending = fields.String(metadata={"description": "pending, sent or failed."})
    attempts = fields.Integer()
    sent_at = fields.DateTime(allow_none=True)
    message_reference = fields.String(allow_none=True)
    error = fields.String(allow_none=True)


class InboundStatusAcceptedSchema(InboundAnswerSchema):
    inbound_invoice_id = fields.String()


class InboundInvoiceSummarySchema(Schema):
    id = fields.String()
    member_id = fields.String()
    outlet = fields.String()
    reference = fields.String()
    received_at = fields.DateTime()
    sender = fields.Nested(InboundSenderSchema)
    number = fields.String(allow_none=True)
    issue_date = fields.String(allow_none=True)
    due_date = fields.String(allow_none=True)
    type = fields.String(allow_none=True)
    currency = fields.String(allow_none=True)
    totals = fields.Nested(InboundTotalsSchema, allow_none=True)
    status = fields.String(allow_none=True)
    status_label = fields.String(allow_none=True)
    status_at = fields.DateTime(allow_none=True)
    parsed = fields.Boolean()
    original = fields.Nested(InboundOriginalSchema)


class InboundInvoicePageSchema(Schema):
    items = fields.List(fields.Nested(InboundInvoiceSummarySchema))
    next_cursor = fields.String(allow_none=True)


class InboundInvoiceViewSchema(InboundInvoiceSummarySchema):
    format = fields.String(allow_none=True)
    invoice = fields.Dict(allow_none=True, metadata={"description": "The canonical invoice."})
    problems = fields.List(fields.Nested(ErrorSchema))
    platform = fields.Dict()
    statuses = fields.List(fields.Nested(InboundAnswerSchema))
