#!/usr/bin/env python3
"""Generate MCP-shaped SigV4 test vectors with botocore, an independent SigV4
implementation, into botocore_mcp.json (committed, so `cargo test` needs no Python).

    pip install -r tests/vectors/requirements.txt
    python3 tests/vectors/generate_botocore.py

Deterministic: fixed times, keys and bodies.
"""

import base64
import datetime
import hashlib
import json
import os
import re

import botocore
import botocore.auth
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "botocore_mcp.json")

KEYS = [
    ("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
    ("AKIAIOSFODNN7EXAMPLE", "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY"),
    ("ASIAQEXAMPLE2EXAMPLE", "Zx9+abc/DEF0123456789ghijklmnopQRSTUVWXYZ"),
]
TOKEN = (
    "IQoJb3JpZ2luX2VjEHYaCXVzLWVhc3QtMSJHMEUCIQD+EXAMPLE/token+with/slashes"
    "+and+plus==//////////wEaDEXAMPLE0123456789abcdefghijklmnopqrstuvwxyz="
)
SESSION = "c7d1b2a4-5e6f-4a8b-9c0d-1e2f3a4b5c6d"
PROTOCOL = "2025-06-18"
ARNS = [
    ("us-east-1", "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/my_agent-abc123XYZ"),
    ("us-west-2", "arn:aws:bedrock-agentcore:us-west-2:210987654321:runtime/weather_agent-Q1w2E3"),
    ("eu-central-1", "arn:aws:bedrock-agentcore:eu-central-1:111122223333:runtime/agent-0"),
    ("ap-southeast-2", "arn:aws:bedrock-agentcore:ap-southeast-2:444455556666:runtime/a_b-c"),
]


def encode_arn(arn):
    out = []
    for b in arn.encode():
        c = chr(b)
        if c.isalnum() and b < 128 or c in "-._~":
            out.append(c)
        else:
            out.append("%%%02X" % b)
    return "".join(out)


def runtime_url(region, arn, qualifier="DEFAULT", host=None):
    host = host or f"https://bedrock-agentcore.{region}.amazonaws.com"
    return f"{host}/runtimes/{encode_arn(arn)}/invocations?qualifier={qualifier}"


def rpc(method, id_=None, params=None):
    msg = {"jsonrpc": "2.0", "method": method}
    if id_ is not None:
        msg["id"] = id_
    if params is not None:
        msg["params"] = params
    return json.dumps(msg, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


INIT = rpc("initialize", 0, {
    "protocolVersion": PROTOCOL,
    "capabilities": {"roots": {"listChanged": True}, "sampling": {}},
    "clientInfo": {"name": "tower-sigv4-vectors", "version": "0.1.0"},
})
INITIALIZED = rpc("notifications/initialized")
LIST = rpc("tools/list", 1)


def call(id_, name, args):
    return rpc("tools/call", id_, {"name": name, "arguments": args})


def post_headers(body, session=True, accept=True):
    h = [["content-type", "application/json"]]
    if accept:
        h.append(["accept", "application/json, text/event-stream"])
    h.append(["mcp-protocol-version", PROTOCOL])
    if session:
        h.append(["mcp-session-id", SESSION])
    h.append(["content-length", str(len(body))])
    return h


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

    def add(id_, method, url, headers, body, region, service, key=0, token=False,
            timestamp="20251103T094512Z"):
        ak, sk = KEYS[key]
        case = {
            "id": id_,
            "method": method,
            "url": url,
            "headers": headers,
            "body_b64": base64.b64encode(body).decode(),
            "access_key": ak,
            "secret_key": sk,
            "session_token": TOKEN if token else None,
            "region": region,
            "service": service,
            "timestamp": timestamp,
        }
        case["expected"] = sign(case)
        cases.append(case)

    # AgentCore Runtime: the whole conversation, several regions and ARNs.
    region, arn = ARNS[0]
    url = runtime_url(region, arn)
    add("runtime-initialize", "POST", url, post_headers(INIT, session=False), INIT, region, "bedrock-agentcore")
    add("runtime-initialize-token", "POST", url, post_headers(INIT, session=False), INIT, region, "bedrock-agentcore", token=True)
    add("runtime-initialized", "POST", url, post_headers(INITIALIZED), INITIALIZED, region, "bedrock-agentcore", token=True)
    add("runtime-tools-list", "POST", url, post_headers(LIST), LIST, region, "bedrock-agentcore", token=True)
    body = call(2, "get_weather", {"city": "Seattle", "units": "metric"})
    add("runtime-tools-call", "POST", url, post_headers(body), body, region, "bedrock-agentcore", token=True)
    add("runtime-get-stream", "GET", url, [["accept", "text/event-stream"], ["mcp-protocol-version", PROTOCOL], ["mcp-session-id", SESSION]], b"", region, "bedrock-agentcore", token=True)
    add("runtime-get-resume", "GET", url, [["accept", "text/event-stream"], ["mcp-session-id", SESSION], ["last-event-id", "0_42"]], b"", region, "bedrock-agentcore")
    add("runtime-delete", "DELETE", url, [["mcp-session-id", SESSION], ["mcp-protocol-version", PROTOCOL]], b"", region, "bedrock-agentcore", token=True)
    for i, (region, arn) in enumerate(ARNS[1:], start=1):
        body = call(10 + i, "search", {"query": f"q{i}"})
        add(f"runtime-{region}", "POST", runtime_url(region, arn), post_headers(body), body, region, "bedrock-agentcore", key=i % 3, token=i % 2 == 0)
    region, arn = ARNS[1]
    add("runtime-qualifier-prod", "POST", runtime_url(region, arn, "prod"), post_headers(LIST), LIST, region, "bedrock-agentcore", key=1)
    add("runtime-qualifier-encoded", "POST", runtime_url(region, arn, "v%201"), post_headers(LIST), LIST, region, "bedrock-agentcore", key=1)

    # AgentCore Gateway.
    gw = "https://mygateway-abc123.gateway.bedrock-agentcore.us-west-2.amazonaws.com/mcp"
    add("gateway-initialize", "POST", gw, post_headers(INIT, session=False), INIT, "us-west-2", "bedrock-agentcore", key=1, token=True)
    body = call(3, "LambdaTarget___create_ticket", {"title": "Printer on fire", "priority": 1})
    add("gateway-tools-call", "POST", gw, post_headers(body), body, "us-west-2", "bedrock-agentcore", key=1, token=True)
    add("gateway-delete", "DELETE", gw, [["mcp-session-id", SESSION]], b"", "us-west-2", "bedrock-agentcore", key=1)

    # The AWS MCP Server.
    mcp = "https://aws-mcp.us-east-1.api.aws/mcp"
    add("aws-mcp-initialize", "POST", mcp, post_headers(INIT, session=False), INIT, "us-east-1", "aws-mcp", key=2, token=True)
    add("aws-mcp-tools-list", "POST", mcp, post_headers(LIST), LIST, "us-east-1", "aws-mcp", key=2, token=True)
    body = call(4, "aws___call_aws", {"cli_command": "aws s3 ls --region us-east-1"})
    add("aws-mcp-tools-call", "POST", mcp, post_headers(body), body, "us-east-1", "aws-mcp", key=2)
    add("aws-mcp-get", "GET", mcp, [["accept", "text/event-stream"], ["mcp-session-id", SESSION]], b"", "us-east-1", "aws-mcp", key=2)
    add("aws-mcp-eu", "POST", "https://aws-mcp.eu-west-1.api.aws/mcp", post_headers(LIST), LIST, "eu-west-1", "aws-mcp")

    # Bodies: unicode, CRLF, a large one, an explicit content hash.
    for id_, text in [("unicode-emoji", "hello 👋 🌍"), ("unicode-cjk", "東京の天気は？"), ("unicode-accents", "Ça déménage, señor")]:
        body = call(5, "echo", {"text": text})
        add(id_, "POST", mcp, post_headers(body), body, "us-east-1", "aws-mcp", token=True)
    body = b'{"jsonrpc":"2.0","id":6,"method":"tools/call",\r\n"params":{"name":"echo","arguments":{"text":"a\\r\\nb"}}}'
    add("body-crlf", "POST", url, post_headers(body), body, "us-east-1", "bedrock-agentcore")
    big = call(7, "summarize", {"text": ("lorem ipsum dolor sit amet " * 2500)[:65000]})
    add("body-64k", "POST", url, post_headers(big), big, "us-east-1", "bedrock-agentcore", token=True)
    h = post_headers(LIST) + [["x-amz-content-sha256", hashlib.sha256(LIST).hexdigest()]]
    add("explicit-content-sha256", "POST", mcp, h, LIST, "us-east-1", "aws-mcp")

    # Queries already in canonical form (botocore signs the wire query as given).
    base = "https://aws-mcp.us-east-1.api.aws/mcp"
    add("query-sorting", "GET", base + "?b=2&a=1&c=3", [["accept", "text/event-stream"]], b"", "us-east-1", "aws-mcp")
    add("query-repeated-keys", "GET", base + "?tag=b&tag=a&id=1", [], b"", "us-east-1", "aws-mcp")
    add("query-encoded-values", "GET", base + "?path=%2Fa%2Fb&q=a%20b&x=-_.~", [], b"", "us-east-1", "aws-mcp")
    add("query-empty-value", "GET", base + "?empty=&flag", [], b"", "us-east-1", "aws-mcp")

    # Header values: trimming, inner runs of spaces, mixed-case names.
    add("header-whitespace", "POST", mcp, [["Content-Type", "application/json"], ["X-Custom-Note", "  two   spaces  here  "], ["MCP-Session-Id", SESSION]], LIST, "us-east-1", "aws-mcp")
    add("header-user-agent-unsigned", "POST", mcp, post_headers(LIST) + [["user-agent", "agent/1.0 (tower-sigv4 vectors)"]], LIST, "us-east-1", "aws-mcp")

    # Hosts with non-default ports.
    add("port-localhost", "POST", "https://localhost:8443/mcp", post_headers(LIST), LIST, "us-east-1", "bedrock-agentcore")
    add("port-loopback-runtime", "POST", runtime_url("us-east-1", ARNS[0][1], host="http://127.0.0.1:3000"), post_headers(LIST), LIST, "us-east-1", "bedrock-agentcore", token=True)

    # Paths that need double encoding and normalisation.
    add("path-encoded-slash", "GET", "https://a1b2c3.execute-api.us-east-1.amazonaws.com/prod/items/a%2Fb", [], b"", "us-east-1", "execute-api")
    add("path-space-and-at", "GET", "https://a1b2c3.execute-api.us-east-1.amazonaws.com/prod/%40team/my%20file", [], b"", "us-east-1", "execute-api")
    add("path-dot-segments", "GET", "https://a1b2c3.execute-api.us-east-1.amazonaws.com/prod/./a/../b//c", [], b"", "us-east-1", "execute-api")
    add("lambda-url", "POST", "https://abcdefghij.lambda-url.eu-north-1.on.aws/mcp", post_headers(LIST), LIST, "eu-north-1", "lambda", key=1)

    with open(OUT, "w", encoding="utf-8") as f:
        json.dump({"generator": f"botocore {botocore.__version__} SigV4Auth", "cases": cases}, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
