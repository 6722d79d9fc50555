"""The composition root: builds each entrypoint's object graph from configuration.

Imports are local to each builder so that the processor never imports the API's
dependencies (Connexion, jsonschema) and its cold start stays short.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sedo.config import Settings

if TYPE_CHECKING:
    from sedo.service_layer.definitions import DefinitionService
    from sedo.service_layer.executions import ExecutionService
    from sedo.service_layer.ports import Clock, DefinitionStore, ExecutionStore, Queue
    from sedo.service_layer.processing import WakeUpProcessor


@dataclass(frozen=True)
class Adapters:
    definitions: DefinitionStore
    executions: ExecutionStore
    queue: Queue
    clock: Clock


def aws_adapters(settings: Settings, clock: Clock | None = None) -> Adapters:
    from sedo.adapters.aws import client
    from sedo.adapters.clock import SystemClock
    from sedo.adapters.dynamodb import DynamoDefinitionStore, DynamoExecutionStore
    from sedo.adapters.sqs import SqsQueue

    dynamodb = client("dynamodb", settings)
    return Adapters(
        definitions=DynamoDefinitionStore(dynamodb, settings.definitions_table),
        executions=DynamoExecutionStore(dynamodb, settings.executions_table, settings.history_table),
        queue=SqsQueue(client("sqs", settings), settings.queue_url, settings.max_delay_seconds),
        clock=clock or SystemClock(),
    )


def memory_adapters(clock: Clock | None = None) -> Adapters:
    from sedo.adapters.clock import FakeClock
    from sedo.adapters.memory import MemoryDefinitionStore, MemoryExecutionStore, MemoryQueue

    return Adapters(MemoryDefinitionStore(), MemoryExecutionStore(), MemoryQueue(), clock or FakeClock())


@dataclass(frozen=True)
class ApiServices:
    definitions: DefinitionService
    executions: ExecutionService


def api_services(adapters: Adapters) -> ApiServices:
    from sedo.service_layer.definitions import DefinitionService
    from sedo.service_layer.executions import ExecutionService

    definitions = DefinitionService(adapters.definitions, adapters.clock)
    return ApiServices(
        definitions=definitions,
        executions=ExecutionService(definitions, adapters.executions, adapters.queue, adapters.clock),
    )


def processor(adapters: Adapters, settings: Settings | None = None, logger: Any = None) -> WakeUpProcessor:
    from sedo.domain.engine import Limits
    from sedo.service_layer.processing import WakeUpProcessor

    settings = settings or Settings()
    limits = Limits(max_steps_per_wakeup=settings.max_steps_per_wakeup)
    return WakeUpProcessor(
        adapters.definitions, adapters.executions, adapters.queue, adapters.clock, limits, logger=logger
    )
