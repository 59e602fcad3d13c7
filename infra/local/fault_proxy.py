#!/usr/bin/env python3
"""A fault-injecting HTTP proxy in front of moto, for the services moto cannot fail on demand
(SNS and Step Functions). Loopback only: it binds 127.0.0.1 and forwards only to a loopback
upstream.

    .tools/venv/bin/python infra/local/fault_proxy.py --upstream http://127.0.0.1:PORT [--port 0]
    # stdout: listening on http://127.0.0.1:PORT   (once ready)

Point an SDK at it with the standard variables, e.g. `AWS_ENDPOINT_URL_SNS=http://127.0.0.1:PORT`
and `AWS_ENDPOINT_URL_SFN=http://127.0.0.1:PORT`. Every request is forwarded to the upstream
unchanged (method, path, headers including Host, body) and its answer returned unchanged, except
a request an armed fault matches: that one gets the service's own error, in its wire format:

* AWS Query (SNS: form body `Action=Publish&...`): `<ErrorResponse><Error><Type>Sender|Receiver
  </Type><Code>..</Code><Message>..</Message></Error><RequestId>..</RequestId></ErrorResponse>`,
  `Content-Type: text/xml`;
* AWS JSON 1.0/1.1 (Step Functions: `X-Amz-Target: AWSStepFunctions.StartExecution`):
  `{"__type": "..", "message": ".."}` and `x-amzn-ErrorType`.

The service is the SigV4 signing name from the Authorization header's credential scope (`sns`,
`states` for Step Functions; `sfn` and `stepfunctions` are accepted as aliases); the operation is
the Query `Action` or the X-Amz-Target's operation.

Control API (same port, JSON). Faults speak the same vocabulary as the HealthLake emulator's
`/_emulator/faults`, and one Python client speaks both (control_client.py: `arm(...)`,
`.faults()`, `.disarm()`; `FaultProxy.control()` here, `pipeline.emulator` there):

| request | effect |
| --- | --- |
| `POST /_proxy/faults` | arm one fault or an array of them; returns `{"armed", "fired"}` |
| `GET /_proxy/faults` | `{"armed": [...], "fired": [...]}`: armed faults each with `remaining`; fired: each fault answered, in order |
| `DELETE /_proxy/faults` | disarm everything (the fired list stays); returns `{"armed", "fired"}` |
| `GET /_proxy/requests` | `{"<service>.<operation>": {"forwarded": n, "faulted": n}}` |
| `POST /_proxy/config` | `{"upstream": "http://127.0.0.1:PORT"}` |
| `GET /_proxy/health` | `{"status": "ok", "upstream": ...}` |

A fault: `{"service": "sns", "operation": "Publish", "kind": "internal", "count": 3}`, with
optional `"forward": true` (the request reaches the upstream and takes effect, then the answer
is replaced by the error: a lost response), `"contains": "text"` (only requests whose body,
raw or URL-decoded, contains it), and `"status"`, `"code"`, `"message"` to override the kind's.
`service` and `operation` may be `*`. Kinds:

| kind | Query (SNS) | JSON (Step Functions) |
| --- | --- | --- |
| `throttle` | 400 Sender `Throttling` | 400 `ThrottlingException` |
| `internal` | 500 Receiver `InternalError` | 500 `InternalFailure` |
| `unavailable` | 503 Receiver `ServiceUnavailable` | 503 `ServiceUnavailable` |
| `accessDenied` | 403 Sender `AuthorizationError` | 400 `AccessDeniedException` |

Faults fire in the order they were armed and are used up as they fire. Bad control requests get
400 `{"error": "..."}`.
"""

from __future__ import annotations

import argparse
import http.client
import ipaddress
import json
import signal
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from xml.sax.saxutils import escape

from control_client import ControlClient

CONTROL = "/_proxy/"
UPSTREAM_TIMEOUT = 900  # moto forwards Lambda invocations synchronously; a first one may build
# Not forwarded as is: hop-by-hop headers, and the framing, which is redone for the body read.
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
              "trailer", "trailers", "transfer-encoding", "upgrade", "content-length", "expect"}
SERVICE_ALIASES = {"sfn": "states", "stepfunctions": "states"}

# kind -> (HTTP status, Query code, Query fault type, JSON code, message)
KINDS: dict[str, tuple[int, str, str, str, str]] = {
    "throttle": (400, "Throttling", "Sender", "ThrottlingException", "Rate exceeded"),
    "internal": (500, "InternalError", "Receiver", "InternalFailure",
                 "The request processing has failed because of an unknown error"),
    "unavailable": (503, "ServiceUnavailable", "Receiver", "ServiceUnavailable",
                    "The service is unavailable. Please try again later"),
    "accessDenied": (403, "AuthorizationError", "Sender", "AccessDeniedException",
                     "User is not authorized to perform this action"),
}
JSON_STATUS = {"accessDenied": 400}  # JSON services answer AccessDeniedException with 400


def is_loopback(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Fault:
    def __init__(self, spec: dict):
        if not isinstance(spec, dict):
            raise ValueError("a fault is a JSON object")
        unknown = set(spec) - {"service", "operation", "kind", "count", "forward", "contains",
                               "status", "code", "message"}
        if unknown:
            raise ValueError(f"unknown fault field(s): {', '.join(sorted(unknown))}")
        self.kind = spec.get("kind", "internal")
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        service = str(spec.get("service", "*"))
        self.service = SERVICE_ALIASES.get(service, service)
        self.operation = str(spec.get("operation", "*"))
        self.remaining = int(spec.get("count", 1))
        if self.remaining < 1:
            raise ValueError("count must be at least 1")
        self.forward = bool(spec.get("forward", False))
        self.contains = spec.get("contains")
        self.status = spec.get("status")
        self.code = spec.get("code")
        self.message = spec.get("message")

    def matches(self, service: str, operation: str, body: bytes, decoded: str) -> bool:
        if self.service not in ("*", service) or self.operation not in ("*", operation):
            return False
        if self.contains is None:
            return True
        return self.contains.encode() in body or self.contains in decoded

    def describe(self) -> dict:
        return {"service": self.service, "operation": self.operation, "kind": self.kind,
                "remaining": self.remaining, "forward": self.forward, "contains": self.contains,
                "status": self.status, "code": self.code, "message": self.message}


class State:
    def __init__(self, upstream: str | None):
        self.lock = threading.Lock()
        self.upstream = upstream
        self.armed: list[Fault] = []
        self.fired: list[dict] = []
        self.requests: dict[str, dict[str, int]] = {}

    def take(self, service: str, operation: str, body: bytes, decoded: str) -> Fault | None:
        with self.lock:
            for fault in self.armed:
                if fault.matches(service, operation, body, decoded):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self.armed.remove(fault)
                    return fault
        return None

    def faults(self) -> dict:
        """The control API's view: `{"armed": [... each with "remaining"], "fired": [...]}`."""
        with self.lock:
            return {"armed": [f.describe() for f in self.armed], "fired": list(self.fired)}

    def count(self, key: str, what: str) -> None:
        with self.lock:
            counts = self.requests.setdefault(key, {"forwarded": 0, "faulted": 0})
            counts[what] += 1


def identify(headers, body: bytes) -> tuple[str, str, str, str, str]:
    """(service, operation, protocol, query version, decoded body) of an AWS request."""
    service = "?"
    auth = headers.get("Authorization", "")
    if "Credential=" in auth:
        scope = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")
        if len(scope) >= 5:
            service = scope[3]
    target = headers.get("X-Amz-Target")
    text = body.decode("utf-8", errors="replace")
    if target:
        return service, target.rsplit(".", 1)[-1], "json", "", text
    content_type = headers.get("Content-Type", "")
    if "x-www-form-urlencoded" in content_type:
        form = urllib.parse.parse_qs(text, keep_blank_values=True)
        action = form.get("Action", ["?"])[0]
        version = form.get("Version", [""])[0]
        return service, action, "query", version, urllib.parse.unquote_plus(text)
    return service, "?", "other", "", text


def error_answer(fault: Fault, service: str, protocol: str, version: str,
                 request_headers) -> tuple[int, dict[str, str], bytes]:
    status, query_code, fault_type, json_code, message = KINDS[fault.kind]
    message = fault.message or f"{message} (injected by fault_proxy)"
    request_id = str(uuid.uuid4())
    if protocol == "query":
        code = fault.code or query_code
        status = fault.status or status
        namespace = f"http://{service}.amazonaws.com/doc/{version}/" if version else ""
        xmlns = f' xmlns="{escape(namespace)}"' if namespace else ""
        body = (f'<ErrorResponse{xmlns}><Error><Type>{fault_type}</Type>'
                f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
                f"<RequestId>{request_id}</RequestId></ErrorResponse>").encode()
        return status, {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}, body
    code = fault.code or json_code
    status = fault.status or JSON_STATUS.get(fault.kind, status)
    content_type = request_headers.get("Content-Type") or "application/x-amz-json-1.0"
    body = json.dumps({"__type": code, "message": message}).encode()
    return status, {"Content-Type": content_type, "x-amzn-RequestId": request_id,
                    "x-amzn-ErrorType": code}, body


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else ~40 ms per kept-alive request
    server: "ProxyServer"

    def log_message(self, *args: Any) -> None:  # quiet: GET /_proxy/faults tells what happened
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, value: Any) -> None:
        self._send(status, {"Content-Type": "application/json"}, json.dumps(value).encode())

    def _handle(self) -> None:
        body = self._body()
        if self.path.startswith(CONTROL):
            self._control(body)
        else:
            self._proxy(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle  # noqa: N815

    # ---- control API ---------------------------------------------------------------------------
    def _control(self, body: bytes) -> None:
        state = self.server.state
        route = (self.command, self.path[len(CONTROL):].split("?", 1)[0].rstrip("/"))
        try:
            if route == ("GET", "health"):
                return self._json(200, {"status": "ok", "upstream": state.upstream})
            if route == ("GET", "faults"):
                return self._json(200, state.faults())
            if route == ("DELETE", "faults"):
                with state.lock:
                    state.armed.clear()
                return self._json(200, state.faults())
            if route == ("POST", "faults"):
                spec = json.loads(body or b"null")
                faults = [Fault(s) for s in (spec if isinstance(spec, list) else [spec])]
                with state.lock:
                    state.armed.extend(faults)
                return self._json(200, state.faults())
            if route == ("GET", "requests"):
                with state.lock:
                    return self._json(200, {k: dict(v) for k, v in state.requests.items()})
            if route == ("POST", "config"):
                upstream = json.loads(body or b"{}").get("upstream")
                if not upstream or not is_loopback(upstream):
                    raise ValueError("upstream must be an http URL on loopback")
                state.upstream = upstream.rstrip("/")
                return self._json(200, {"upstream": state.upstream})
        except (ValueError, TypeError, AttributeError) as err:
            return self._json(400, {"error": str(err)})
        self._json(404, {"error": f"no control route {self.command} {self.path}"})

    # ---- proxying --------------------------------------------------------------------------------
    def _proxy(self, body: bytes) -> None:
        state = self.server.state
        service, operation, protocol, version, decoded = identify(self.headers, body)
        key = f"{service}.{operation}"
        fault = state.take(service, operation, body, decoded)
        if fault is not None and not fault.forward:
            state.count(key, "faulted")
            return self._fault(fault, service, operation, protocol, version, forwarded=False)
        if not state.upstream:
            return self._json(503, {"__type": "ServiceUnavailable",
                                    "message": "fault_proxy has no upstream yet"})
        try:
            status, headers, answer = self._forward(state.upstream, body)
        except OSError as err:
            return self._json(502, {"__type": "ServiceUnavailable",
                                    "message": f"fault_proxy: upstream unreachable: {err}"})
        if fault is not None:  # forwarded, took effect upstream; the answer is lost
            state.count(key, "faulted")
            return self._fault(fault, service, operation, protocol, version, forwarded=True,
                               upstream_status=status)
        state.count(key, "forwarded")
        self._send(status, headers, answer)

    def _forward(self, upstream: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        target = urllib.parse.urlsplit(upstream)
        connection = http.client.HTTPConnection(target.hostname, target.port or 80,
                                                timeout=UPSTREAM_TIMEOUT)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            connection.request(self.command, self.path, body=body if body or self.command in (
                "POST", "PUT", "PATCH") else None, headers=headers)
            response = connection.getresponse()
            answer = response.read()
            out = {k: v for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP}
            return response.status, out, answer
        finally:
            connection.close()

    def _fault(self, fault: Fault, service: str, operation: str, protocol: str, version: str,
               forwarded: bool, upstream_status: int | None = None) -> None:
        status, headers, body = error_answer(fault, service, protocol, version, self.headers)
        with self.server.state.lock:
            self.server.state.fired.append({
                "service": service, "operation": operation, "kind": fault.kind,
                "status": status, "forwarded": forwarded, "upstreamStatus": upstream_status,
                "time": time.time()})
        self._send(status, headers, body)


class ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, upstream: str | None):
        super().__init__(("127.0.0.1", port), Handler)
        self.state = State(upstream)


class FaultProxy:
    """The proxy in this process, on a thread. The socket is bound (and its URL known) at
    construction, so a stack's functions can be pointed at it before the upstream exists:

        proxy = FaultProxy()                       # bound, not serving yet
        env = {"AWS_ENDPOINT_URL_SNS": proxy.url}  # for the functions
        proxy.start(upstream=stack.moto_url)       # serving
        ...
        proxy.stop()
    """

    def __init__(self, upstream: str | None = None, port: int = 0):
        if upstream is not None and not is_loopback(upstream):
            raise ValueError(f"upstream {upstream} is not on loopback")
        self.server = ProxyServer(port, upstream.rstrip("/") if upstream else None)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread: threading.Thread | None = None

    def start(self, upstream: str | None = None) -> "FaultProxy":
        if upstream is not None:
            if not is_loopback(upstream):
                raise ValueError(f"upstream {upstream} is not on loopback")
            self.server.state.upstream = upstream.rstrip("/")
        if self._thread is None:
            self._thread = threading.Thread(target=self.server.serve_forever, name="fault-proxy",
                                            daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join(5)
            self._thread = None
        self.server.server_close()

    def control(self) -> ControlClient:
        """The client of this proxy's control API (`/_proxy/`)."""
        return ControlClient(self.url, CONTROL)

    def __enter__(self) -> "FaultProxy":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fault-injecting proxy in front of moto.")
    parser.add_argument("--upstream", help="where requests go, e.g. http://127.0.0.1:5000 "
                        "(loopback only; can be set later with POST /_proxy/config)")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    parser.add_argument("--fault", action="append", default=[], metavar="JSON",
                        help='a fault armed at start, e.g. \'{"service": "sns", "operation": '
                        '"Publish", "kind": "throttle", "count": 2}\' (repeatable)')
    args = parser.parse_args(argv)
    try:
        proxy = FaultProxy(args.upstream, args.port)
        proxy.server.state.armed.extend(Fault(json.loads(f)) for f in args.fault)
    except ValueError as err:
        print(f"fault_proxy: {err}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    proxy.start()
    print(f"listening on {proxy.url}", flush=True)
    stop.wait()
    proxy.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
