"""The MCP-shaped requests both generators sign (generate_botocore.py and
generate_crt.py): one list, so botocore_mcp.json and crt_mcp.json describe the
same inputs under the same ids.

Each case is a dict with the input fields written to the JSON (id, method, url,
headers, body_b64, access_key, secret_key, session_token, region, service,
timestamp, and for cases whose header values are not UTF-8, headers_b64) plus
private fields that start with "_" and are never written:

  _botocore  False when botocore_mcp.json leaves the case out (botocore cannot sign
             the input, or signs it by a rule nobody else follows; WHITESPACE.md)
  _note      why, for the CRT file's "note" field

Header values are str; the bytes on the wire and in the signature are their UTF-8
encoding, except in cases with headers_b64, whose values are exact bytes (JSON has
no way to hold a lone 0xE9 in a string; "headers" then shows them decoded as
latin-1, for reading only).
"""

import base64
import hashlib
import json

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
TIMESTAMP = "20251103T094512Z"


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


def all_cases():
    """Every case, in file order: the original 39 first, new ones appended."""
    cases = []

    def add(id_, method, url, headers, body, region, service, key=0, token=False,
            timestamp=TIMESTAMP, botocore=True, note=None):
        ak, sk = KEYS[key]
        raw = any(isinstance(v, bytes) for _, v in headers)
        case = {
            "id": id_,
            "method": method,
            "url": url,
            "headers": [[n, v.decode("latin-1") if isinstance(v, bytes) else v] for n, v in headers],
        }
        if raw:
            case["headers_b64"] = [
                [n, base64.b64encode(v if isinstance(v, bytes) else v.encode("utf-8")).decode()]
                for n, v in headers
            ]
        case.update({
            "body_b64": base64.b64encode(body).decode(),
            "access_key": ak,
            "secret_key": sk,
            "session_token": TOKEN if token else None,
            "region": region,
            "service": service,
            "timestamp": timestamp,
        })
        case["_botocore"] = botocore
        case["_note"] = note
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

    # ---- Appended: header values with tabs, runs, empty and repeated values,
    # non-ASCII bytes (WHITESPACE.md has the rules these pin down).
    region, arn = ARNS[0]
    rt = runtime_url(region, arn)
    def with_note(v):
        return post_headers(LIST) + [["x-mcp-note", v]]

    add("ws-tab-inside", "POST", mcp, with_note("tools\tlist"), LIST, "us-east-1", "aws-mcp")
    add("ws-mixed-runs", "POST", mcp, with_note("a \t  \t\tb  c\t \td"), LIST, "us-east-1", "aws-mcp", key=2, token=True)
    add("ws-leading-trailing", "POST", mcp, with_note(" \t\t lead and trail \t "), LIST, "us-east-1", "aws-mcp")
    add("ws-empty-value", "POST", mcp, with_note(""), LIST, "us-east-1", "aws-mcp", key=1)
    add("ws-only-whitespace", "POST", mcp, with_note(" \t \t "), LIST, "us-east-1", "aws-mcp", token=True)
    add("ws-repeated", "POST", mcp, post_headers(LIST) + [["x-mcp-note", "  first\t value "], ["x-mcp-trace", "t-1"], ["x-mcp-note", "\tsecond  \t value\t"]], LIST, "us-east-1", "aws-mcp")
    add("ws-repeated-empty", "POST", mcp, post_headers(LIST) + [["x-mcp-note", "one"], ["x-mcp-note", ""], ["x-mcp-note", " \t "], ["x-mcp-note", "four"]], LIST, "us-east-1", "aws-mcp", key=2)
    add("ws-repeated-mixed-case", "POST", mcp, post_headers(LIST) + [["X-Mcp-Note", "Upper\tCase"], ["x-mcp-note", "lower  case"]], LIST, "us-east-1", "aws-mcp")
    body = call(8, "get_weather", {"city": "Oslo"})
    add("ws-content-type-tab-param", "POST", rt, [["content-type", "application/json;\tcharset=utf-8"], ["accept", "application/json,\ttext/event-stream"], ["mcp-protocol-version", PROTOCOL], ["mcp-session-id", SESSION], ["content-length", str(len(body))]], body, region, "bedrock-agentcore", token=True)
    add("ws-session-id-padded", "POST", rt, [["content-type", "application/json"], ["accept", "application/json, text/event-stream"], ["mcp-protocol-version", " " + PROTOCOL], ["mcp-session-id", SESSION + "\t"], ["content-length", str(len(LIST))]], LIST, region, "bedrock-agentcore")
    add("ws-get-stream", "GET", rt, [["accept", "\ttext/event-stream\t"], ["mcp-session-id", SESSION], ["last-event-id", " 0_42 "]], b"", region, "bedrock-agentcore", token=True)
    add("obs-text-utf8", "POST", mcp, with_note("café déjà vu"), LIST, "us-east-1", "aws-mcp")
    add("obs-text-utf8-whitespace", "POST", mcp, with_note(" \tcafé\t\tau  lait "), LIST, "us-east-1", "aws-mcp", key=1, token=True)
    add("obs-text-utf8-nbsp", "POST", mcp, with_note("a\u00a0b \u00a0c"), LIST, "us-east-1", "aws-mcp", botocore=False,
        note="botocore trims with Python str.split(), so U+00A0 (UTF-8 C2 A0) counts as whitespace: "
             "it signs 'a b c'; CRT signs the bytes 'a\\xc2\\xa0b \\xc2\\xa0c'")
    add("obs-text-latin1", "POST", mcp, with_note(b"caf\xe9 \t cr\xe8me"), LIST, "us-east-1", "aws-mcp", botocore=False,
        note="value bytes are latin-1 (see headers_b64); botocore cannot sign bytes (TypeError) and "
             "signs a str as UTF-8; CRT signs the bytes as they are")
    return cases


def public(case):
    """The case without its private fields, in the JSON's field order."""
    return {k: v for k, v in case.items() if not k.startswith("_")}


def header_bytes(case):
    """[(name, value bytes)] as signed and sent."""
    if "headers_b64" in case:
        return [(n, base64.b64decode(v)) for n, v in case["headers_b64"]]
    return [(n, v.encode("utf-8")) for n, v in case["headers"]]
