#!/usr/bin/env python3
"""Reference timing: botocore's SigV4Auth.add_auth for the same 1 KiB request the
criterion benches sign (run by hand; not part of `cargo bench`).

    pip install botocore==1.43.11
    python3 benches/botocore_add_auth.py
"""

import statistics
import timeit

import botocore
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

URL = ("https://bedrock-agentcore.us-east-1.amazonaws.com/runtimes/"
       "arn%3Aaws%3Abedrock-agentcore%3Aus-east-1%3A123456789012%3Aruntime%2Fagent-1"
       "/invocations?qualifier=DEFAULT")
BODY = b"x" * 1024
CREDS = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token")
AUTH = SigV4Auth(CREDS, "bedrock-agentcore", "us-east-1")


def sign_once():
    request = AWSRequest(method="POST", url=URL, data=BODY, headers={
        "content-type": "application/json",
        "accept": "application/json, text/event-stream",
        "mcp-session-id": "c7d1b2a4-5e6f-4a8b-9c0d-1e2f3a4b5c6d",
    })
    AUTH.add_auth(request)


def main():
    number = 2000
    runs = timeit.repeat(sign_once, number=number, repeat=7)
    per_call = [r / number * 1e6 for r in runs]
    print(f"botocore {botocore.__version__} SigV4Auth.add_auth, 1 KiB body: "
          f"median {statistics.median(per_call):.1f} µs per call "
          f"(min {min(per_call):.1f}, {len(runs)} runs of {number})")


if __name__ == "__main__":
    main()
