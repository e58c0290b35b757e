"""The invoice as the store keeps it: JSON derived from :mod:`gateway.model`, field by field.

The same walk serves every dataclass the store keeps as JSON (a directory entry too):
:func:`to_data` and :func:`from_data`.

The API's marshmallow schema is the REST contract: it judges what clients send (an invoice
has lines, a name has at most 200 characters…) and shapes what they read. Storage needs
neither: it must give back the very invoice that was accepted, including what the schema
refuses as input (a Factur-X MINIMUM invoice has no lines). This codec walks the model's
dataclasses, so a field added to the model is stored and read back with no change here.

The ``data`` column holds this codec's shape and ``GET /v1/invoices/{id}`` renders it
through the API schema (``dump_invoice(invoice_from_data(data))``): storage follows the
model and the view stays the canonical JSON. Both shapes spell values alike (decimals as
plain strings, dates ISO 8601, enums by value, every field present), so the rows earlier
versions stored in the API's shape load unchanged.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from gateway.model import Invoice


def invoice_to_data(invoice: Invoice) -> dict:
    """Return ``invoice`` as JSON-ready data."""
    return to_data(invoice)


def invoice_from_data(data: dict) -> Invoice:
    """Return the invoice :func:`invoice_to_data` gave ``data`` for; raise ValueError on a
    field the model does not have."""
    return from_data(Invoice, data)


def to_data(value: Any) -> Any:
    """Return a dataclass (and what it holds) as JSON-ready data."""
    if dataclasses.is_dataclass(value):
        return {f.name: to_data(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return format(value, "f")  # never an exponent, as the API writes amounts
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list):
        return [to_data(item) for item in value]
    if isinstance(value, dict):
        return {key: to_data(item) for key, item in value.items()}
    return value


@functools.cache
def _field_types(cls: type) -> dict[str, Any]:
    # The model's annotations are strings (``from __future__ import annotations``).
    names = {f.name for f in dataclasses.fields(cls)}
    return {name: kind for name, kind in typing.get_type_hints(cls).items() if name in names}


def from_data(kind: Any, value: Any) -> Any:
    """Return the value of type ``kind`` that :func:`to_data` gave ``value`` for."""
    if value is None:
        return None
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [arg for arg in typing.get_args(kind) if arg is not type(None)]
        return from_data(inner, value)
    if origin is list:
        (item,) = typing.get_args(kind)
        return [from_data(item, element) for element in value]
    if origin is dict:
        _, item = typing.get_args(kind)
        return {key: from_data(item, element) for key, element in value.items()}
    if dataclasses.is_dataclass(kind):
        types_ = _field_types(kind)
        unknown = sorted(set(value) - set(types_))
        if unknown:
            raise ValueError(f"{kind.__name__} has no field {', '.join(unknown)}")
        return kind(**{name: from_data(types_[name], item) for name, item in value.items()})
    if isinstance(kind, type) and issubclass(kind, Enum):
        return kind(value)
    if kind is Decimal:
        return Decimal(value)
    if kind is datetime:
        return datetime.fromisoformat(value)
    if kind is date:
        return date.fromisoformat(value)
    return value  # str, int, bool, Any: JSON already
