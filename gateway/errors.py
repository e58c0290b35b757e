"""Findings and errors: what the gateway tells a client that something is wrong.

Every problem has a stable ``code`` (clients branch on it), the ``field`` at fault in the
canonical JSON (``buyer.siret``, ``lines[2].quantity``) and a ``message`` in French for
the bookseller.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Finding:
    code: str
    message: str
    field: str | None = None
    severity: str = "error"
    rule: str | None = None
    xpath: str | None = None
    line: int | None = None
    #: A technical restatement (XSD, schematron) that a business finding on the same field
    #: supersedes; for the engine only, never shown.
    restates: bool = False

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def as_dict(self) -> dict:
        """The error object of the contract: ``code``, ``field`` (null when none) and
        ``message`` always, the other keys when they have a value."""
        return {
            key: value
            for key, value in asdict(self).items()
            if key != "restates" and (value is not None or key == "field")
        }


class DomainError(Exception):
    """A refusal, with the findings that say why. Its class tells what kind of refusal it
    is; the HTTP layer turns each class into a status (``gateway.app``)."""

    def __init__(self, findings: list[Finding], retry_after: int | None = None):
        super().__init__("; ".join(f"{f.code}: {f.message}" for f in findings))
        self.findings = findings
        #: Seconds after which the same request may succeed (HTTP ``Retry-After``).
        self.retry_after = retry_after

    @classmethod
    def of(
        cls, code: str, message: str, field: str | None = None, retry_after: int | None = None
    ) -> DomainError:
        """Return the error of a single finding."""
        return cls([Finding(code=code, message=message, field=field)], retry_after)

    def answer(self) -> dict:
        """The refusal as clients read it, from the API or the CLI: errors, then warnings."""
        return {
            "errors": [f.as_dict() for f in self.findings if f.is_error],
            "warnings": [f.as_dict() for f in self.findings if not f.is_error],
        }


class InvalidInput(DomainError):
    """What was given is wrong: malformed, incomplete, or against a rule."""


class NotFound(DomainError):
    """No such thing, or not the caller's to see."""


class Conflict(DomainError):
    """The request contradicts the current state (a status, an idempotency key)."""


class UnsupportedFormat(DomainError):
    """The document is in no installed format."""


class TooLarge(DomainError):
    """The document is larger than the gateway takes in one go."""


class Forbidden(DomainError):
    """The caller's key does not allow this (role, read-only access)."""


class Damaged(DomainError):
    """What the gateway keeps is damaged (a document's bytes are missing from the archive):
    its operator must act, the caller cannot."""


class Unavailable(DomainError):
    """A service the answer depends on is missing or does not answer; try again later."""


def not_found(what: str) -> NotFound:
    return NotFound.of("not_found", f"{what} introuvable.")


class FormatError(Exception):
    """A document that a format plugin cannot read (``format.unreadable``).

    ``line`` (text formats) or ``xpath`` (XML formats) says where; ``field`` names the
    canonical field when the fault is a missing or malformed value. A parser that finds
    several faults at once passes them all as ``findings``.
    """

    def __init__(
        self,
        message: str,
        *,
        line: int | None = None,
        xpath: str | None = None,
        field: str | None = None,
        code: str = "format.unreadable",
        findings: list[Finding] | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.line = line
        self.xpath = xpath
        self.field = field
        self.code = code
        self.findings = findings or []

    def as_findings(self) -> list[Finding]:
        return self.findings or [
            Finding(
                code=self.code,
                message=self.message,
                field=self.field,
                line=self.line,
                xpath=self.xpath,
            )
        ]
