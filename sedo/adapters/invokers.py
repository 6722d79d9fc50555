"""Invokers: how invoke steps reach Lambda functions, local Python callables and HTTP services.

Every call is at-least-once and carries its idempotency key: Lambda gets it in
``clientContext.custom.idempotencyKey``, HTTP targets in the ``Idempotency-Key`` header.
"""

from __future__ import annotations

import base64
import importlib
import importlib.util
import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sedo.domain import failures
from sedo.domain.limits import MAX_INVOKE_PAYLOAD_BYTES
from sedo.domain.steps.base import InvokeRequest, InvokeResult
from sedo.domain.steps.invoke import function_allowed

log = logging.getLogger("sedo.invoke")


def _encode(payload: Any) -> bytes | InvokeResult:
    try:
        body = json.dumps(payload, separators=(",", ":")).encode()
    except (TypeError, ValueError) as exc:
        return InvokeResult(error=failures.RUNTIME, cause=f"payload is not JSON: {exc}")
    if len(body) > MAX_INVOKE_PAYLOAD_BYTES:
        return InvokeResult(
            error=failures.PAYLOAD_TOO_LARGE, cause=f"payload is {len(body)} bytes; at most {MAX_INVOKE_PAYLOAD_BYTES}"
        )
    return body


def _decode_result(body: bytes) -> InvokeResult:
    if len(body) > MAX_INVOKE_PAYLOAD_BYTES:
        return InvokeResult(
            error=failures.PAYLOAD_TOO_LARGE, cause=f"result is {len(body)} bytes; at most {MAX_INVOKE_PAYLOAD_BYTES}"
        )
    if not body.strip():
        return InvokeResult(output=None)
    try:
        return InvokeResult(output=json.loads(body))
    except ValueError:
        return InvokeResult(output=body.decode("utf-8", "replace"))


class LambdaInvoker:
    """AWS Lambda through boto3 (RequestResponse, or Event for waitForCompletion)."""

    def __init__(self, client: Any, allowed: tuple[str, ...]) -> None:
        self.client = client
        self.allowed = allowed

    def invoke(self, request: InvokeRequest) -> InvokeResult:
        from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, ReadTimeoutError

        name = str(request.target["function"])
        if not function_allowed(name.split(":", 1)[0], self.allowed):
            return InvokeResult(error=failures.PERMISSIONS, cause=f"function {name!r} is not on the allow-list")
        body = _encode(request.payload)
        if isinstance(body, InvokeResult):
            return body
        context = json.dumps({"custom": {"idempotencyKey": request.idempotency_key}})
        try:
            response = self.client.invoke(
                FunctionName=name,
                InvocationType="Event" if request.asynchronous else "RequestResponse",
                Payload=body,
                ClientContext=base64.b64encode(context.encode()).decode(),
            )
        except (ReadTimeoutError, ConnectTimeoutError) as exc:
            return InvokeResult(error=failures.TIMEOUT, cause=str(exc))
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            message = exc.response.get("Error", {}).get("Message", str(exc))
            if code in ("AccessDeniedException", "AccessDenied") or "AccessDenied" in code:
                return InvokeResult(error=failures.PERMISSIONS, cause=message)
            if code in ("RequestTooLargeException", "ResponseSizeTooLargeException"):
                return InvokeResult(error=failures.PAYLOAD_TOO_LARGE, cause=message)
            return InvokeResult(error=f"Lambda.{code}" if code else failures.TASK_FAILED, cause=message)
        except BotoCoreError as exc:
            return InvokeResult(error="Lambda.ServiceException", cause=str(exc))
        if request.asynchronous:
            return InvokeResult()
        payload = response["Payload"].read()
        if response.get("FunctionError"):
            detail = _decode_result(payload).output
            error_type: Any = detail.get("errorType") if isinstance(detail, dict) else None
            reason: Any = detail.get("errorMessage") if isinstance(detail, dict) else detail
            return InvokeResult(error=str(error_type or failures.TASK_FAILED), cause=str(reason)[:4096])
        return _decode_result(payload)


@dataclass
class LocalLambdaContext:
    """Enough of Lambda's context object for functions run locally."""

    function_name: str
    idempotency_key: str
    timeout_seconds: float
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    memory_limit_in_mb: int = 128
    started: float = field(default_factory=time.monotonic)

    @property
    def client_context(self) -> Any:
        return SimpleNamespace(custom={"idempotencyKey": self.idempotency_key})

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:local:000000000000:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self.started)) * 1000))


def attempt_of(context: Any) -> int:
    """For a local function: the attempt it is called for, the last part of the idempotency key
    (``executionId/stepId/attempt``) its context carries, as Lambda's client context does."""
    return int(context.client_context.custom["idempotencyKey"].rsplit("/", 1)[1])


def load_callable(spec: str, base: Path) -> Callable[..., Any]:
    """``path/to/file.py:function`` (relative to ``base``) or ``package.module:function``."""
    target, _, attribute = spec.partition(":")
    if not attribute:
        raise ValueError(f"{spec!r}: expected 'file.py:function' or 'module:function'")
    if target.endswith(".py"):
        path = (base / target).resolve()
        module_spec = importlib.util.spec_from_file_location(f"sedo_local_{path.stem}_{abs(hash(path))}", path)
        if module_spec is None or module_spec.loader is None:
            raise ValueError(f"{spec!r}: cannot load {path}")
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    function = getattr(module, attribute, None)
    if not callable(function):
        raise ValueError(f"{spec!r}: {attribute!r} is not a callable in {target}")
    return function  # type: ignore[no-any-return]


def load_local_functions(path: Path) -> dict[str, Callable[..., Any]]:
    """A YAML file mapping function names to callables (see definitions/local-functions.yaml)."""
    import yaml

    entries = yaml.safe_load(path.read_text()) or {}
    if not isinstance(entries, Mapping):
        raise ValueError(f"{path}: expected a mapping of function name -> 'file.py:function'")
    return {str(name): load_callable(str(spec), path.parent) for name, spec in entries.items()}


class LocalInvoker:
    """Local stand-in for Lambda: Python callables ``(event, context)`` run in worker threads."""

    def __init__(self, functions: Mapping[str, Callable[..., Any]], workers: int = 8) -> None:
        self.functions = dict(functions)
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sedo-local-fn")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self.functions))

    def invoke(self, request: InvokeRequest) -> InvokeResult:
        name = str(request.target["function"]).split(":", 1)[0]
        function = self.functions.get(name)
        if function is None:
            return InvokeResult(error=failures.PERMISSIONS, cause=f"no local function is configured as {name!r}")
        body = _encode(request.payload)
        if isinstance(body, InvokeResult):
            return body
        event = json.loads(body)
        context = LocalLambdaContext(name, request.idempotency_key, request.timeout_seconds)
        future = self.pool.submit(function, event, context)
        if request.asynchronous:
            future.add_done_callback(_log_async_failure(name))
            return InvokeResult()
        try:
            result = future.result(timeout=request.timeout_seconds)
        except FutureTimeout:
            return InvokeResult(error=failures.TIMEOUT, cause=f"{name} ran longer than {request.timeout_seconds} s")
        except Exception as exc:  # the function's error, as Lambda reports errorType/errorMessage
            return InvokeResult(error=type(exc).__name__, cause=str(exc)[:4096])
        try:
            return _decode_result(json.dumps(result).encode())
        except (TypeError, ValueError) as exc:
            return InvokeResult(error=failures.TASK_FAILED, cause=f"{name} returned something that is not JSON: {exc}")


def _log_async_failure(name: str) -> Callable[[Any], None]:
    def done(future: Any) -> None:
        if future.exception() is not None:
            log.warning("asynchronous local function %s failed: %s", name, future.exception())

    return done


class HttpInvoker:
    """HTTP(S) targets. No redirects are followed; ``guard`` vets each URL's addresses."""

    def __init__(self, guard: Callable[[str], None] | None = None) -> None:
        import urllib3

        self.guard = guard
        self.pool = urllib3.PoolManager(num_pools=20, maxsize=10)

    def invoke(self, request: InvokeRequest) -> InvokeResult:
        import urllib3

        http = request.target["http"]
        url = str(http["url"])
        method = str(http.get("method", "POST"))
        if self.guard is not None:
            try:
                self.guard(url)
            except (ValueError, PermissionError, OSError) as exc:
                return InvokeResult(error=failures.PERMISSIONS, cause=str(exc))
        headers = {"Accept": "application/json", **dict(http.get("headers") or {})}
        headers["Idempotency-Key"] = request.idempotency_key
        body: bytes | None = None
        if method != "GET":
            encoded = _encode(request.payload)
            if isinstance(encoded, InvokeResult):
                return encoded
            body = encoded
            headers["Content-Type"] = "application/json"
        try:
            response = self.pool.request(
                method,
                url,
                body=body,
                headers=headers,
                timeout=urllib3.Timeout(total=request.timeout_seconds),
                retries=False,
                redirect=False,
                preload_content=False,
            )
            data = response.read(MAX_INVOKE_PAYLOAD_BYTES + 1)
            response.release_conn()
        except (urllib3.exceptions.TimeoutError, TimeoutError) as exc:
            return InvokeResult(error=failures.TIMEOUT, cause=f"{method} {url}: {exc}")
        except urllib3.exceptions.HTTPError as exc:
            return InvokeResult(error="Http.ConnectionError", cause=f"{method} {url}: {exc}")
        if not 200 <= response.status < 300:
            return InvokeResult(error=f"Http.{response.status}", cause=data[:1024].decode("utf-8", "replace"))
        if request.asynchronous:
            return InvokeResult()
        return _decode_result(data)


class RoutingInvoker:
    """Functions to Lambda (or local callables), URLs to HTTP."""

    def __init__(self, functions: Any, http: Any) -> None:
        self.functions = functions
        self.http = http

    def invoke(self, request: InvokeRequest) -> InvokeResult:
        if "http" in request.target:
            return self.http.invoke(request)  # type: ignore[no-any-return]
        return self.functions.invoke(request)  # type: ignore[no-any-return]
