"""Tollgate's bootstrap for Python Lambda functions.

Speaks the Lambda Runtime API (AWS_LAMBDA_RUNTIME_API) the way AWS's own
Python runtime does: loads the handler named by _HANDLER ("module.function",
"package/module.function" allowed) from LAMBDA_TASK_ROOT, then loops on
/invocation/next, calling the handler with the event and a context object
with AWS's attributes, and posting the result or the error in AWS's shape
(errorMessage, errorType, stackTrace). Standard library only.
"""

import http.client
import importlib
import json
import os
import sys
import time
import traceback

API = os.environ["AWS_LAMBDA_RUNTIME_API"]
PREFIX = "/2018-06-01/runtime"


def _connection():
    host, _, port = API.rpartition(":")
    return http.client.HTTPConnection(host, int(port), timeout=None)


_conn = _connection()


def _request(method, path, body=None, headers=None):
    """One request on the kept-alive connection to the Runtime API."""
    global _conn
    for attempt in range(2):
        try:
            _conn.request(method, PREFIX + path, body=body, headers=headers or {})
            response = _conn.getresponse()
            return response, response.read()
        except (http.client.HTTPException, OSError):
            _conn.close()
            _conn = _connection()
            if attempt:
                raise


def _error_body(exc, tb=None):
    frames = traceback.extract_tb(tb if tb is not None else exc.__traceback__)
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "requestId": "",
        "stackTrace": traceback.format_list(frames),
    }


def _flush_marks(request_id):
    """Marks the end of an invocation's output on both streams, so the host
    writes END only after every line the handler printed."""
    mark = f"\x1eTOLLGATE-END {request_id}\n"
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.write(mark)
            stream.flush()
        except Exception:
            pass


def _post_error(path, error, error_type):
    body = json.dumps(error).encode()
    _request("POST", path, body, {
        "Content-Type": "application/json",
        "Lambda-Runtime-Function-Error-Type": error_type,
    })


class _MarshalError(Exception):
    """A return value JSON cannot carry (AWS: Runtime.MarshalError)."""


class LambdaContext:
    """The context object AWS passes: its attributes and get_remaining_time_in_millis."""

    def __init__(self, request_id, deadline_ms, function_arn, trace_id):
        self.aws_request_id = request_id
        self.invoked_function_arn = function_arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms
        self._trace_id = trace_id

    def get_remaining_time_in_millis(self):
        return max(0, int(self._deadline_ms - time.time() * 1000))

    def log(self, message):
        sys.stdout.write(message)
        sys.stdout.flush()


def _load_handler():
    task_root = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
    if task_root not in sys.path:
        sys.path.insert(0, task_root)
    spec = os.environ.get("_HANDLER", "")
    module_name, _, function_name = spec.rpartition(".")
    if not module_name or not function_name:
        raise ValueError(f"Bad handler '{spec}': expected module.function")
    module_name = module_name.replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ImportError(f"Unable to import module '{module_name}': {exc}") from exc
    handler = getattr(module, function_name, None)
    if handler is None:
        raise AttributeError(f"Handler '{function_name}' missing on module '{module_name}'")
    return handler


def main():
    try:
        handler = _load_handler()
    except Exception as exc:  # an init error: reported once, then the runtime exits
        error = _error_body(exc)
        error["errorType"] = "Runtime.ImportModuleError" if isinstance(exc, ImportError) else \
            "Runtime.HandlerNotFound" if isinstance(exc, AttributeError) else "Runtime.UserCodeSyntaxError" \
            if isinstance(exc, SyntaxError) else type(exc).__name__
        print(f"[ERROR] {error['errorType']}: {error['errorMessage']}", file=sys.stderr, flush=True)
        _post_error("/init/error", error, error["errorType"])
        sys.exit(1)
    while True:
        response, body = _request("GET", "/invocation/next")
        request_id = response.getheader("Lambda-Runtime-Aws-Request-Id", "")
        deadline = int(response.getheader("Lambda-Runtime-Deadline-Ms", "0") or 0)
        arn = response.getheader("Lambda-Runtime-Invoked-Function-Arn", "")
        trace = response.getheader("Lambda-Runtime-Trace-Id")
        if trace:
            os.environ["_X_AMZN_TRACE_ID"] = trace
        else:
            os.environ.pop("_X_AMZN_TRACE_ID", None)
        context = LambdaContext(request_id, deadline, arn, trace)
        try:
            event = json.loads(body) if body else None
            result = handler(event, context)
            try:
                payload = json.dumps(result).encode()
            except (TypeError, ValueError) as exc:
                raise _MarshalError(f"Unable to marshal response: {exc}") from None
        except Exception as exc:
            error = _error_body(exc)
            error["requestId"] = request_id
            if isinstance(exc, _MarshalError):
                error["errorType"] = "Runtime.MarshalError"
                error["stackTrace"] = []
            print(f"[ERROR] {error['errorType']}: {error['errorMessage']}", file=sys.stderr, flush=True)
            for line in error["stackTrace"]:
                print(line.rstrip("\n"), file=sys.stderr, flush=True)
            _flush_marks(request_id)
            _post_error(f"/invocation/{request_id}/error", error, "Unhandled")
            continue
        _flush_marks(request_id)
        _request("POST", f"/invocation/{request_id}/response", payload,
                 {"Content-Type": "application/json"})


if __name__ == "__main__":
    main()
