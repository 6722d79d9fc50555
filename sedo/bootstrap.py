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
    from sedo.service_layer.executions import ExecutionService
    from sedo.service_layer.observe import WakeObserver
    from sedo.service_layer.operate import OperationsService
    from sedo.service_layer.operate_ports import OperateStores
    from sedo.service_layer.payloads import PayloadService
    from sedo.service_layer.ports import Clock, DefinitionStore, ExecutionStore, IterationStore, PayloadStore, Queue
    from sedo.service_layer.processing import WakeUpProcessor
    from sedo.service_layer.sweeper import Sweeper


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
    #: Aliases, search-attribute index, bulk operations (issue 18); None: in-memory stores.
    operate: OperateStores | None = None


def aws_adapters(settings: Settings, clock: Clock | None = None) -> Adapters:
    from sedo.adapters.aws import client
    from sedo.adapters.clock import SystemClock
    from sedo.adapters.dynamodb import (
        DynamoDefinitionStore,
        DynamoExecutionStore,
        DynamoIterationStore,
        DynamoPayloadStore,
    )
    from sedo.adapters.sqs import SqsQueue

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
        operate=aws_operate_stores(dynamodb, settings),
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
    from sedo.adapters.memory import (
        MemoryDefinitionStore,
        MemoryExecutionStore,
        MemoryIterationStore,
        MemoryPayloadStore,
        MemoryQueue,
    )
    from sedo.adapters.memory_operations import memory_operate_stores

    executions = MemoryExecutionStore()
    return Adapters(
        MemoryDefinitionStore(),
        executions,
        MemoryQueue(),
        clock or FakeClock(),
        invoker,
        MemoryIterationStore(executions),
        MemoryPayloadStore(),
        operate=memory_operate_stores(),
    )


def payload_service(adapters: Adapters) -> PayloadService:
    """The claim check over the adapters' payload store (sedo/service_layer/payloads.py)."""
    from sedo.adapters.memory import MemoryPayloadStore
    from sedo.service_layer.payloads import PayloadService

    return PayloadService(adapters.payloads if adapters.payloads is not None else MemoryPayloadStore())


@dataclass(frozen=True)
class ApiServices:
    definitions: DefinitionService
    executions: ExecutionService
    #: Aliases, pause/resume/redrive, search (sedo/service_layer/operate.py); bulk operations.
    operations: OperationsService | None = None
    bulk: BulkService | None = None


def api_services(adapters: Adapters, settings: Settings | None = None) -> ApiServices:
    from sedo.domain.steps.base import LanguageOptions
    from sedo.service_layer.definitions import DefinitionService
    from sedo.service_layer.executions import ExecutionService

    options = LanguageOptions(allowed_functions=allowed_functions(settings) if settings is not None else None)
    definitions = DefinitionService(adapters.definitions, adapters.clock, options)
    payloads = payload_service(adapters)
    iterations = None
    if adapters.iterations is not None:
        from sedo.service_layer.iterations import IterationService

        iterations = IterationService(
            adapters.iterations, adapters.executions, adapters.queue, adapters.clock, payloads=payloads
        )
    executions = ExecutionService(
        definitions, adapters.executions, adapters.queue, adapters.clock, iterations, payloads=payloads
    )
    operations, bulk = operate_services(adapters, executions)
    return ApiServices(definitions=definitions, executions=executions, operations=operations, bulk=bulk)


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
    return WakeUpProcessor(
        adapters.definitions,
        adapters.executions,
        adapters.queue,
        adapters.clock,
        budget,
        logger=logger,
        invoker=adapters.invoker,
        iterations=adapters.iterations,
        observer=observer,
        payloads=payload_service(adapters),
        bulk=lambda: _bulk_runner(adapters, settings),
    )


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
