"""The orders MCP server driven by the official Python SDK (PyPI `mcp`), for tests/clients.rs.

    client.py token URL TOKEN          connect with a bearer token, list, call, be refused, export
    client.py discover URL CLIENT_ID   connect without a token and follow the 401 (OAuth discovery)

Prints one JSON document on stdout; the Rust test asserts on it. Every HTTP exchange the
SDK makes is recorded too (an httpx event hook): the SDK's own errors do not always carry
the HTTP status, and the test checks what the server answered as well as what the SDK made
of it.
"""

import json
import sys
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx2
from mcp.client.auth import OAuthClientProvider
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from mcp.shared.exceptions import MCPError

# Long enough for a debug build on a busy machine, short enough that a hang fails the test.
TIMEOUT = 60


def recorder(log):
    """An httpx response hook that notes each exchange: method, URL, status, challenge."""

    async def on_response(response):
        log.append(
            {
                "method": response.request.method,
                "url": str(response.request.url),
                "status": response.status_code,
                "www_authenticate": response.headers.get("www-authenticate"),
                "content_type": response.headers.get("content-type"),
            }
        )

    return on_response


async def with_token(url, token):
    http_log = []
    out = {}
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx2.AsyncClient(
        headers=headers, timeout=TIMEOUT, event_hooks={"response": [recorder(http_log)]}
    ) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                out["initialize"] = {
                    "protocolVersion": init.protocol_version,
                    "serverName": init.server_info.name,
                    "instructions": init.instructions,
                }

                tools = await session.list_tools()
                out["tools"] = sorted(t.name for t in tools.tools)

                got = await session.call_tool("get_order", {"id": 7})
                out["get_order"] = {
                    "isError": bool(got.is_error),
                    "structuredContent": got.structured_content,
                }

                # The refusal: what the SDK raises, and the HTTP answer under it.
                mark = len(http_log)
                try:
                    result = await session.call_tool("cancel_order", {"id": 7})
                    out["cancel_order"] = {
                        "raised": None,
                        "result": result.model_dump(mode="json", by_alias=True),
                    }
                except MCPError as err:
                    out["cancel_order"] = {
                        "raised": type(err).__name__,
                        "code": err.code,
                        "message": err.message,
                    }
                out["cancel_order"]["http"] = http_log[mark:]

                progress = []

                async def on_progress(value, total, message):
                    progress.append({"progress": value, "total": total, "message": message})

                exported = await session.call_tool(
                    "export_orders", {"count": 3}, progress_callback=on_progress
                )
                out["export_orders"] = {
                    "isError": bool(exported.is_error),
                    "text": [c.text for c in exported.content if c.type == "text"],
                    "progress": progress,
                }
    out["http"] = http_log
    return out


class Stop(Exception):
    """Raised by the redirect handler: the test has the authorization URL and goes no further."""


class Memory:
    """Token storage holding a pre-registered client: Entra has no dynamic registration."""

    def __init__(self, client):
        self.client = client

    async def get_tokens(self):
        return None

    async def set_tokens(self, tokens: OAuthToken):
        pass

    async def get_client_info(self):
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull):
        self.client = client_info


async def discover(url, client_id):
    http_log = []
    seen = {}
    redirect_uri = "http://localhost:53682/callback"

    async def redirect_handler(authorization_url):
        seen["authorization_url"] = authorization_url
        raise Stop()

    async def callback_handler():
        raise Stop()

    provider = OAuthClientProvider(
        server_url=url,
        client_metadata=OAuthClientMetadata(
            redirect_uris=[redirect_uri],
            token_endpoint_auth_method="none",
            client_name="funcgate clients test",
        ),
        storage=Memory(
            OAuthClientInformationFull(
                client_id=client_id,
                redirect_uris=[redirect_uri],
                token_endpoint_auth_method="none",
            )
        ),
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
    )
    outcome = None
    try:
        async with httpx2.AsyncClient(
            auth=provider, timeout=TIMEOUT, event_hooks={"response": [recorder(http_log)]}
        ) as http:
            async with streamable_http_client(url, http_client=http) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    outcome = "connected"
    except Exception as err:  # the Stop, wrapped in the transport's task groups
        outcome = describe(err)

    out = {"outcome": outcome, "http": http_log}
    context = provider.context
    prm = context.protected_resource_metadata
    out["protected_resource_metadata"] = (
        prm.model_dump(mode="json", exclude_none=True) if prm else None
    )
    asm = context.oauth_metadata
    out["authorization_server_metadata"] = (
        asm.model_dump(mode="json", exclude_none=True) if asm else None
    )
    authorization_url = seen.get("authorization_url")
    out["authorization_url"] = authorization_url
    if authorization_url:
        parts = urlsplit(authorization_url)
        out["authorization_endpoint"] = f"{parts.scheme}://{parts.netloc}{parts.path}"
        out["authorization_params"] = {k: v[0] for k, v in parse_qs(parts.query).items()}
    return out


def describe(err):
    """The exceptions inside an exception group, by name: the test looks for `Stop`."""
    if isinstance(err, BaseExceptionGroup):
        inner = [describe(e) for e in err.exceptions]
        return inner[0] if len(inner) == 1 else inner
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__


async def main():
    mode, url = sys.argv[1], sys.argv[2]
    with anyio.fail_after(TIMEOUT):
        if mode == "token":
            out = await with_token(url, sys.argv[3])
        elif mode == "discover":
            out = await discover(url, sys.argv[3])
        else:
            raise SystemExit(f"unknown mode {mode}")
    print(json.dumps(out))


if __name__ == "__main__":
    anyio.run(main)
