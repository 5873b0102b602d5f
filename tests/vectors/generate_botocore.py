#!/usr/bin/env python3
"""Generate MCP-shaped SigV4 test vectors with botocore, an independent SigV4
implementation, into botocore_mcp.json (committed, so `cargo test` needs no Python).

    pip install -r tests/vectors/requirements.txt
    python3 tests/vectors/generate_botocore.py

The cases live in cases.py, shared with generate_crt.py; cases marked
_botocore=False (inputs botocore cannot sign, or signs by its own rule) are left
out. Deterministic: fixed times, keys and bodies.
"""

import base64
import datetime
import json
import os
import re

import botocore
import botocore.auth
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from cases import all_cases, public

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "botocore_mcp.json")


class Recording(SigV4Auth):
    """SigV4Auth that keeps the canonical request and string to sign it used."""

    def string_to_sign(self, request, canonical_request):
        sts = super().string_to_sign(request, canonical_request)
        self.seen = (canonical_request, sts)
        return sts


class FixedNow:
    def __init__(self, when):
        self.when = when

    def __call__(self):
        return self.when


def sign(case):
    when = datetime.datetime.strptime(case["timestamp"], "%Y%m%dT%H%M%SZ")
    botocore.auth.get_current_datetime = FixedNow(when)
    body = base64.b64decode(case["body_b64"])
    request = AWSRequest(method=case["method"], url=case["url"], data=body)
    for name, value in case["headers"]:
        request.headers[name] = value
    creds = Credentials(case["access_key"], case["secret_key"], case["session_token"])
    auth = Recording(creds, case["service"], case["region"])
    auth.add_auth(request)
    creq, sts = auth.seen
    authorization = request.headers["Authorization"]
    signature = authorization.rsplit("Signature=", 1)[1]
    signed_headers = re.search(r"SignedHeaders=([^,]+),", authorization).group(1)
    # Cross-checks that a botocore change would trip.
    assert signature == auth.signature(sts, request)
    path = case["url"].split("://", 1)[1]
    path = "/" + path.split("/", 1)[1] if "/" in path else "/"
    path = path.split("?", 1)[0]
    if "%3A" in path:
        assert "%253A" in creq.split("\n")[1], "botocore did not double-encode the path"
    # Header values: botocore trims with str.split() (any Unicode whitespace); the
    # cases kept here must come out the same as trimming and collapsing only
    # SP and HT, the rule WHITESPACE.md records for AWS CRT.
    values = {}
    for name, value in case["headers"]:
        values.setdefault(name.lower(), []).append(re.sub(r"[ \t]+", " ", value.strip(" \t")))
    lines = creq.split("\n")
    for name, vals in values.items():
        if name in signed_headers.split(";"):
            assert f"{name}:{','.join(vals)}" in lines, (case["id"], name)
    return {
        "canonical_request": creq,
        "string_to_sign": sts,
        "signed_headers": signed_headers,
        "signature": signature,
        "authorization": authorization,
        "x_amz_date": request.headers["X-Amz-Date"],
        "x_amz_security_token": request.headers.get("X-Amz-Security-Token"),
    }


def main():
    cases = []
    for case in all_cases():
        if not case["_botocore"]:
            continue
        assert "headers_b64" not in case, case["id"]
        case = public(case)
        case["expected"] = sign(case)
        cases.append(case)

    with open(OUT, "w", encoding="utf-8") as f:
        json.dump({"generator": f"botocore {botocore.__version__} SigV4Auth", "cases": cases}, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
