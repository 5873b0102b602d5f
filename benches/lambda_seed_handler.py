"""The seed pattern's Bedrock Agents action-group Lambda, the baseline of
`benches/lambda_compare.py`: the Python MCP SDK (`pip install mcp`) in a Lambda
handler that runs `asyncio.run()` around a fresh MCP client session for every
call, signed with SigV4 by botocore, as teams write it today.

Run by `awslambdaric` (`python -m awslambdaric lambda_seed_handler.handler`),
the runtime interface client AWS's Python base images use, against the same
Runtime API as `mcp-sigv4 lambda`. It answers function-details events only,
which is all the bench sends; the server is `MCP_SERVER_URL`, signed for
`MCP_SERVER_SERVICE` in `AWS_REGION`.
"""

import asyncio
import os

import botocore.session
import httpx2
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

URL = os.environ["MCP_SERVER_URL"]
SERVICE = os.environ.get("MCP_SERVER_SERVICE", "bedrock-agentcore")
REGION = os.environ.get("AWS_REGION", "us-east-1")
# Module scope: resolved once per cold start, as a Lambda's globals are.
CREDENTIALS = botocore.session.get_session().get_credentials()

# The request headers botocore signs; httpx2's own (user-agent, accept-encoding,
# connection, content-length) go out unsigned.
SIGNED = ("content-type", "accept", "mcp-session-id", "mcp-protocol-version")


class SigV4(httpx2.Auth):
    """Signs each request the MCP client sends, body included."""

    requires_request_body = True

    def auth_flow(self, request):
        headers = {k: v for k, v in request.headers.items() if k.lower() in SIGNED}
        aws = AWSRequest(method=request.method, url=str(request.url),
                         data=request.content, headers=headers)
        SigV4Auth(CREDENTIALS.get_frozen_credentials(), SERVICE, REGION).add_auth(aws)
        for name, value in aws.headers.items():
            request.headers[name] = value
        yield request


def convert(parameter):
    """Bedrock sends every value as a string; the type says what it was."""
    value = parameter.get("value", "")
    kind = parameter.get("type", "string")
    if kind == "integer":
        return int(value)
    if kind == "number":
        return float(value)
    if kind == "boolean":
        return value.lower() == "true"
    return value


async def call(function, arguments):
    async with httpx2.AsyncClient(auth=SigV4(), timeout=30) as http:
        async with streamable_http_client(URL, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                return await session.call_tool(function, arguments)


def handler(event, context):
    arguments = {p["name"]: convert(p) for p in event.get("parameters", [])}
    result = asyncio.run(call(event["function"], arguments))
    text = "".join(c.text for c in result.content if getattr(c, "type", "") == "text")
    function_response = {"responseBody": {"TEXT": {"body": text}}}
    if result.is_error:
        function_response["responseState"] = "REPROMPT"
    return {
        "messageVersion": "1.0",
        "response": {
            "actionGroup": event.get("actionGroup"),
            "function": event["function"],
            "functionResponse": function_response,
        },
        "sessionAttributes": event.get("sessionAttributes", {}),
        "promptSessionAttributes": event.get("promptSessionAttributes", {}),
    }
