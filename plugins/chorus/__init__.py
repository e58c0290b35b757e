"""Chorus Pro, the public sector's invoicing platform: the ``chorus`` outlet, the directory
of public structures, and the ``chorus`` rule set (service code, engagement number).

``api`` is the PISTE client shared by the three; see docs/outlets/chorus.md.
"""

from __future__ import annotations

from gateway.plugin_api import (
    Config,
    ConfigError,
    DirectoryEntry,
    Document,
    Finding,
    Invoice,
    Outlet,
    hookimpl,
)
from plugins.chorus.directory import ChorusDirectory, UnreadableSettings, build_directory
from plugins.chorus.limits import attachment_findings
from plugins.chorus.outlet import ChorusOutlet
from plugins.chorus.rules import (
    RULE_SET,
    chorus_findings,
    read_policy,
    strip_forbidden_references,
)

__all__ = ["ChorusPlugin", "attachment_findings"]


class ChorusPlugin:
    """One per gateway: it keeps the directory client and the policy its configuration gave."""

    def __init__(self) -> None:
        self.directory: ChorusDirectory | UnreadableSettings | None = None
        self.policy = "refuse"

    @hookimpl
    def gateway_configure(self, config: Config) -> None:
        self.directory = build_directory(config)
        self.policy = "refuse"  # the default stays whatever goes wrong below
        self.policy = read_policy(config)
        if isinstance(self.directory, UnreadableSettings):
            raise ConfigError(self.directory.reason)  # listed among the failed plugins

    @hookimpl
    def gateway_register_outlets(self) -> list[type[Outlet]]:
        return [ChorusOutlet]

    @hookimpl
    def gateway_directory_lookup(self, siret: str) -> DirectoryEntry | None:
        return self.directory.lookup(siret) if self.directory else None

    @hookimpl
    def gateway_enrich_invoice(
        self, invoice: Invoice, directory_entry: DirectoryEntry | None
    ) -> list[Finding]:
        """Under the ``strip`` policy, remove the references the buyer does not ask for."""
        if self.policy != "strip":
            return []
        return strip_forbidden_references(invoice, directory_entry)

    @hookimpl
    def gateway_validate_invoice(
        self,
        invoice: Invoice,
        directory_entry: DirectoryEntry | None,
        rule_sets: frozenset[str] | None,
        document: Document | None,
    ) -> list[Finding]:
        if rule_sets is not None and RULE_SET not in rule_sets:
            return []
        return chorus_findings(invoice, directory_entry, self.policy, document)
