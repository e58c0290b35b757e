"""The service layer: what the gateway does, for the REST API, the CLI and the worker alike.

Services take plain values, return domain objects or plain dicts, and refuse with a
:class:`gateway.errors.DomainError`; they know nothing of HTTP (``gateway.app`` maps each
error class to a status).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from gateway.archive import open_blob_store
from gateway.config import Config
from gateway.directory import DirectoryService
from gateway.pipeline import Pipeline
from gateway.plugins import Registry, build_plugin_manager
from gateway.secretbox import SecretBox
from gateway.services.actions import ActionService
from gateway.services.alerts import AlertService
from gateway.services.archive import ArchiveService
from gateway.services.audit import AuditService
from gateway.services.corrections import CorrectionService
from gateway.services.costs import CostService
from gateway.services.customers import CustomerService
from gateway.services.deposits import ManualDepositService
from gateway.services.directory import StructureService
from gateway.services.events import EventService
from gateway.services.health import HealthService
from gateway.services.inbound import InboundService
from gateway.services.invoices import InvoiceService
from gateway.services.members import MemberService
from gateway.services.print_batches import PrintBatchService
from gateway.services.sessions import SessionService
from gateway.services.webhooks import WebhookService
from gateway.store import Store, utcnow

__all__ = ["Services", "build_services"]


@dataclass
class Services:
    """Everything the API, the CLI and the worker share, built once per process."""

    config: Config
    store: Store
    registry: Registry
    secretbox: SecretBox
    #: The directory cache the pipeline and the worker look buyers up in.
    directory: DirectoryService
    pipeline: Pipeline
    members: MemberService
    customers: CustomerService
    costs: CostService
    invoices: InvoiceService
    actions: ActionService
    corrections: CorrectionService
    structures: StructureService
    events: EventService
    webhooks: WebhookService
    alerts: AlertService
    audit: AuditService
    health: HealthService
    clock: Callable[[], datetime]
    deposits: ManualDepositService
    print_batches: PrintBatchService
    archive: ArchiveService
    sessions: SessionService
    inbound: InboundService


def build_services(
    config: Config,
    *,
    store: Store | None = None,
    extra_plugins: Iterable[Any] = (),
    clock: Callable[[], datetime] = utcnow,
) -> Services:
    store = store or Store(config.database_url)
    pm, failures = build_plugin_manager(config.load_entrypoints, extra_plugins)
    if store.blobs is None:
        store.attach_archive(open_blob_store(config, pm), config.archive.retention_years)
    registry = Registry(pm, config, failures)
    secretbox = SecretBox(config.secret_key)
    directory = DirectoryService(pm, store, timedelta(seconds=config.directory_ttl), clock)
    pipeline = Pipeline(
        store=store,
        registry=registry,
        config=config,
        secretbox=secretbox,
        directory=directory,
        clock=clock,
    )
    return Services(
        config=config,
        store=store,
        registry=registry,
        secretbox=secretbox,
        directory=directory,
        pipeline=pipeline,
        members=MemberService(store, secretbox, registry, clock, config.auditor_max_days),
        customers=CustomerService(store, pipeline),
        costs=CostService(store, registry, config.channels, clock),
        invoices=InvoiceService(store, pipeline, pm, clock),
        actions=ActionService(store, pipeline, pm, clock),
        corrections=CorrectionService(store, pipeline, clock),
        structures=StructureService(directory),
        events=EventService(store),
        webhooks=WebhookService(store, secretbox, clock),
        alerts=AlertService(store),
        audit=AuditService(store),
        health=HealthService(store, registry, config, secretbox, clock),
        clock=clock,
        deposits=ManualDepositService(store, pipeline, config, pm, clock),
        print_batches=PrintBatchService(store, pipeline, pm, clock),
        archive=ArchiveService(store, config, clock),
        sessions=SessionService(store, config, clock),
        inbound=InboundService(store, registry, config, clock),
    )
