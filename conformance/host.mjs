// An MCP host for the conformance suite's client scenarios, with
// `mcp-sigv4 proxy` as the client under test.
//
// The suite runs `node conformance/host.mjs URL` with the scenario's name in
// MCP_CONFORMANCE_SCENARIO (and its credentials, for the auth scenarios, in
// MCP_CONFORMANCE_CONTEXT). This host starts `mcp-sigv4 proxy URL` as a
// desktop host would (stdio, credentials in the environment), drives it with
// the TypeScript SDK's `Client` over `StdioClientTransport`, does what the
// scenario asks (list tools, call them, answer the server's elicitation), and
// exits 0 when every step got the answer the scenario's server gives, 1
// otherwise. The suite judges the proxy by what reached its server.
//
// The proxy's binary is $MCP_SIGV4, or target/debug/mcp-sigv4 of this
// checkout.

import { fileURLToPath } from 'node:url';
import path from 'node:path';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { discoverOAuthServerInfo } from '@modelcontextprotocol/sdk/client/auth.js';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';

/** The longest one scenario may take here; the suite's own limit is 30 s. */
const DEADLINE_MS = 25_000;

/**
 * What each scenario asks of the host: the tools to call (by name, with
 * arguments) and the text their answer must contain. Every scenario lists
 * tools first. `oauth2` marks the scenarios whose server takes a
 * client-credentials bearer token instead of a SigV4 signature.
 */
const SCENARIOS = {
  initialize: { calls: [] },
  tools_call: {
    calls: [{ name: 'add_numbers', arguments: { a: 5, b: 3 }, expect: 'The sum of 5 and 3 is 8' }],
  },
  'elicitation-sep1034-client-defaults': {
    calls: [{ name: 'test_client_elicitation_defaults', arguments: {}, expect: 'Elicitation completed' }],
  },
  'sse-retry': {
    calls: [{ name: 'test_reconnection', arguments: {}, expect: 'Reconnection test completed' }],
  },
  'auth/client-credentials-basic': {
    oauth2: true,
    calls: [{ name: 'test-tool', arguments: {}, expect: 'test' }],
  },
};

const here = path.dirname(fileURLToPath(import.meta.url));

function fail(message) {
  console.error(`host.mjs: ${message}`);
  process.exit(1);
}

/**
 * The proxy's flags for this scenario. The scenario servers are plain http on
 * localhost, which names no AWS service or region, so both are given; their
 * values only shape the signature, which these servers do not check.
 */
async function proxyArgs(url, scenario) {
  if (!scenario.oauth2) {
    return ['proxy', url, '--service', 'execute-api', '--region', 'us-east-1'];
  }
  // A user of the proxy copies the token URL from the authorization server's
  // metadata into --oauth2-token-url; the host finds it the same way, by the
  // MCP authorization discovery (protected resource metadata, then the
  // authorization server's metadata).
  const context = JSON.parse(process.env.MCP_CONFORMANCE_CONTEXT ?? '{}');
  if (!context.client_id || !context.client_secret) {
    fail('MCP_CONFORMANCE_CONTEXT has no client_id and client_secret for an OAuth2 scenario');
  }
  const info = await discoverOAuthServerInfo(url);
  const tokenUrl = info.authorizationServerMetadata?.token_endpoint;
  if (!tokenUrl) {
    fail(`the authorization server of ${url} publishes no token_endpoint`);
  }
  process.env.CONFORMANCE_CLIENT_SECRET = context.client_secret;
  return [
    'proxy', url,
    '--oauth2-token-url', tokenUrl,
    '--oauth2-client-id', context.client_id,
    '--oauth2-client-secret-env', 'CONFORMANCE_CLIENT_SECRET',
  ];
}

/**
 * The host's environment with fake AWS keys and nothing else of AWS: no
 * profile, config file or instance metadata can lend other credentials.
 */
function proxyEnv() {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('AWS_')));
  return {
    ...env,
    AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
    AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_EC2_METADATA_DISABLED: 'true',
  };
}

function textOf(result) {
  return (result.content ?? []).filter((c) => c.type === 'text').map((c) => c.text).join('\n');
}

async function main() {
  const url = process.argv[2];
  const name = process.env.MCP_CONFORMANCE_SCENARIO;
  if (!url || !name) {
    fail('usage: MCP_CONFORMANCE_SCENARIO=NAME node host.mjs SERVER_URL (the conformance suite sets both)');
  }
  const scenario = SCENARIOS[name];
  if (!scenario) {
    fail(`no steps for scenario \`${name}\`; add it to SCENARIOS in conformance/host.mjs`);
  }
  const binary = process.env.MCP_SIGV4 ?? path.resolve(here, '..', 'target', 'debug', 'mcp-sigv4');
  const args = await proxyArgs(url, scenario);
  const transport = new StdioClientTransport({
    command: binary,
    args,
    env: proxyEnv(),
    stderr: 'inherit',
  });
  const client = new Client(
    { name: 'mcp-sigv4-conformance-host', version: '1.0.0' },
    // The host, not the server, fills in the defaults of a form the user
    // accepts unchanged (SEP-1034).
    { capabilities: { elicitation: { form: { applyDefaults: true } } } },
  );
  // The user accepts every form as it is offered.
  client.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'accept', content: {} }));
  await client.connect(transport);
  const { tools } = await client.listTools();
  for (const call of scenario.calls) {
    if (!tools.some((tool) => tool.name === call.name)) {
      fail(`the server lists no tool \`${call.name}\` (it lists ${tools.map((t) => t.name).join(', ')})`);
    }
    const result = await client.callTool({ name: call.name, arguments: call.arguments });
    const text = textOf(result);
    if (result.isError || !text.includes(call.expect)) {
      fail(`tool \`${call.name}\` answered ${JSON.stringify(result)}; expected a text with "${call.expect}"`);
    }
  }
  await client.close();
}

const deadline = setTimeout(() => fail(`scenario not done after ${DEADLINE_MS} ms`), DEADLINE_MS);
main().then(
  () => clearTimeout(deadline),
  (error) => fail(error?.stack ?? String(error)),
);
