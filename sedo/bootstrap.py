"""The composition root: builds each entrypoint's object graph from configuration.

Imports are local to each builder so that the processor never imports the API's
dependencies (Connexion, jsonschema) and its cold start stays short.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sedo.config import Settings

if TYPE_CHECKING:
    from sedo.domain.engine import Budget
    from sedo.domain.steps.base import Invoker

    # operating executions (issue 18)
    from sedo.service_layer.bulk import BulkService
    from sedo.service_layer.definitions import DefinitionService
    from sedo.service_layer.event_ports import EventBus, EventStore
    from sedo.service_layer.events import EventService
    from sedo.service_layer.executions import ExecutionService
    from sedo.service_layer.itemsource import S3MapPorts
    from sedo.service_layer.observe import WakeObserver
    from sedo.service_layer.operate import OperationsService
    from sedo.service_layer.operate_ports import OperateStores
    from sedo.service_layer.payloads import PayloadService
    from sedo.service_layer.ports import Clock, DefinitionStore, ExecutionStore, IterationStore, PayloadStore, Queue
    from sedo.service_layer.processing import WakeUpProcessor
    from sedo.service_layer.quotas import Quotas, QuotaService, QuotaStore
    from sedo.service_layer.sweeper import Sweeper
    from sedo.service_layer.usage import UsageLedger, UsageStore


@dataclass(frozen=True)
class Adapters:
    definitions: DefinitionStore
    executions: ExecutionStore
    queue: Queue
    clock: Clock
    invoker: Invoker | None = None
    iterations: IterationStore | None = None
    #: Values kept apart from execution heads; None: an in-memory store (unit tests only).
    payloads: PayloadStore | None = None
    #: Maps over S3: the objects and the index of item sources (sedo/service_layer/itemsource.py).
    s3maps: S3MapPorts | None = None
    #: Events (issue 15): triggers, waits and rejections; the bus sedo puts events on.
    events: EventStore | None = None
    bus: EventBus | None = None
    bus_name: str = "default"
    #: Aliases, search-attribute index, bulk operations (issue 18); None: in-memory stores.
    operate: OperateStores | None = None
    #: Tenants: quotas and their counters, the usage ledger (None: no quotas, no ledger).
    quotas: QuotaStore | None = None
    usage: UsageStore | None = None


def aws_adapters(settings: Settings, clock: Clock | None = None) -> Adapters:
    from sedo.adapters.aws import client
    from sedo.adapters.clock import SystemClock
    from sedo.adapters.dynamodb import (
        DynamoDefinitionStore,
        DynamoExecutionStore,
        DynamoIterationStore,
        DynamoPayloadStore,
    )
    from sedo.adapters.dynamodb.itemindex import DynamoItemIndex
    from sedo.adapters.s3items import S3Objects
    from sedo.adapters.sqs import SqsQueue
    from sedo.service_layer.itemsource import BucketPolicy, S3MapPorts

    if settings.tenants_table:
        from sedo.entrypoints import metering

        metering.install()  # before the clients are made: the usage ledger counts their requests
    dynamodb = client("dynamodb", settings)
    return Adapters(
        definitions=DynamoDefinitionStore(dynamodb, settings.definitions_table),
        executions=DynamoExecutionStore(
            dynamodb, settings.executions_table, settings.history_table, settings.retention_days
        ),
        queue=SqsQueue(client("sqs", settings), settings.queue_url, settings.max_delay_seconds),
        clock=clock or SystemClock(),
        invoker=_LazyInvoker(settings),
        iterations=DynamoIterationStore(dynamodb, settings.executions_table),
        payloads=DynamoPayloadStore(
            dynamodb,
            settings.executions_table,
            lambda: client("s3", settings),
            settings.payload_bucket,
            settings.retention_days,
        ),
        s3maps=S3MapPorts(
            S3Objects(lambda: client("s3", settings)),
            DynamoItemIndex(dynamodb, settings.executions_table),
            BucketPolicy(settings.map_item_buckets, settings.map_result_buckets),
        ),
        **_event_adapters(settings, dynamodb, clock),
        operate=aws_operate_stores(dynamodb, settings),
        **tenant_stores(dynamodb, settings),
    )


def aws_operate_stores(dynamodb: Any, settings: Settings) -> OperateStores:
    """Aliases in the definitions table; search index and bulk operations in the executions table."""
    from sedo.adapters.dynamodb.operations import DynamoAliasStore, DynamoBulkStore, DynamoSearchIndex
    from sedo.service_layer.operate_ports import OperateStores

    return OperateStores(
        DynamoAliasStore(dynamodb, settings.definitions_table),
        DynamoSearchIndex(dynamodb, settings.executions_table),
        DynamoBulkStore(dynamodb, settings.executions_table),
    )


def _event_adapters(settings: Settings, dynamodb: Any, clock: Clock | None) -> dict[str, Any]:
    """Events (issue 15): the store next to the tables, EventBridge for the bus."""
    from sedo.adapters.aws import client
    from sedo.adapters.clock import SystemClock
    from sedo.adapters.dynamodb.events import DynamoEventStore
    from sedo.adapters.events import EventBridgeBus

    store = DynamoEventStore(dynamodb, settings.definitions_table, settings.executions_table, clock or SystemClock())
    return {"events": store, "bus": EventBridgeBus(client("events", settings)), "bus_name": settings.event_bus}


# -- tenants: quotas, the usage ledger, metrics ------------------------------------------------


def tenant_stores(dynamodb: Any, settings: Settings) -> dict[str, Any]:
    """The tenants table's stores (sedo/adapters/dynamodb/quotas.py, usage.py), if it is configured."""
    if not settings.tenants_table:
        return {}
    from sedo.adapters.dynamodb.quotas import DynamoQuotaStore
    from sedo.adapters.dynamodb.usage import DynamoUsageStore

    return {
        "quotas": DynamoQuotaStore(dynamodb, settings.tenants_table),
        "usage": DynamoUsageStore(dynamodb, settings.tenants_table),
    }


def default_quotas(settings: Settings | None) -> Quotas:
    from sedo.service_layer.quotas import Quotas

    if settings is None:
        return Quotas()
    return Quotas(
        settings.default_max_running_executions, settings.default_starts_per_second, settings.default_max_definitions
    )


def quota_service(adapters: Adapters, settings: Settings | None, api: bool = False) -> QuotaService | None:
    if adapters.quotas is None:
        return None
    from sedo.entrypoints import metrics
    from sedo.service_layer.quotas import QuotaService

    refused = None
    if api and metrics.metrics_enabled():
        emitter = metrics.Emitter(tenant_dimension=settings.metrics_tenant_dimension if settings else True)
        refused = metrics.quota_refused(emitter)
    return QuotaService(adapters.quotas, default_quotas(settings), on_refusal=refused)


def usage_ledger(adapters: Adapters) -> UsageLedger | None:
    if adapters.usage is None:
        return None
    from sedo.service_layer.usage import UsageLedger

    return UsageLedger(adapters.usage, adapters.clock)


def processor_observer(adapters: Adapters, settings: Settings, observer: WakeObserver | None) -> WakeObserver | None:
    """What watches the processor's wake-ups: the usage ledger's meter, the metrics (on Lambda),
    and ``observer`` (the benchmark's); told when each batch ends (sedo/entrypoints/processor.py)."""
    from sedo.entrypoints import metrics
    from sedo.service_layer.observe import Observers
    from sedo.service_layer.usage import UsageMeter

    ledger = usage_ledger(adapters)
    meter = UsageMeter(ledger) if ledger is not None else None
    emitted = (
        metrics.MetricsObserver(metrics.Emitter(tenant_dimension=settings.metrics_tenant_dimension))
        if metrics.metrics_enabled()
        else None
    )
    if meter is None and emitted is None:
        return observer
    return Observers(meter, emitted, observer)


def allowed_functions(settings: Settings) -> tuple[str, ...]:
    """The deployment's invoke allow-list: configured names plus locally mapped functions."""
    names = list(settings.invoke_allow_list)
    if settings.local_functions is not None:
        import yaml

        names += [str(name) for name in (yaml.safe_load(settings.local_functions.read_text()) or {})]
    return tuple(names)


def invoker(settings: Settings) -> Invoker:
    from sedo.adapters.aws import client
    from sedo.adapters.invokers import HttpInvoker, LambdaInvoker, LocalInvoker, RoutingInvoker, load_local_functions

    functions: Invoker
    if settings.local_functions is not None:
        functions = LocalInvoker(load_local_functions(settings.local_functions))
    else:
        functions = LambdaInvoker(client("lambda", settings, read_timeout=75), allowed_functions(settings))
    return RoutingInvoker(functions, HttpInvoker(guard=_http_guard(settings)))


def _http_guard(settings: Settings) -> Any:
    import importlib

    try:
        netguard = importlib.import_module("sedo.adapters.netguard")
    except ImportError:  # pragma: no cover - netguard ships with sedo
        return None
    factory = getattr(netguard, "guard_for", None)
    return factory(settings) if factory is not None else getattr(netguard, "check_url", None)


class _LazyInvoker:
    """Builds the invoker on first use: most wake-ups never invoke, so cold starts skip it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._invoker: Invoker | None = None

    def invoke(self, request: Any) -> Any:
        if self._invoker is None:
            self._invoker = invoker(self.settings)
        return self._invoker.invoke(request)


def memory_adapters(clock: Clock | None = None, invoker: Invoker | None = None) -> Adapters:
    from sedo.adapters.clock import FakeClock
    from sedo.adapters.events import MemoryEventBus
    from sedo.adapters.memory import (
        MemoryDefinitionStore,
        MemoryExecutionStore,
        MemoryIterationStore,
        MemoryPayloadStore,
        MemoryQueue,
    )
    from sedo.adapters.memory_events import MemoryEventStore
    from sedo.adapters.memory_operations import memory_operate_stores
    from sedo.adapters.s3items import MemoryItemIndex, MemoryObjects
    from sedo.service_layer.itemsource import S3MapPorts

    executions = MemoryExecutionStore()
    return Adapters(
        MemoryDefinitionStore(),
        executions,
        MemoryQueue(),
        clock or FakeClock(),
        invoker,
        MemoryIterationStore(executions),
        MemoryPayloadStore(),
        S3MapPorts(MemoryObjects(), MemoryItemIndex()),
        MemoryEventStore(),
        MemoryEventBus(),
        operate=memory_operate_stores(),
    )


def payload_service(adapters: Adapters) -> PayloadService:
    """The claim check over the adapters' payload store (sedo/service_layer/payloads.py)."""
    from sedo.adapters.memory import MemoryPayloadStore
    from sedo.service_layer.payloads import PayloadService

    store = adapters.payloads if adapters.payloads is not None else MemoryPayloadStore()
    # A map-over-S3 child's input is referenced where it is in the item source, and read there.
    return PayloadService(store, adapters.s3maps.objects if adapters.s3maps is not None else None)


@dataclass(frozen=True)
class ApiServices:
    definitions: DefinitionService
    executions: ExecutionService
    events: EventService | None = None
    #: Aliases, pause/resume/redrive, search (sedo/service_layer/operate.py); bulk operations.
    operations: OperationsService | None = None
    bulk: BulkService | None = None
    #: Tenants' quotas and usage (None without a tenants table).
    quotas: QuotaService | None = None
    usage: UsageLedger | None = None


def api_services(adapters: Adapters, settings: Settings | None = None) -> ApiServices:
    from sedo.domain.steps.base import LanguageOptions
    from sedo.service_layer.definitions import DefinitionService
    from sedo.service_layer.executions import ExecutionService

    options = LanguageOptions(
        allowed_functions=allowed_functions(settings) if settings is not None else None,
        map_item_buckets=settings.map_item_buckets if settings is not None else None,
        map_result_buckets=settings.map_result_buckets if settings is not None else None,
    )
    quotas = quota_service(adapters, settings, api=True)
    usage = usage_ledger(adapters)
    definitions = DefinitionService(adapters.definitions, adapters.clock, options, quotas=quotas)
    payloads = payload_service(adapters)
    iterations = None
    if adapters.iterations is not None:
        from sedo.service_layer.iterations import IterationService

        iterations = IterationService(
            adapters.iterations, adapters.executions, adapters.queue, adapters.clock, payloads=payloads
        )
    executions = ExecutionService(
        definitions,
        adapters.executions,
        adapters.queue,
        adapters.clock,
        iterations,
        payloads=payloads,
        budget=budget_from(settings) if settings is not None else None,  # a recorded callback's due time
        quotas=quotas,
        usage=usage,
    )
    events = event_service(adapters, settings=settings)
    if events is not None:  # events (issue 15): the trigger index follows definitions; status changes
        definitions.triggers = events.index
        executions.events = events
    operations, bulk = operate_services(adapters, executions)
    return ApiServices(
        definitions=definitions,
        executions=executions,
        events=events,
        operations=operations,
        bulk=bulk,
        quotas=quotas,
        usage=usage,
    )


def event_service(adapters: Adapters, starter: Any = None, settings: Settings | None = None) -> EventService | None:
    """Events (issue 15): None when the adapters have no event store. Its metrics
    (``RejectedTriggers``) go through the project's Emitter (sedo/entrypoints/metrics.py)."""
    if adapters.events is None:
        return None
    from sedo.entrypoints import metrics
    from sedo.service_layer.events import EventService

    counted = None
    if metrics.metrics_enabled():
        emitter = metrics.Emitter(tenant_dimension=settings.metrics_tenant_dimension if settings else True)
        counted = metrics.tenant_count(emitter)
    return EventService(
        adapters.events, adapters.queue, adapters.clock, adapters.bus, adapters.bus_name, starter, counted
    )


def events_handler(adapters: Adapters, settings: Settings | None = None) -> EventService:
    """The events handler's graph: the event service, starting executions through the API's use case."""
    services = api_services(adapters, settings)

    def start(tenant_id: str, definition_id: str, data: Any, name: str) -> bool:
        return services.executions.start(tenant_id, definition_id, data, name)[1]

    events = event_service(adapters, start, settings)
    if events is None:
        raise RuntimeError("the events handler needs an event store")
    return events


def operate_services(adapters: Adapters, executions: ExecutionService) -> tuple[OperationsService, BulkService]:
    """Operating executions over the adapters' stores; new executions get indexed by it."""
    from sedo.adapters.memory_operations import memory_operate_stores
    from sedo.service_layer.bulk import BulkService
    from sedo.service_layer.operate import OperationsService

    stores = adapters.operate if adapters.operate is not None else memory_operate_stores()
    operations = OperationsService(executions, stores)
    executions.indexer = operations.index
    return operations, BulkService(operations, stores.bulk)


def _bulk_runner(adapters: Adapters, settings: Settings | None) -> Any:
    """The processor's runner of bulk batches: the API's services, built on first use."""
    services = api_services(adapters, settings)
    assert services.bulk is not None
    return services.bulk


def processor(
    adapters: Adapters,
    settings: Settings | None = None,
    logger: Any = None,
    observer: WakeObserver | None = None,
    budget: Budget | None = None,
) -> WakeUpProcessor:
    """The processor's graph; ``observer`` is told about every wake-up (sedo/service_layer/observe.py);
    ``budget`` replaces the settings' (the benchmark's scaled long waits)."""
    from sedo.service_layer.processing import WakeUpProcessor

    settings = settings or Settings()
    budget = budget or budget_from(settings)
    quotas = quota_service(adapters, settings)
    return WakeUpProcessor(
        adapters.definitions,
        adapters.executions,
        adapters.queue,
        adapters.clock,
        budget,
        logger=logger,
        invoker=_emitting(adapters),
        iterations=adapters.iterations,
        observer=processor_observer(adapters, settings, observer),
        payloads=payload_service(adapters),
        s3=adapters.s3maps,
        events=event_service(adapters, settings=settings),
        bulk=lambda: _bulk_runner(adapters, settings),
        on_finished=quotas.finished if quotas is not None else None,
    )


def _emitting(adapters: Adapters) -> Invoker | None:
    """emit steps (issue 15) reach the bus through the invoker door."""
    if adapters.bus is None:
        return adapters.invoker
    from sedo.adapters.events import EmittingInvoker

    return EmittingInvoker(adapters.invoker, adapters.bus, adapters.bus_name)


def budget_from(settings: Settings) -> Budget:
    from sedo.domain.engine import Budget

    return Budget(
        max_steps_per_wakeup=settings.max_steps_per_wakeup,
        durable_timers=settings.durable_timers,
        sweep_grace_seconds=settings.sweep_grace_seconds,
    )


def sweeper(adapters: Adapters, settings: Settings | None = None, budget: Budget | None = None) -> Sweeper:
    """The sweeper's graph; with ``budget`` (the processor's) its arm lead and due resolution."""
    from sedo.service_layer.sweeper import Sweeper

    settings = settings or Settings()
    budget = budget or budget_from(settings)
    return Sweeper(
        adapters.executions,
        adapters.queue,
        adapters.clock,
        adapters.iterations,
        grace_seconds=settings.sweep_grace_seconds,
        max_delay_seconds=settings.max_delay_seconds,
        arm_lead_seconds=budget.arm_lead_seconds,
        due_resolution_seconds=budget.due_resolution_seconds,
    )
