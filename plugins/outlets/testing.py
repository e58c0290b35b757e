"""The conformance harness of the ``memory`` outlet (entry point group
``facture_gateway.testing``): its situations are settings, its platform is the journal."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from gateway.plugin_api import Invoice
from gateway.testing import OutletHarness
from plugins.outlets.memory import MemoryOutlet, read_journal


class MemoryHarness(OutletHarness):
    outlet = MemoryOutlet
    outages = ("unavailable",)
    odd_answers = {"illegible": "illisible"}

    @property
    def journal(self) -> str:
        return str(self.workdir / "memory-outlet.jsonl")

    def good_settings(self) -> dict:
        return {"journal": self.journal}

    def bad_settings(self) -> list[tuple[dict, str]]:
        good = self.good_settings()
        return [
            ({**good, "fail": "sometimes"}, "fail"),
            ({**good, "fail_times": "many"}, "fail_times"),
            ({**good, "delay": -1}, "delay"),
        ]

    @contextmanager
    def outage(self, kind: str) -> Iterator[dict]:
        yield {**self.good_settings(), "fail": "transient"}

    @contextmanager
    def odd_answer(self, kind: str) -> Iterator[dict]:
        yield {**self.good_settings(), "fail": "odd"}

    @contextmanager
    def lost_answer(self) -> Iterator[dict]:
        yield {**self.good_settings(), "fail": "lost"}

    def deposits(self, invoice: Invoice) -> int:
        journal = read_journal(self.journal)
        return sum(1 for deposit in journal if deposit["number"] == invoice.number)


#: What ``python -m gateway.testing memory`` runs the outlet suite with.
HARNESSES = [MemoryHarness]
