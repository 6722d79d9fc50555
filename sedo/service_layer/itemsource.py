"""Maps over S3: read a map's items from an object, write its results to objects.

Hooks of :class:`sedo.service_layer.iterations.IterationService` call this module:

- **indexing** (``itemReader``): the map's ``fanout`` wake-up at page 0 does not fan out
  yet. It reads the object a range at a time (``MAX_ITEM_READER_SCAN_BYTES``, one ranged
  GetObject guarded by the ETag it saw first), finds the items in it
  (:mod:`sedo.domain.itemreader`), groups them into children (batches with ``itemBatcher``)
  and stores each child's byte range in **index items** (``INDEX_CHUNK`` children an item;
  :class:`ItemIndexStore`), then sends itself the cursor of the next range. A cursor carries
  the offset, the number of the next line or element, the children of an unfinished index
  item and the CSV header, so a redelivered range repeats the same writes. At the end of the
  object the counter is created with the real total and page 0 fans out as for any map.
  A malformed item, a missing object or a bucket the deployment may not read fails the step
  (the counter is created empty with the failure, and the ``fanin`` carries it out).
- **resolving**: a fan-out page reads its children's byte ranges from the index and their
  items with one ranged GetObject per ``MAX_ITEM_READER_RANGE_BYTES`` (its children are
  contiguous in the object); a child started later by a finishing one reads its own range.
- **writing** (``resultWriter``): once every child is in, the ``fanin`` wake-up writes the
  results as JSON Lines, ``MAX_RESULT_OBJECT_LINES`` a object, up to ``OBJECTS_PER_WAKEUP``
  objects a wake-up (then it sends itself the next), and last ``manifest.json``. Keys are
  fixed by the execution, the step attempt and the object's number, and the content by the
  result items (written once each), so a redelivered wake-up writes the same bytes again and
  the manifest's counts (from the counter) are never doubled.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from sedo.domain import failures
from sedo.domain.definition import Step
from sedo.domain.execution import Execution, WakeUp
from sedo.domain.itemreader import Child, ItemReaderError, child_input, children, first_number, scan
from sedo.domain.limits import (
    MAX_ITEM_READER_RANGE_BYTES,
    MAX_ITEM_READER_SCAN_BYTES,
    MAX_MAP_ITEMS,
    MAX_RESULT_OBJECT_LINES,
)
from sedo.domain.payloads import Source
from sedo.domain.protocol import WakeKind
from sedo.domain.steps.map import fan_in_limits
from sedo.service_layer.ports import IterationCounter, IterationStore, Queue


class ItemResolver(Protocol):
    """Reads back the children's outputs kept apart (sedo/service_layer/payloads.py's PayloadService)."""

    def resolve_items(self, tenant_id: str, head_key: str, values: list[Any]) -> list[Any]: ...


#: Children per index item: four numbers each, about 30 bytes.
INDEX_CHUNK = 200
#: Results objects one ``fanin`` wake-up writes (each its result items by key, BatchGetItem, and one PutObject).
OBJECTS_PER_WAKEUP = 10


class ObjectError(RuntimeError):
    """An S3 object that cannot be read or written; the message says which and why."""


class ObjectStore(Protocol):
    def head(self, bucket: str, key: str) -> tuple[int, str]:
        """The object's size and ETag; ObjectError when it is missing or not readable."""
        ...

    def get_range(self, bucket: str, key: str, start: int, end: int, etag: str) -> bytes:
        """Bytes ``[start, end)`` of the object, if it still has ``etag`` (else ObjectError)."""
        ...

    def put(self, bucket: str, key: str, body: bytes, content_type: str) -> None: ...


class ItemIndexStore(Protocol):
    """Where an item source's children are (byte ranges), ``INDEX_CHUNK`` to an item."""

    def put(self, tenant_id: str, parent_key: str, instance: int, chunk: int, entries: list[list[int]]) -> None: ...

    def get(
        self, tenant_id: str, parent_key: str, instance: int, chunks: Sequence[int]
    ) -> dict[int, list[list[int]]]: ...


@dataclass(frozen=True)
class BucketPolicy:
    """The buckets maps may read items from and write results to (template.yaml's
    MapItemBuckets and MapResultBuckets); None: any (the local stack, where they live in moto)."""

    read: tuple[str, ...] | None = None
    write: tuple[str, ...] | None = None

    def problem(self, step: Step) -> str | None:
        reader, writer = step.config.get("itemReader"), step.config.get("resultWriter")
        if reader is not None and self.read is not None and reader["bucket"] not in self.read:
            return f"itemReader bucket {reader['bucket']!r} is not one this deployment may read (MapItemBuckets)"
        if writer is not None and self.write is not None and writer["bucket"] not in self.write:
            return f"resultWriter bucket {writer['bucket']!r} is not one this deployment may write (MapResultBuckets)"
        return None


@dataclass(frozen=True)
class S3MapPorts:
    objects: ObjectStore
    index: ItemIndexStore
    policy: BucketPolicy = BucketPolicy()


def uses_s3(step: Step) -> bool:
    return "itemReader" in step.config or "resultWriter" in step.config


class S3Maps:
    def __init__(self, ports: S3MapPorts, store: IterationStore, queue: Queue, payloads: ItemResolver | None) -> None:
        self.objects = ports.objects
        self.index = ports.index
        self.policy = ports.policy
        self.store = store
        self.queue = queue
        self.payloads = payloads

    # -- the start of a map over S3 ------------------------------------------------------

    def prepare(
        self, parent: Execution, step: Step, base: IterationCounter, inputs: list[Any] | None, cursor: Any
    ) -> IterationCounter | None:
        """Page 0 of a map that reads or writes S3: the counter to fan out with, once created;
        None while the item source is being indexed (a later wake-up goes on) or when the step
        failed (its ``fanin`` is on its way)."""
        problem = self.policy.problem(step) if cursor is None else None
        if problem is not None:
            return self._fail(parent, base, failures.PERMISSIONS, problem)
        meta = dict(base.meta or {})
        if "resultWriter" in step.config:
            meta["writer"] = dict(step.config["resultWriter"])
        if "itemReader" not in step.config:
            assert inputs is not None
            counter = replace(base, meta=meta)
            self.store.create(parent.tenant_id, parent.key, parent.instance, counter, inputs)
            return counter
        return self._scan(parent, step, replace(base, meta=meta), cursor)

    def _scan(self, parent: Execution, step: Step, base: IterationCounter, cursor: Any) -> IterationCounter | None:
        reader = step.config["itemReader"]
        bucket, key, fmt = str(reader["bucket"]), str(reader["key"]), str(reader["format"])
        batch = step.config.get("itemBatcher", {}).get("maxItems")
        source = f"s3://{bucket}/{key}"
        try:
            if cursor is None:
                size, etag = self.objects.head(bucket, key)
                cursor = {"offset": 0, "number": first_number(fmt), "child": 0, "pending": [], "size": size}
                cursor.update(etag=etag, header=None, opened=False)
            offset, size = int(cursor["offset"]), int(cursor["size"])
            end = min(size, offset + MAX_ITEM_READER_SCAN_BYTES)
            data = self.objects.get_range(bucket, key, offset, end, cursor["etag"]) if end > offset else b""
            found = scan(
                fmt,
                data,
                at_start=offset == 0,
                number=int(cursor["number"]),
                final=end >= size,
                header=cursor["header"],
                opened=bool(cursor["opened"]),
            )
            done, unfinished = children(found.items, found.finished, int(batch) if batch else None)
        except ObjectError as exc:
            return self._fail(parent, base, failures.ITEM_READER_FAILED, f"{source}: {exc}")
        except ItemReaderError as exc:
            return self._fail(parent, base, failures.ITEM_READER_FAILED, f"{source}, {exc}")
        pending = [
            *cursor["pending"],
            *(Child(offset + c.start, offset + c.end, c.number, c.count).to_list() for c in done),
        ]
        child = int(cursor["child"])
        while len(pending) >= INDEX_CHUNK or (found.finished and pending):
            self.index.put(parent.tenant_id, parent.key, parent.instance, child // INDEX_CHUNK, pending[:INDEX_CHUNK])
            child, pending = child + len(pending[:INDEX_CHUNK]), pending[INDEX_CHUNK:]
        if child + len(pending) > MAX_MAP_ITEMS:
            cause = f"{source} holds more than {MAX_MAP_ITEMS} children; batch its items with itemBatcher"
            return self._fail(parent, base, failures.ITEM_READER_FAILED, cause)
        if found.finished:
            concurrency, tolerated = fan_in_limits(step.config, child)
            reading = {"bucket": bucket, "key": key, "format": fmt, "etag": cursor["etag"], "header": found.header}
            reading["batch"] = batch
            counter = replace(
                base,
                total=child,
                concurrency=concurrency,
                tolerated=tolerated,
                meta={**(base.meta or {}), "reader": reading},
            )
            self.store.create(parent.tenant_id, parent.key, parent.instance, counter, [])
            return counter
        following = (
            (offset + unfinished.start, unfinished.number) if unfinished else (offset + found.stop, found.number)
        )
        if following[0] <= offset:  # pragma: no cover - a range holds at least one whole batch
            return self._fail(
                parent, base, failures.ITEM_READER_FAILED, f"{source}: no item ends in bytes {offset}-{end}"
            )
        cursor = {**cursor, "offset": following[0], "number": following[1], "child": child, "pending": pending}
        cursor.update(header=found.header, opened=found.opened)
        wake = WakeUp(
            parent.tenant_id,
            parent.key,
            0,
            WakeKind.FAN_OUT,
            f"fanout.{parent.instance}.scan.{following[0]}",
            data={"instance": parent.instance, "after": 0, "scan": cursor},
        )
        self.queue.send([wake.to_body()])
        return None

    def _fail(self, parent: Execution, base: IterationCounter, error: str, cause: str) -> IterationCounter | None:
        """End the step with ``error``: an empty, closed counter that says so, and its ``fanin``."""
        meta = {**(base.meta or {}), "failure": {"error": error, "cause": cause}}
        counter = replace(base, total=0, concurrency=0, tolerated=0, meta=meta)
        self.store.create(parent.tenant_id, parent.key, parent.instance, counter, [])
        self.store.close(parent.tenant_id, parent.key, parent.instance)
        self.queue.send([fan_in(parent.tenant_id, parent.key, parent.instance, "failed")])
        return None

    # -- the children's inputs -------------------------------------------------------------

    def inputs_or_fail(
        self, tenant_id: str, parent_key: str, instance: int, meta: dict[str, Any], indices: Sequence[int]
    ) -> list[tuple[Any, Source]] | None:
        """:meth:`inputs`; None when the source can no longer be read (replaced since it was
        indexed, deleted): then the step is closed and its ``fanin`` fails it with the cause."""
        try:
            return self.inputs(tenant_id, parent_key, instance, meta, indices)
        except (ObjectError, ItemReaderError) as exc:
            self.unreadable(tenant_id, parent_key, instance, str(exc))
            return None

    def unreadable(self, tenant_id: str, parent_key: str, instance: int, cause: str) -> None:
        """The item source cannot be read as the map read it: close the step attempt (no child
        starts from now on) and fail it with ``cause`` (its ``fanin``; the sweep cancels the rest)."""
        self.store.close(tenant_id, parent_key, instance)
        failure = {"error": failures.ITEM_READER_FAILED, "cause": cause}
        self.queue.send([fan_in(tenant_id, parent_key, instance, "unreadable", failure=failure)])

    def inputs(
        self, tenant_id: str, parent_key: str, instance: int, meta: dict[str, Any], indices: Sequence[int]
    ) -> list[tuple[Any, Source]]:
        """The inputs of children ``indices`` of a map over an item source, in order, each with
        where it is (the child's head references it there: sedo/domain/payloads.py)."""
        reader = meta["reader"]
        chunks = self.index.get(tenant_id, parent_key, instance, sorted({i // INDEX_CHUNK for i in indices}))
        wanted = [source_of(reader, Child.from_list(chunks[i // INDEX_CHUNK][i % INDEX_CHUNK])) for i in indices]
        found: list[tuple[Any, Source]] = []
        group: list[Source] = []
        for kid in [*wanted, None]:
            if group and (kid is None or kid.end - group[0].start > MAX_ITEM_READER_RANGE_BYTES):
                start = group[0].start
                data = _read(self.objects, group[0], group[-1].end)
                found.extend((_parsed(c, data[c.start - start : c.end - start]), c) for c in group)
                group = []
            if kid is not None:
                group.append(kid)
        return found

    # -- the results --------------------------------------------------------------------

    def write(self, parent: Execution, counter: IterationCounter, data: dict[str, Any]) -> dict[str, Any] | None:
        """Write the next results objects, and the manifest after the last: how the step ends
        (the manifest is its output), or None while a later wake-up writes on."""
        meta = counter.meta or {}
        writer = meta["writer"]
        bucket, base = str(writer["bucket"]), results_prefix(writer, parent, str(meta["scope"][-1]))
        objects = -(-counter.total // MAX_RESULT_OBJECT_LINES)
        first = int(data.get("written", 0))
        last = min(objects, first + OBJECTS_PER_WAKEUP)
        try:
            for number in range(first, last):
                first_index = number * MAX_RESULT_OBJECT_LINES
                results = self.store.results_page(
                    parent.tenant_id, parent.key, parent.instance, first_index, MAX_RESULT_OBJECT_LINES
                )
                self.objects.put(
                    bucket, f"{base}results-{number:05d}.jsonl", self._lines(parent, results), "application/x-ndjson"
                )
            if last < objects:
                self.queue.send(
                    [fan_in(parent.tenant_id, parent.key, parent.instance, f"written.{last}", written=last)]
                )
                return None
            manifest_key = f"{base}manifest.json"
            manifest = {
                "bucket": bucket,
                "manifest": manifest_key,
                "results": [f"{base}results-{n:05d}.jsonl" for n in range(objects)],
                "total": counter.total,
                "succeeded": counter.succeeded,
                "failed": counter.failed,
            }
            self.objects.put(bucket, manifest_key, _compact(manifest).encode(), "application/json")
        except ObjectError as exc:
            return {"status": "failed", "error": failures.RESULT_WRITER_FAILED, "cause": f"s3://{bucket}/{base}: {exc}"}
        return {"status": "succeeded", "output": manifest}

    def _lines(self, parent: Execution, results: list[dict[str, Any]]) -> bytes:
        outputs = [r.get("output") for r in results]
        if self.payloads is not None:  # an output too large for its result item is a reference
            outputs = self.payloads.resolve_items(parent.tenant_id, parent.key, outputs)
        lines = []
        for result, output in zip(results, outputs, strict=True):
            ok = bool(result["succeeded"])
            line = {
                "index": result["index"],
                "status": "succeeded" if ok else "failed",
                "output": output if ok else None,
            }
            line.update(error=None if ok else result.get("error"), cause=None if ok else result.get("cause"))
            lines.append(_compact(line) + "\n")
        return "".join(lines).encode()


def source_of(reader: dict[str, Any], child: Child) -> Source:
    """Where ``child`` of a map with ``reader`` (its counter's ``reader``) is."""
    header = reader.get("header")
    return Source(
        bucket=str(reader["bucket"]),
        key=str(reader["key"]),
        etag=str(reader["etag"]),
        format=str(reader["format"]),
        header=tuple(header) if header is not None else None,
        batched=reader.get("batch") is not None,
        start=child.start,
        end=child.end,
        number=child.number,
        count=child.count,
    )


def read_source(objects: ObjectStore, source: Source) -> Any:
    """A child's input read again from where it is (one ranged GetObject, guarded by the ETag
    the map pinned): ObjectError when the object changed or is gone, ItemReaderError when its
    bytes are not the items any more."""
    return _parsed(source, _read(objects, source, source.end))


def _read(objects: ObjectStore, first: Source, end: int) -> bytes:
    try:
        return objects.get_range(first.bucket, first.key, first.start, end, first.etag)
    except ObjectError as exc:
        raise ObjectError(f"s3://{first.bucket}/{first.key}: {exc}") from None


def _parsed(source: Source, data: bytes) -> Any:
    child = Child(source.start, source.end, source.number, source.count)
    header = list(source.header) if source.header is not None else None
    return child_input(source.format, data, child, header, source.batched)


def results_prefix(writer: dict[str, Any], parent: Execution, step_id: str) -> str:
    """Where a step attempt's results go: ``<prefix>/<tenant>/<execution key>/<step>.<instance>/``."""
    prefix = str(writer.get("prefix") or "").strip("/")
    head = f"{prefix}/" if prefix else ""
    return f"{head}{parent.tenant_id}/{parent.key}/{step_id}.{parent.instance}/"


def fan_in(tenant_id: str, parent_key: str, instance: int, name: str, **data: Any) -> dict[str, Any]:
    wake = WakeUp(
        tenant_id, parent_key, 0, WakeKind.FAN_IN, f"fanin.{instance}.{name}", data={"instance": instance, **data}
    )
    return wake.to_body()


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
