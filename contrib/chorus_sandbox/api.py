"""What every `/cpro/` operation shares: the caller, the registry and the request readers.

An operation takes the sandbox, the caller (PISTE application + technical account) and the JSON
body, and returns the answer's fields or raises `rules.BusinessError`; its module registers it
with the real path. Clients often send every field of a request model with empty values (`""`,
`0`, `null`, `false`): those mean "not given".
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from . import rules

if TYPE_CHECKING:
    from .app import Sandbox

OK = "TRA_MSG_00.000"
OK_STRUCTURES = "GCU_MSG_01_000"
MAX_PAGE_SIZE = 10000


@dataclass(frozen=True)
class Caller:
    """Who calls: the PISTE application and the technical account, with its structure."""

    client_id: str
    login: str
    structure: dict


Handler = Callable[["Sandbox", Caller, dict], dict]


@dataclass(frozen=True)
class Operation:
    api: str  # the PISTE API an application subscribes to: the path's first segment
    handler: Handler
    methods: tuple[str, ...]
    libelle: str | None  # the success message; None: the answer has no codeRetour/libelle
    processes_first: bool  # process the due flux first, so that the answer is up to date


class Operations(dict[str, Operation]):
    """A module's operations by path under `/cpro/`; calling it gives a registering decorator."""

    def __call__(
        self,
        path: str,
        *,
        methods: tuple[str, ...] = ("POST",),
        libelle: str | None = OK,
        processes_first: bool = True,
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            api = path.split("/", 1)[0]
            self[path] = Operation(api, handler, methods, libelle, processes_first)
            return handler

        return register


# -- reading requests ----------------------------------------------------------------------------


def given(value: Any) -> Any:
    """The value, or None when a client sent an empty placeholder."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, bool):
        return value or None
    if isinstance(value, int | float) and value == 0:
        return None
    if isinstance(value, list | dict) and not value:
        return None
    return value


def text(body: dict, key: str) -> str | None:
    value = given(body.get(key))
    return None if value is None else str(value)


def integer(body: dict, key: str) -> int | None:
    value = given(body.get(key))
    if value is None:
        return None
    if (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, str) and value.isdigit()
    ):
        return int(value)
    raise rules.invalid(f"{key} doit être un entier.")


def section(body: dict, key: str) -> dict:
    value = body.get(key)
    return value if isinstance(value, dict) else {}


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    return [v.strip() for v in value or [] if isinstance(v, str) and v.strip()]


def decoded(body: dict, key: str) -> bytes:
    value = text(body, key)
    if value is None:
        raise rules.invalid(f"{key} est obligatoire.")
    try:
        data = base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError) as ex:
        raise rules.invalid(f"{key} n'est pas encodé en base64.") from ex
    if not data:
        raise rules.invalid(f"{key} est vide.")
    return data


def amount(body: dict, key: str) -> Decimal | None:
    value = body.get(key)
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation as ex:
        raise rules.invalid(f"{key} n'est pas un montant.") from ex


def paginate(items: list, params: dict, size_key: str, page_key: str) -> tuple[list, dict]:
    size = min(max(integer(params, size_key) or 10, 1), MAX_PAGE_SIZE)
    page = max(integer(params, page_key) or 1, 1)
    total = len(items)
    window = items[(page - 1) * size : page * size]
    return window, {
        "nbResultatsParPage": size,
        "pageCourante": page,
        "pages": math.ceil(total / size),
        "total": total,
    }


def descending(params: dict, key: str, default: bool) -> bool:
    # go-choruspro spells it `triSense` and sends "Ascendant " with a trailing space
    sens = str(params.get(key) or params.get("triSense") or "").strip().lower()
    return sens.startswith("desc") if sens else default


def number_out(value: str | None) -> float | None:
    return float(value) if value is not None else None
