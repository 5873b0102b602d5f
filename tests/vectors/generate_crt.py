#!/usr/bin/env python3
"""Sign the cases of cases.py with AWS CRT (awscrt's aws_sign_request, the C
aws-c-auth signer the AWS SDKs for C++, Java CRT client, S3 CRT and others use)
into crt_mcp.json, in the schema of botocore_mcp.json.

    pip install -r tests/vectors/requirements.txt
    python3 tests/vectors/generate_crt.py

Config: SigV4, HTTP request headers, double URI encoding and path normalisation
(the defaults, as botocore), payload hash = SHA-256 of the body (signed_body_value
None) and no X-Amz-Content-SHA256 header (signed_body_header_type NONE, checked).
CRT signs only the headers it is given, so the Host header is added from the URL
as botocore does (port kept unless it is the scheme's default); it is not in the
case's "headers", exactly as for botocore.

CRT does not expose its canonical request or string to sign. This script builds
both by CRT's rules (WHITESPACE.md) and keeps them only if the HMAC over that
string to sign is CRT's signature; otherwise, and when the canonical request is
not UTF-8 (a latin-1 header value), they are null. A case is marked
"differs_from_botocore": true (with a "note") when botocore_mcp.json has no case
of that id with the same signature. Cases CRT refuses are left out; the script
stops if that set changes.

Header values with non-UTF-8 bytes (cases with headers_b64) go in through the
binding under HttpHeaders.add (_awscrt.http_headers_add), which takes bytes;
HttpHeaders.add itself only takes str and encodes it as UTF-8.
"""

import base64
import datetime
import hashlib
import hmac
import io
import json
import os
import re
from urllib.parse import unquote_to_bytes, urlsplit

import _awscrt
import awscrt
from awscrt import auth, http
from awscrt.exceptions import AwsCrtError

from cases import all_cases, header_bytes, public

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "crt_mcp.json")
BOTOCORE = os.path.join(HERE, "botocore_mcp.json")

# CRT raises AWS_AUTH_SIGNING_ILLEGAL_REQUEST_HEADER when the request already
# has X-Amz-Content-SHA256, X-Amz-Date, Authorization, X-Amz-Security-Token or
# X-Amz-Region-Set.
REFUSED = {"explicit-content-sha256"}
# Headers CRT never signs (aws-c-auth's skip list).
SKIPPED = {"x-amzn-trace-id", "user-agent", "connection", "expect", "sec-websocket-key",
           "sec-websocket-protocol", "sec-websocket-version", "upgrade", "transfer-encoding"}
# aws_isspace: SP HT LF VT FF CR.
SPACE = b" \t\n\x0b\x0c\r"
UNRESERVED = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~"


def host_of(url):
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}[parts.scheme]
    if parts.port is None or parts.port == default:
        return parts.hostname
    return f"{parts.hostname}:{parts.port}"


def target_of(url):
    rest = url.split("://", 1)[1]
    return "/" + rest.split("/", 1)[1] if "/" in rest else "/"


def crt_sign(case):
    when = datetime.datetime.strptime(case["timestamp"], "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    headers = http.HttpHeaders()
    headers.add("host", host_of(case["url"]))
    for name, value in header_bytes(case):
        _awscrt.http_headers_add(headers._binding, name, value)
    body = base64.b64decode(case["body_b64"])
    request = http.HttpRequest(case["method"], target_of(case["url"]), headers, io.BytesIO(body))
    config = auth.AwsSigningConfig(
        algorithm=auth.AwsSigningAlgorithm.V4,
        signature_type=auth.AwsSignatureType.HTTP_REQUEST_HEADERS,
        credentials_provider=auth.AwsCredentialsProvider.new_static(
            case["access_key"], case["secret_key"], case["session_token"]),
        region=case["region"],
        service=case["service"],
        date=when,
        use_double_uri_encode=True,
        should_normalize_uri_path=True,
        signed_body_value=None,
        signed_body_header_type=auth.AwsSignedBodyHeaderType.NONE,
    )
    auth.aws_sign_request(request, config).result(30)
    assert request.headers.get("x-amz-content-sha256") is None
    return request.headers


# ---- CRT's canonical request, rebuilt and checked against its signature ----

def encode(raw, keep=b""):
    return "".join(chr(b) if b in UNRESERVED or b in keep else "%%%02X" % b for b in raw)


def remove_dot_segments(path):
    out = []
    for seg in path.split("/")[1:]:
        if seg == ".":
            continue
        if seg == "..":
            if out:
                out.pop()
            continue
        out.append(seg)
    trailing = path.endswith(("/.", "/..")) and out
    return "/" + "/".join(out) + ("/" if trailing else "")


def canonical_path(path):
    path = remove_dot_segments(path)
    path = re.sub("/+", "/", path)
    return encode(path.encode(), keep=b"/")


def canonical_query(query):
    if not query:
        return ""
    pairs = []
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        pairs.append((encode(unquote_to_bytes(key)), encode(unquote_to_bytes(value))))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def canonical_value(value):
    return re.sub(b"[" + re.escape(SPACE) + b"]+", b" ", value.strip(SPACE))


def rebuild(case, x_amz_date):
    parts = urlsplit(case["url"])
    headers = {}
    signed = [("host", host_of(case["url"]).encode())] + [(n.lower(), v) for n, v in header_bytes(case)]
    signed.append(("x-amz-date", x_amz_date.encode()))
    if case["session_token"]:
        signed.append(("x-amz-security-token", case["session_token"].encode()))
    for name, value in signed:
        if name not in SKIPPED:
            headers.setdefault(name, []).append(canonical_value(value))
    names = sorted(headers)
    creq = b"\n".join([
        case["method"].encode(),
        canonical_path(parts.path).encode(),
        canonical_query(parts.query).encode(),
        b"".join(n.encode() + b":" + b",".join(headers[n]) + b"\n" for n in names),
        ";".join(names).encode(),
        hashlib.sha256(base64.b64decode(case["body_b64"])).hexdigest().encode(),
    ])
    day = x_amz_date[:8]
    scope = f"{day}/{case['region']}/{case['service']}/aws4_request"
    sts = f"AWS4-HMAC-SHA256\n{x_amz_date}\n{scope}\n{hashlib.sha256(creq).hexdigest()}"
    key = ("AWS4" + case["secret_key"]).encode()
    for part in (day, case["region"], case["service"], "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return creq, sts, hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()


def main():
    with open(BOTOCORE, encoding="utf-8") as f:
        botocore = {c["id"]: c for c in json.load(f)["cases"]}
    cases, refused, unverified = [], set(), []
    for case in all_cases():
        note = case["_note"]
        case = public(case)
        try:
            signed = crt_sign(case)
        except AwsCrtError as e:
            assert e.name == "AWS_AUTH_SIGNING_ILLEGAL_REQUEST_HEADER", e
            refused.add(case["id"])
            continue
        authorization = signed.get("Authorization")
        x_amz_date = signed.get("X-Amz-Date")
        signature = authorization.rsplit("Signature=", 1)[1]
        signed_headers = re.search(r"SignedHeaders=([^,]+),", authorization).group(1)
        creq, sts, mine = rebuild(case, x_amz_date)
        if mine == signature:
            assert signed_headers == creq.split(b"\n")[-2].decode()
            try:
                creq = creq.decode("utf-8")
            except UnicodeDecodeError:
                creq = None
        else:
            unverified.append(case["id"])
            creq = sts = None
        case["expected"] = {
            "canonical_request": creq,
            "string_to_sign": sts,
            "signed_headers": signed_headers,
            "signature": signature,
            "authorization": authorization,
            "x_amz_date": x_amz_date,
            "x_amz_security_token": signed.get("X-Amz-Security-Token"),
        }
        theirs = botocore.get(case["id"])
        if theirs is not None and theirs["expected"]["signature"] == signature:
            # Same signature, same canonical request and string to sign.
            for field in ("canonical_request", "string_to_sign", "signed_headers", "authorization",
                          "x_amz_date", "x_amz_security_token"):
                mine_v = case["expected"][field]
                assert mine_v is None or mine_v == theirs["expected"][field], (case["id"], field)
        else:
            case["differs_from_botocore"] = True
            case["note"] = note or "botocore signs this input differently"
        cases.append(case)

    assert refused == REFUSED, f"CRT refused {sorted(refused)}, expected {sorted(REFUSED)}"
    assert not unverified, f"could not rebuild CRT's canonical request for {unverified}"
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump({"generator": f"awscrt {awscrt.__version__} aws_sign_request (SigV4, HTTP request headers)",
                   "cases": cases}, f, indent=1, ensure_ascii=False)
        f.write("\n")
    differ = [c["id"] for c in cases if c.get("differs_from_botocore")]
    print(f"wrote {len(cases)} cases to {OUT}; refused: {sorted(refused)}; differs from botocore: {differ}")


if __name__ == "__main__":
    main()
