"""The offline stack's HTTP API: what API Gateway (HTTP API, AWS_IAM authorization) does in front
of start-export, on loopback.

It receives a client's SigV4-signed request (service `execute-api`), checks the signature against
the configured local credentials (an unknown access key, a missing or malformed Authorization, a
wrong service, region or date, and a signature that does not match are each a 403 in API
Gateway's own form, `{"message": ...}`), builds the API Gateway HTTP API payload 2.0 event with
`requestContext.authorizer.iam` filled from the access key's identity (accessKey, accountId,
callerId, userArn, userId, principalOrgId), invokes the real start-export through the Lambda
invoke API (pipeline.py), and answers with the function's statusCode, headers and body.

    front = ApiFront(pipeline).start()          # access key "testing" = the analyst (CALLER_ARN)
    front.add_identity("AKIDOUTSIDER", "secret", "arn:aws:iam::123456789012:user/outsider")
    front.url                                    # http://127.0.0.1:<port>
    front.fail_next(503, count=2)                # API Gateway throttling or unavailable, for a
                                                 # client's retries (answered before the function)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.server
import json
import os
import re
import subprocess
import threading
import time
import urllib.parse
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pipeline import CALLER_ARN, Pipeline
from stack import BUILD_TIMEOUT, DUMMY_CREDENTIALS, REGION, ROOT, StackError

SERVICE = "execute-api"
# SigV4 allows this much clock difference between the signer and the service.
MAX_CLOCK_SKEW_SECONDS = 15 * 60
AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/"
    r"(?P<service>[^/]+)/aws4_request, ?SignedHeaders=(?P<signed>[a-z0-9;_.-]+), ?"
    r"Signature=(?P<signature>[0-9a-f]{64})$")


@dataclass(frozen=True)
class Identity:
    """An access key's secret and the IAM principal API Gateway would authenticate it as."""
    secret: str
    arn: str

    @property
    def account_id(self) -> str:
        return self.arn.split(":")[4]

    @property
    def user_id(self) -> str:
        # IAM's unique ids: AIDA... for a user, AROA...:<session> for an assumed role.
        digest = hashlib.sha256(self.arn.encode()).hexdigest()[:17].upper()
        if ":assumed-role/" in self.arn:
            return f"AROA{digest}:{self.arn.rsplit('/', 1)[1]}"
        return f"AIDA{digest}"


class Refused(Exception):
    """A request API Gateway would refuse before the function: 403 and its message."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _sign(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def _encode(text: str) -> str:
    return urllib.parse.quote(text, safe="-_.~")


def canonical_request(method: str, raw_path: str, raw_query: str, headers: dict[str, str],
                      signed: list[str], payload_hash: str) -> str:
    """SigV4's canonical request, as the AWS SDKs build it for execute-api: the path encoded
    once more (each segment), the query sorted and encoded, the signed headers trimmed."""
    path = "/".join(_encode(segment) for segment in raw_path.split("/")) or "/"
    pairs = urllib.parse.parse_qsl(raw_query, keep_blank_values=True)
    query = "&".join(f"{_encode(k)}={_encode(v)}" for k, v in sorted(
        (k, v) for k, v in pairs))
    lines = "".join(f"{name}:{' '.join(headers.get(name, '').split())}\n" for name in signed)
    return "\n".join([method, path, query, lines, ";".join(signed), payload_hash])


def check_signature(method: str, raw_path: str, raw_query: str, headers: dict[str, str],
                    body: bytes, identities: dict[str, Identity], region: str,
                    now: datetime | None = None) -> tuple[str, Identity]:
    """The access key and identity of a well-signed request; raises Refused otherwise."""
    authorization = headers.get("authorization")
    if not authorization:
        raise Refused("Missing Authentication Token")
    match = AUTHORIZATION.match(authorization.strip())
    if not match:
        raise Refused("Authorization header requires 'Credential', 'Signature' and "
                      "'SignedHeaders' parameters (AWS4-HMAC-SHA256)")
    if match["service"] != SERVICE:
        raise Refused(f"Credential should be scoped to correct service: '{SERVICE}'.")
    if match["region"] != region:
        raise Refused(f"Credential should be scoped to a valid region, not '{match['region']}'.")
    identity = identities.get(match["key"])
    if identity is None:
        raise Refused("The security token included in the request is invalid.")
    amz_date = headers.get("x-amz-date", "")
    try:
        signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        raise Refused("Authorization requires an X-Amz-Date header (yyyyMMddTHHmmssZ)") from None
    now = now or datetime.now(timezone.utc)
    if abs((now - signed_at).total_seconds()) > MAX_CLOCK_SKEW_SECONDS or \
            not amz_date.startswith(match["date"]):
        raise Refused("Signature expired or not yet current: the signing time is more than "
                      "15 minutes from the server's")
    signed = match["signed"].split(";")
    if "host" not in signed or signed != sorted(signed):
        raise Refused("SignedHeaders must be sorted and include host")
    payload_hash = headers.get("x-amz-content-sha256") or _sha256(body)
    request = canonical_request(method, raw_path, raw_query, headers, signed, payload_hash)
    scope = f"{match['date']}/{region}/{SERVICE}/aws4_request"
    string_to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                                _sha256(request.encode())])
    key = ("AWS4" + identity.secret).encode()
    for part in (match["date"], region, SERVICE, "aws4_request"):
        key = _sign(key, part)
    expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, match["signature"]):
        raise Refused("The request signature we calculated does not match the signature you "
                      "provided. Check your AWS Secret Access Key and signing method.")
    return match["key"], identity


class ApiFront:
    """The local API Gateway of a deployed pipeline. `identities` maps access key ids to
    identities; by default the stack's dummy key is the analyst the tests' allow list names."""

    def __init__(self, pipeline: Pipeline, identities: dict[str, Identity] | None = None,
                 region: str = REGION):
        self.pipeline = pipeline
        self.region = region
        self.identities = dict(identities or {
            DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"]: Identity(
                DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"], CALLER_ARN)})
        self.requests: list[dict] = []  # every event sent to start-export, in order
        self.failures: list[tuple[int, str | None]] = []  # answers to give before any function
        self.lock = threading.Lock()
        self.server: http.server.ThreadingHTTPServer | None = None
        self.url = ""

    def add_identity(self, access_key: str, secret: str, arn: str) -> None:
        self.identities[access_key] = Identity(secret, arn)

    def fail_next(self, status: int, count: int = 1, retry_after: str | None = None) -> None:
        """The next `count` requests get `status` (429: throttled, 503: unavailable) in API
        Gateway's form, with `Retry-After` when given, and never reach the function."""
        with self.lock:
            self.failures += [(status, retry_after)] * count

    def start(self, port: int = 0) -> "ApiFront":
        front = self

        class Handler(http.server.BaseHTTPRequestHandler):
            disable_nagle_algorithm = True  # else kept-alive answers wait ~40 ms
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, headers, answer = front.handle(self.command, self.path,
                                                       dict(self.headers.items()), body)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _serve  # noqa: N815

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, name="api-front", daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def __enter__(self) -> "ApiFront":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ---- one request ----------------------------------------------------------------------
    def handle(self, method: str, target: str, headers: dict[str, str],
               body: bytes) -> tuple[int, dict[str, str], bytes]:
        lowered: dict[str, str] = {}
        for name, value in headers.items():  # repeated headers: comma-joined, as API Gateway
            name = name.lower()
            lowered[name] = f"{lowered[name]},{value}" if name in lowered else value
        raw_path, _, raw_query = target.partition("?")
        with self.lock:
            failure = self.failures.pop(0) if self.failures else None
        if failure is not None:
            status, retry_after = failure
            message = {429: "Too Many Requests", 503: "Service Unavailable"}.get(status, "Error")
            headers = {"content-type": "application/json"}
            if retry_after is not None:
                headers["retry-after"] = retry_after
            return status, headers, json.dumps({"message": message}).encode()
        try:
            access_key, identity = check_signature(method, raw_path, raw_query, lowered, body,
                                                   self.identities, self.region)
        except Refused as refusal:
            return 403, {"content-type": "application/json",
                         "x-amzn-errortype": "ForbiddenException"}, \
                json.dumps({"message": str(refusal)}).encode()
        event = self.event(method, raw_path, raw_query, lowered, body, access_key, identity)
        self.requests.append(event)
        invocation = self.pipeline.invoke("start-export", event)
        if not invocation.ok or not isinstance(invocation.payload, dict):
            return 500, {"content-type": "application/json"}, \
                json.dumps({"message": "Internal Server Error"}).encode()
        response = invocation.payload
        answer = response.get("body") or ""
        data = base64.b64decode(answer) if response.get("isBase64Encoded") else answer.encode()
        out_headers = {k.lower(): str(v) for k, v in (response.get("headers") or {}).items()
                       if k.lower() not in ("content-length", "connection", "transfer-encoding")}
        return int(response.get("statusCode", 200)), out_headers, data

    def event(self, method: str, raw_path: str, raw_query: str, headers: dict[str, str],
              body: bytes, access_key: str, identity: Identity) -> dict:
        """The payload 2.0 event API Gateway sends for this request (pipeline.api_event's
        shape), with the signer's identity as its IAM authorizer."""
        path = urllib.parse.unquote(raw_path)
        query: dict[str, str] = {}
        for name, value in urllib.parse.parse_qsl(raw_query, keep_blank_values=True):
            query[name] = f"{query[name]},{value}" if name in query else value
        try:
            text, encoded = body.decode(), False
        except UnicodeDecodeError:
            text, encoded = base64.b64encode(body).decode(), True
        event = self.pipeline.api_event(method, path, body=text if body else None,
                                        query=query or None, caller=identity.arn)
        host = self.url.removeprefix("http://")
        event["headers"] = {**headers, "host": host}
        event["rawQueryString"] = raw_query
        event["isBase64Encoded"] = encoded
        route = "GET /exports" if (method, path) == ("GET", "/exports") else event["routeKey"]
        event["routeKey"] = route
        context = event["requestContext"]
        context["routeKey"] = route
        context["domainName"] = host
        context["domainPrefix"] = "127"
        context["http"]["userAgent"] = headers.get("user-agent", "")
        context["http"]["sourceIp"] = "127.0.0.1"
        context["requestId"] = f"local-{time.time_ns()}"
        context["authorizer"] = {"iam": {
            "accessKey": access_key, "accountId": identity.account_id,
            "callerId": identity.user_id, "cognitoIdentity": None,
            "principalOrgId": None, "userArn": identity.arn, "userId": identity.user_id}}
        return event


# ---- the command-line client against this front ------------------------------------------
CLIENT_BIN = "healthlake-export"
# The client's follow schedule offline: the functions' scaled-down policy (pipeline.FAST_POLLING).
CLIENT_FOLLOW_POLICY = "1,1.1,2"


def build_client(run_dir: Path, workspace: Path = ROOT) -> Path:
    """`cargo build` of the command-line client (its own package selection, so its artifacts
    never replace the functions'); returns the binary."""
    log = run_dir / "cli-build.log"
    with open(log, "wb") as out:
        rc = subprocess.call(["cargo", "build", "-p", "healthlake-export-cli"], cwd=workspace,
                             stdout=out, stderr=subprocess.STDOUT, timeout=BUILD_TIMEOUT)
    if rc != 0:
        last = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
        raise StackError(f"the client's build failed (exit code {rc}); log: {log}\n{last}")
    target = workspace / os.environ.get("CARGO_TARGET_DIR", "target")
    return target / "debug" / CLIENT_BIN


def client_env(api_url: str) -> dict[str, str]:
    """What the client needs to call the offline API as the analyst the allow list names."""
    return {**DUMMY_CREDENTIALS, "AWS_REGION": REGION, "HEALTHLAKE_EXPORT_API_URL": api_url,
            "HEALTHLAKE_EXPORT_FOLLOW_POLICY": CLIENT_FOLLOW_POLICY}
