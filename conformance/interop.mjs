#!/usr/bin/env node
// The TypeScript MCP SDK's client (1.32.2, from package.json) against
// `mcp-sigv4 gateway` with two conformance servers behind it (`server.mjs
// --name NAME`). SDK 1.32.2 speaks the 2025 revisions only (initialize and a
// session; its newest is 2025-11-25), so this is the legacy era.
//
//   node interop.mjs http://127.0.0.1:PORT alpha beta
//
// On the aggregated /mcp: list the tools, find both servers' under their
// prefixes, call `server_name` on each (its answer says which server was
// reached), list again (now from the gateway's list cache); then list on
// /mcp/{first}. Prints one line per check (`ok` or `FAIL`) and, last,
// `typescript-sdk: N passed, N failed`; exits 1 on any failure.

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const [base, ...servers] = process.argv.slice(2);
if (!base || servers.length < 2) {
  process.stderr.write('usage: interop.mjs GATEWAY_URL SERVER SERVER [...]\n');
  process.exit(2);
}
let passed = 0;
let failed = 0;

async function check(name, step) {
  try {
    const detail = await step();
    passed += 1;
    console.log(`ok   ${name}: ${detail}`);
  } catch (error) {
    failed += 1;
    console.log(`FAIL ${name}: ${error?.message ?? error}`);
  }
}

/** A connected client on `path`, closed (session DELETEd) after `use`. */
async function session(path, use) {
  const client = new Client({ name: 'mcp-sigv4-interop', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(path, base));
  await client.connect(transport, { timeout: 30_000 });
  try {
    return await use(client, transport);
  } finally {
    await transport.terminateSession().catch(() => {});
    await client.close();
  }
}

const toolNames = async (client) => (await client.listTools()).tools.map((t) => t.name).sort();

await check('/mcp legacy: list tools, call a tool of each server, list again', () =>
  session('/mcp', async (client, transport) => {
    const listed = await toolNames(client);
    const answers = [];
    for (const server of servers) {
      const tool = `${server}-server_name`;
      if (!listed.includes(tool)) throw new Error(`${tool} not listed: ${listed.join(', ')}`);
      const result = await client.callTool({ name: tool, arguments: {} });
      const said = result.content?.[0]?.text;
      if (result.isError || said !== server) {
        throw new Error(`${tool} answered ${JSON.stringify(said)} (isError ${result.isError})`);
      }
      answers.push(`${tool} -> ${said}`);
    }
    const again = await toolNames(client);
    if (again.join() !== listed.join()) {
      throw new Error(`the second list differs: ${again.join(', ')} after ${listed.join(', ')}`);
    }
    return `${transport.protocolVersion}, ${listed.length} tools twice; ${answers.join(', ')}`;
  }),
);

await check(`/mcp/${servers[0]} legacy: list tools`, () =>
  session(`/mcp/${servers[0]}`, async (client, transport) => {
    const listed = await toolNames(client);
    if (!listed.includes('server_name')) throw new Error(`server_name not listed: ${listed.join(', ')}`);
    return `${transport.protocolVersion}, ${listed.length} tools`;
  }),
);

console.log(`typescript-sdk: ${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
