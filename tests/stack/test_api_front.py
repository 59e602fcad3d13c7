"""The local API front's SigV4 check (infra/local/api_front.py) against botocore's own signer:
a request botocore signs for `execute-api` passes; any change to what was signed, another secret,
service, region or an old signature is refused as API Gateway refuses it. Seconds, no Rust.

    .tools/venv/bin/pytest tests/stack/test_api_front.py -q
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from api_front import Identity, Refused, check_signature

ANALYST = "arn:aws:iam::123456789012:user/analyst"
IDENTITIES = {"AKIDANALYST": Identity("s3cret", ANALYST)}
HOST = "127.0.0.1:8123"


def signed(method: str = "GET", path: str = "/exports/j1", query: str = "datastoreId=ds1",
           body: bytes = b"", key: str = "AKIDANALYST", secret: str = "s3cret",
           service: str = "execute-api", region: str = "us-east-1") -> dict[str, str]:
    url = f"http://{HOST}{path}" + (f"?{query}" if query else "")
    request = AWSRequest(method=method, url=url, data=body,
                         headers={"content-type": "application/json"} if body else {})
    SigV4Auth(Credentials(key, secret), service, region).add_auth(request)
    headers = {k.lower(): v for k, v in request.headers.items()}
    headers["host"] = HOST
    return headers


def check(headers: dict[str, str], method: str = "GET", path: str = "/exports/j1",
          query: str = "datastoreId=ds1", body: bytes = b"", now: datetime | None = None):
    return check_signature(method, path, query, headers, body, IDENTITIES, "us-east-1", now)


def test_a_request_botocore_signed_passes_and_names_its_identity():
    key, identity = check(signed())
    assert (key, identity.arn) == ("AKIDANALYST", ANALYST)
    body = b'{"datastoreId": "ds1", "label": "x"}'
    assert check(signed("POST", "/exports", "", body), "POST", "/exports", "", body)[1] == identity
    listed = signed(path="/exports", query="limit=2&status=COMPLETED")
    assert check(listed, path="/exports", query="limit=2&status=COMPLETED")


@pytest.mark.parametrize("change, message", [
    (lambda h: h.pop("authorization"), "Missing Authentication Token"),
    (lambda h: h.update(authorization="Bearer x"), "requires 'Credential'"),
    (lambda h: h.update(authorization=h["authorization"].replace("AKIDANALYST", "AKIDNOBODY")),
     "security token included in the request is invalid"),
])
def test_a_missing_malformed_or_unknown_authorization_is_refused(change, message):
    headers = signed()
    change(headers)
    with pytest.raises(Refused, match=message):
        check(headers)


def test_anything_changed_after_signing_is_refused():
    mismatch = "does not match the signature"
    with pytest.raises(Refused, match=mismatch):
        check(signed(), path="/exports/j2")
    with pytest.raises(Refused, match=mismatch):
        check(signed(), query="datastoreId=ds2")
    body = b'{"datastoreId": "ds1"}'
    with pytest.raises(Refused, match=mismatch):
        check(signed("POST", "/exports", "", body), "POST", "/exports", "", b'{"datastoreId": "ds2"}')
    with pytest.raises(Refused, match=mismatch):
        check(signed(secret="another"))


def test_another_service_region_or_time_is_refused():
    with pytest.raises(Refused, match="service"):
        check(signed(service="healthlake"))
    with pytest.raises(Refused, match="region"):
        check(signed(region="eu-west-1"))
    later = datetime.now(timezone.utc) + timedelta(minutes=20)
    with pytest.raises(Refused, match="expired"):
        check(signed(), now=later)
