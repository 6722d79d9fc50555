"""Events in DynamoDB (issue 15), next to what they concern, under keys no other item uses
(``#ev:`` never appears in a tenant id, definition id or execution key):

=====================  ===========================================  ==========================  ==========================
table                  pk                                           sk                          what
=====================  ===========================================  ==========================  ==========================
definitions            ``<tenant>#ev:trg#<source>``                 ``<definitionId>``          that definition's triggers on that source
executions             ``<tenant>#ev:log#<source>``                 ``<ms, 15 digits>#<key>``   an event, for lookback (TTL)
executions             ``<tenant>#ev:sub#<source>``                 ``<executionKey>#<inst>``   a waiting event step (TTL)
executions             ``<tenant>#ev:rcv#<executionKey>#<inst>``    ``<key>``                   an event recorded for it, once
executions             ``<tenant>#ev:rej``                          ``<ms>#<n>``                a rejected trigger (TTL)
=====================  ===========================================  ==========================  ==========================

Each item keeps its JSON in ``doc``; an event over the item limit is cut to its envelope.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sedo.adapters.dynamodb.common import all_items, batch_write, conditional
from sedo.domain import limits
from sedo.domain.events.triggers import Trigger
from sedo.service_layer.event_ports import Received, Subscription

#: How long a logged event is kept for lookback (DynamoDB TTL deletes it later still).
LOG_SECONDS = limits.MAX_LOOKBACK_SECONDS + 3600
#: A waiting step's subscription without a timeout outlives the longest wait.
SUBSCRIPTION_SECONDS = 367 * 86400


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _doc(value: Any) -> dict[str, str]:
    return {"S": json.dumps(value, separators=(",", ":"))}


def _kept(event: Mapping[str, Any]) -> dict[str, Any]:
    body = dict(event)
    if len(json.dumps(body, separators=(",", ":"))) > limits.MAX_EVENT_ITEM_BYTES:
        body["detail"] = {"sedo:truncated": True}
    return body


class DynamoEventStore:
    def __init__(self, client: Any, definitions_table: str, executions_table: str, clock: Any) -> None:
        self.client = client
        self.definitions_table = definitions_table
        self.table = executions_table
        self.clock = clock

    def _expires(self, seconds: int) -> dict[str, str]:
        return {"N": str(int(self.clock.now().timestamp()) + seconds)}

    def _query(self, table: str, pk: str, **extra: Any) -> list[dict[str, Any]]:
        return list(
            all_items(
                self.client.query,
                TableName=table,
                KeyConditionExpression="pk = :pk" + extra.pop("and_", ""),
                ExpressionAttributeValues={":pk": _s(pk), **extra.pop("values", {})},
                ConsistentRead=True,
                **extra,
            )
        )

    # -- the trigger index -------------------------------------------------------------------

    def put_triggers(self, tenant_id: str, definition_id: str, source: str, triggers: Sequence[Trigger]) -> None:
        self.client.put_item(
            TableName=self.definitions_table,
            Item={
                "pk": _s(f"{tenant_id}#ev:trg#{source}"),
                "sk": _s(definition_id),
                "version": {"N": str(triggers[0].version if triggers else 0)},
                "doc": _doc([t.to_dict() for t in triggers]),
            },
        )

    def delete_triggers(self, tenant_id: str, definition_id: str, source: str) -> None:
        self.client.delete_item(
            TableName=self.definitions_table,
            Key={"pk": _s(f"{tenant_id}#ev:trg#{source}"), "sk": _s(definition_id)},
        )

    def triggers(self, tenant_id: str, source: str) -> list[Trigger]:
        found = []
        for item in self._query(self.definitions_table, f"{tenant_id}#ev:trg#{source}"):
            version = int(item["version"]["N"])
            for body in json.loads(item["doc"]["S"]):
                found.append(
                    Trigger(
                        item["sk"]["S"], version, int(body["index"]), body["event"], body.get("input"), body.get("name")
                    )
                )
        return found

    # -- recent events -------------------------------------------------------------------------

    def _logged_item(self, tenant_id: str, source: str, key: str, at_ms: int, event: Mapping[str, Any]) -> Any:
        return {
            "pk": _s(f"{tenant_id}#ev:log#{source}"),
            "sk": _s(f"{at_ms:015d}#{key}"),
            "doc": _doc(_kept(event)),
            "expiresAt": self._expires(LOG_SECONDS),
        }

    def log_event(self, tenant_id: str, source: str, key: str, at_ms: int, event: Mapping[str, Any]) -> None:
        self.client.put_item(TableName=self.table, Item=self._logged_item(tenant_id, source, key, at_ms, event))

    def log_events(self, logged: Sequence[tuple[str, str, Received]]) -> None:
        """BatchWriteItem, 25 a call (the same write units as as many PutItems, fewer round trips)."""
        items = {
            (t, s, r.key, r.at_ms): self._logged_item(t, s, r.key, r.at_ms, r.event) for t, s, r in logged
        }  # a batch may not name one item twice (a duplicate delivery in the same batch)
        batch_write(self.client, self.table, [{"PutRequest": {"Item": item}} for item in items.values()])

    def logged_events(self, tenant_id: str, source: str, since_ms: int) -> list[Received]:
        items = self._query(
            self.table,
            f"{tenant_id}#ev:log#{source}",
            and_=" AND sk >= :since",
            values={":since": _s(f"{since_ms:015d}")},
        )
        return [
            Received(item["sk"]["S"].split("#", 1)[1], int(item["sk"]["S"][:15]), json.loads(item["doc"]["S"]))
            for item in items
        ]

    # -- waiting event steps ------------------------------------------------------------------

    def subscribe(self, tenant_id: str, source: str, subscription: Subscription) -> None:
        self.client.put_item(
            TableName=self.table,
            Item={
                "pk": _s(f"{tenant_id}#ev:sub#{source}"),
                "sk": _s(f"{subscription.execution_key}#{subscription.instance}"),
                "doc": _doc(subscription.to_dict()),
                "expiresAt": self._expires(SUBSCRIPTION_SECONDS),
            },
        )

    def unsubscribe(self, tenant_id: str, source: str, execution_key: str, instance: int) -> None:
        self.client.delete_item(
            TableName=self.table,
            Key={"pk": _s(f"{tenant_id}#ev:sub#{source}"), "sk": _s(f"{execution_key}#{instance}")},
        )

    def subscriptions(self, tenant_id: str, source: str) -> list[Subscription]:
        return [
            Subscription.from_dict(json.loads(item["doc"]["S"]))
            for item in self._query(self.table, f"{tenant_id}#ev:sub#{source}")
        ]

    def receive(self, tenant_id: str, execution_key: str, instance: int, received: Received) -> bool:
        done = conditional(
            self.client.put_item,
            TableName=self.table,
            Item={
                "pk": _s(f"{tenant_id}#ev:rcv#{execution_key}#{instance}"),
                "sk": _s(received.key),
                "at": {"N": str(received.at_ms)},
                "doc": _doc(_kept(received.event)),
                "expiresAt": self._expires(SUBSCRIPTION_SECONDS),
            },
            ConditionExpression="attribute_not_exists(pk)",
        )
        return done is not None

    def received(self, tenant_id: str, execution_key: str, instance: int) -> list[Received]:
        items = self._query(self.table, f"{tenant_id}#ev:rcv#{execution_key}#{instance}")
        found = [Received(i["sk"]["S"], int(i["at"]["N"]), json.loads(i["doc"]["S"])) for i in items]
        return sorted(found, key=lambda r: (r.at_ms, r.key))

    # -- rejected triggers ------------------------------------------------------------------------

    def reject(self, tenant_id: str, at_ms: int, record: Mapping[str, Any]) -> None:
        self.client.put_item(
            TableName=self.table,
            Item={
                "pk": _s(f"{tenant_id}#ev:rej"),
                "sk": _s(f"{at_ms:015d}#{uuid.uuid4().hex[:8]}"),
                "doc": _doc({**record, "atMs": at_ms}),
                "expiresAt": self._expires(limits.REJECTED_TRIGGER_TTL_SECONDS),
            },
        )

    def rejected(self, tenant_id: str, limit: int) -> list[dict[str, Any]]:
        response = self.client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": _s(f"{tenant_id}#ev:rej")},
            ScanIndexForward=False,
            Limit=limit,
        )
        return [json.loads(item["doc"]["S"]) for item in response.get("Items", [])]
