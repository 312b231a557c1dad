// The orders MCP server driven by the official TypeScript SDK (@modelcontextprotocol/sdk), for
// tests/clients.rs.
//
//   node client.mjs token URL TOKEN        connect with a bearer token, list, call, be refused, export
//   node client.mjs discover URL CLIENT_ID connect without a token and follow the 401 (OAuth discovery)
//   node client.mjs client-credentials URL CLIENT_ID SECRET SCOPE ISSUER
//                                          connect as a confidential client: follow the 401 to the
//                                          authorization server, get a token there, list and call
//
// FUNCGATE_MCP_NODE_MODULES names the node_modules folder the SDK is installed in (make
// mcp-tools): this script lives in the repository, away from it, and ES modules do not read
// NODE_PATH. Prints one JSON document on stdout; the Rust test asserts on it. Every HTTP exchange
// the SDK makes goes through a recording fetch, so the test checks what the server answered as
// well as what the SDK made of it.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

// The SDK's ES modules, found the way Node resolves a bare specifier from a module inside that
// node_modules folder: the package's folder, then its exports map ("./*" -> the import build).
const sdkRoot = join(process.env.FUNCGATE_MCP_NODE_MODULES, '@modelcontextprotocol', 'sdk');
const pkg = JSON.parse(readFileSync(join(sdkRoot, 'package.json'), 'utf8'));
const sdk = subpath => import(pathToFileURL(join(sdkRoot, pkg.exports['./*'].import.replace('*', subpath))).href);

const { Client } = await sdk('client/index.js');
const { StreamableHTTPClientTransport, StreamableHTTPError } = await sdk('client/streamableHttp.js');
const { UnauthorizedError } = await sdk('client/auth.js');

// Long enough for a debug build on a busy machine, short enough that a hang fails the test.
const TIMEOUT_MS = 60_000;

/** A fetch that notes each exchange: method, URL, status, challenge. */
function recordingFetch(log) {
    return async (url, init) => {
        const response = await fetch(url, init);
        log.push({
            method: init?.method ?? 'GET',
            url: String(url),
            status: response.status,
            www_authenticate: response.headers.get('www-authenticate'),
            content_type: response.headers.get('content-type')
        });
        return response;
    };
}

function errorShape(err) {
    return {
        raised: err?.constructor?.name ?? typeof err,
        isStreamableHTTPError: err instanceof StreamableHTTPError,
        isUnauthorizedError: err instanceof UnauthorizedError,
        code: err?.code,
        message: String(err?.message ?? err)
    };
}

async function withToken(url, token) {
    const http = [];
    const out = {};
    const transport = new StreamableHTTPClientTransport(new URL(url), {
        requestInit: { headers: { Authorization: `Bearer ${token}` } },
        fetch: recordingFetch(http)
    });
    const client = new Client({ name: 'funcgate-clients-test', version: '1.0.0' });
    await client.connect(transport);
    out.initialize = {
        protocolVersion: transport.protocolVersion,
        serverName: client.getServerVersion()?.name,
        instructions: client.getInstructions()
    };

    const tools = await client.listTools();
    out.tools = tools.tools.map(t => t.name).sort();

    const got = await client.callTool({ name: 'get_order', arguments: { id: 7 } });
    out.get_order = { isError: Boolean(got.isError), structuredContent: got.structuredContent };

    // The refusal: what the SDK throws, and the HTTP answer under it.
    const mark = http.length;
    try {
        const result = await client.callTool({ name: 'cancel_order', arguments: { id: 7 } });
        out.cancel_order = { raised: null, result };
    } catch (err) {
        out.cancel_order = errorShape(err);
    }
    out.cancel_order.http = http.slice(mark);

    const progress = [];
    const exported = await client.callTool({ name: 'export_orders', arguments: { count: 3 } }, undefined, {
        onprogress: p => progress.push(p)
    });
    out.export_orders = {
        isError: Boolean(exported.isError),
        text: exported.content.filter(c => c.type === 'text').map(c => c.text),
        progress
    };
    await client.close();
    out.http = http;
    return out;
}

/** An OAuth client provider for a pre-registered public client (Entra has no dynamic
 * registration) whose redirect only records the authorization URL: the test stops there. */
class RecordingProvider {
    constructor(clientId) {
        this.clientId = clientId;
        this.authorizationUrl = undefined;
        this.discovery = undefined;
        this.verifier = undefined;
    }
    get redirectUrl() {
        return 'http://localhost:53682/callback';
    }
    get clientMetadata() {
        return {
            client_name: 'funcgate clients test',
            redirect_uris: [this.redirectUrl],
            token_endpoint_auth_method: 'none',
            grant_types: ['authorization_code', 'refresh_token'],
            response_types: ['code']
        };
    }
    clientInformation() {
        return { client_id: this.clientId };
    }
    tokens() {
        return undefined;
    }
    saveTokens() {}
    redirectToAuthorization(url) {
        this.authorizationUrl = url;
    }
    saveCodeVerifier(verifier) {
        this.verifier = verifier;
    }
    codeVerifier() {
        return this.verifier;
    }
    saveDiscoveryState(state) {
        this.discovery = state;
    }
    discoveryState() {
        return undefined;
    }
}

async function discover(url, clientId) {
    const http = [];
    const provider = new RecordingProvider(clientId);
    const transport = new StreamableHTTPClientTransport(new URL(url), {
        authProvider: provider,
        fetch: recordingFetch(http)
    });
    const client = new Client({ name: 'funcgate-clients-test', version: '1.0.0' });
    let outcome;
    try {
        await client.connect(transport);
        outcome = { raised: null };
    } catch (err) {
        outcome = errorShape(err);
    }
    await client.close().catch(() => {});
    const out = {
        outcome,
        http,
        protected_resource_metadata: provider.discovery?.resourceMetadata ?? null,
        authorization_server_metadata: provider.discovery?.authorizationServerMetadata ?? null,
        authorization_url: provider.authorizationUrl ? String(provider.authorizationUrl) : null
    };
    if (provider.authorizationUrl) {
        const u = new URL(provider.authorizationUrl);
        out.authorization_endpoint = `${u.origin}${u.pathname}`;
        out.authorization_params = Object.fromEntries(u.searchParams);
    }
    return out;
}

/** A confidential client with the SDK's client-credentials provider: the SDK follows the 401
 * to the metadata and the authorization server, gets a token there, and retries. Such a client
 * is configured with the scope it asks for (the SDK sends that one, not the challenge's) and
 * the issuer it trusts with its secret. */
async function clientCredentials(url, clientId, clientSecret, scope, expectedIssuer) {
    const { ClientCredentialsProvider } = await sdk('client/auth-extensions.js');
    const http = [];
    const provider = new ClientCredentialsProvider({ clientId, clientSecret, scope, expectedIssuer });
    const transport = new StreamableHTTPClientTransport(new URL(url), {
        authProvider: provider,
        fetch: recordingFetch(http)
    });
    const client = new Client({ name: 'funcgate-clients-test', version: '1.0.0' });
    await client.connect(transport);
    const out = {};
    out.tools = (await client.listTools()).tools.map(t => t.name).sort();
    const got = await client.callTool({ name: 'get_order', arguments: { id: 7 } });
    out.get_order = { isError: Boolean(got.isError), structuredContent: got.structuredContent };
    await client.close();
    // What the authorization server issued, read (not checked) for the test's assertions.
    const token = provider.tokens()?.access_token;
    out.token_claims = token ? JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8')) : null;
    out.http = http;
    return out;
}

const [mode, url, arg, ...rest] = process.argv.slice(2);
const timer = setTimeout(() => {
    console.error(`timed out after ${TIMEOUT_MS} ms`);
    process.exit(2);
}, TIMEOUT_MS);
const modes = {
    token: () => withToken(url, arg),
    discover: () => discover(url, arg),
    'client-credentials': () => clientCredentials(url, arg, ...rest)
};
const out = modes[mode] ? await modes[mode]() : null;
if (out === null) {
    console.error(`unknown mode ${mode}`);
    process.exit(2);
}
clearTimeout(timer);
console.log(JSON.stringify(out));
