#!/usr/bin/env node
// The project's own target for the MCP conformance suite's server scenarios
// (`conformance server`, @modelcontextprotocol/conformance 0.1.16): a 2025-era
// streamable HTTP MCP server (initialize, Mcp-Session-Id, the GET stream,
// resumption with Last-Event-ID) with the tools, resources and prompts those
// scenarios call, on the TypeScript SDK from package.json. Written for this
// repository from the scenarios' checks; the suite's own reference server lives
// in a repository no registry carries.
//
//   node server.mjs [--port N] [--name NAME] [--server-requests standalone|related]
//
// Listens on 127.0.0.1 only (port from --port, else $PORT, else a free one) at
// /mcp and prints one line, `listening on http://127.0.0.1:PORT/mcp`, once it
// accepts connections. --name sets serverInfo.name and what the `server_name`
// tool answers, so that two of them behind one gateway can be told apart.
//
// --server-requests says where a tool's sampling and elicitation requests go:
// `standalone` (the default) sends them on the session's GET stream, as the
// suite's reference server does, and they are lost if no GET stream is open;
// `related` sends them on the tool call's own POST stream.
// Needs Node 22 or later (conformance/node_modules/.bin/node).

import http from 'node:http';
import zlib from 'node:zlib';
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {
  CallToolRequestSchema,
  CompleteRequestSchema,
  CreateMessageResultSchema,
  ElicitResultSchema,
  ErrorCode,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  McpError,
  ReadResourceRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
  isInitializeRequest,
} from '@modelcontextprotocol/sdk/types.js';

const { values: options } = parseArgs({
  options: {
    port: { type: 'string' },
    name: { type: 'string', default: 'mcp-sigv4-conformance-server' },
    'server-requests': { type: 'string', default: 'standalone' },
  },
});
const PORT = Number(options.port ?? process.env.PORT ?? 0);
if (!Number.isInteger(PORT) || PORT < 0 || PORT > 65535) {
  fail(`--port takes a port number from 0 to 65535, not ${options.port ?? process.env.PORT}`);
}
const SERVER_REQUESTS = options['server-requests'];
if (SERVER_REQUESTS !== 'standalone' && SERVER_REQUESTS !== 'related') {
  fail(`--server-requests takes standalone or related, not ${SERVER_REQUESTS}`);
}

/** A request body larger than this is refused with 413 before it is parsed. */
const MAX_BODY = 4 * 1024 * 1024;
/** Events a session keeps for resumption; the oldest go first. */
const MAX_EVENTS = 1000;
/** The `retry:` the server asks for on a stream it closes (SEP-1699), in ms. */
const RETRY_MS = 200;
/** Host names a request may name (DNS-rebinding protection), without port. */
const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

function fail(message) {
  process.stderr.write(`server.mjs: ${message}\n`);
  process.exit(2);
}

// ---- content -----------------------------------------------------------------

/** A 1x1 PNG of one red pixel, built here (signature, IHDR, IDAT, IEND). */
function onePixelPng() {
  const chunk = (type, data) => {
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(1, 0); // width
  header.writeUInt32BE(1, 4); // height
  header.set([8, 2, 0, 0, 0], 8); // 8-bit RGB, no interlace
  const scanline = Buffer.from([0, 255, 0, 0]); // filter byte, then R G B
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', zlib.deflateSync(scanline)),
    chunk('IEND', Buffer.alloc(0)),
  ]).toString('base64');
}

/** A WAV file of one silent 16-bit mono sample at 8 kHz, built here. */
function silentWav() {
  const samples = Buffer.alloc(2);
  const wav = Buffer.alloc(44);
  wav.write('RIFF', 0, 'ascii');
  wav.writeUInt32LE(36 + samples.length, 4);
  wav.write('WAVEfmt ', 8, 'ascii');
  wav.writeUInt32LE(16, 16); // fmt chunk size
  wav.writeUInt16LE(1, 20); // PCM
  wav.writeUInt16LE(1, 22); // mono
  wav.writeUInt32LE(8000, 24); // sample rate
  wav.writeUInt32LE(16000, 28); // byte rate
  wav.writeUInt16LE(2, 32); // block align
  wav.writeUInt16LE(16, 34); // bits per sample
  wav.write('data', 36, 'ascii');
  wav.writeUInt32LE(samples.length, 40);
  return Buffer.concat([wav, samples]).toString('base64');
}

const PNG = onePixelPng();
const WAV = silentWav();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const text = (value) => ({ content: [{ type: 'text', text: value }] });

// ---- tools -------------------------------------------------------------------

const NO_ARGUMENTS = { type: 'object', properties: {} };

/** Each tool: its listing, and what a call does (arguments, SDK extra, session). */
const TOOLS = {
  test_simple_text: {
    description: 'Returns one text block',
    call: () => text('This is a simple text response for testing.'),
  },
  test_image_content: {
    description: 'Returns one PNG image block',
    call: () => ({ content: [{ type: 'image', data: PNG, mimeType: 'image/png' }] }),
  },
  test_audio_content: {
    description: 'Returns one WAV audio block',
    call: () => ({ content: [{ type: 'audio', data: WAV, mimeType: 'audio/wav' }] }),
  },
  test_embedded_resource: {
    description: 'Returns one embedded text resource',
    call: () => ({
      content: [
        {
          type: 'resource',
          resource: {
            uri: 'test://embedded-resource',
            mimeType: 'text/plain',
            text: 'This is an embedded resource content.',
          },
        },
      ],
    }),
  },
  test_multiple_content_types: {
    description: 'Returns a text, an image and an embedded resource block',
    call: () => ({
      content: [
        { type: 'text', text: 'Multiple content types test:' },
        { type: 'image', data: PNG, mimeType: 'image/png' },
        {
          type: 'resource',
          resource: {
            uri: 'test://mixed-content-resource',
            mimeType: 'application/json',
            text: JSON.stringify({ test: 'data', value: 123 }),
          },
        },
      ],
    }),
  },
  test_tool_with_logging: {
    description: 'Sends three info log messages while it runs',
    call: async (_args, extra, session) => {
      const steps = ['Tool execution started', 'Tool processing data', 'Tool execution completed'];
      for (const [i, step] of steps.entries()) {
        if (i > 0) await sleep(50);
        await session.log(extra, 'info', step);
      }
      return text('Tool with logging executed successfully');
    },
  },
  test_error_handling: {
    description: 'Always fails, as a tool result with isError',
    call: () => ({
      isError: true,
      content: [{ type: 'text', text: 'This tool intentionally returns an error for testing' }],
    }),
  },
  test_tool_with_progress: {
    description: 'Reports progress 0, 50 and 100 of 100 when the call has a progress token',
    call: async (_args, extra) => {
      const token = extra._meta?.progressToken;
      for (const [i, progress] of [0, 50, 100].entries()) {
        if (i > 0) await sleep(50);
        if (token !== undefined) {
          await extra.sendNotification({
            method: 'notifications/progress',
            params: { progressToken: token, progress, total: 100, message: `step ${progress} of 100` },
          });
        }
      }
      return text(`progress reported for token ${JSON.stringify(token ?? null)}`);
    },
  },
  test_reconnection: {
    description:
      'Closes the call\'s SSE stream before it answers (SEP-1699); the result arrives on the resumed stream',
    call: async (_args, extra) => {
      // Undefined when the client's protocol version cannot resume (before 2025-11-25).
      extra.closeSSEStream?.();
      await sleep(100);
      return text('Reconnection test completed: the result was sent after the stream was closed.');
    },
  },
  test_sampling: {
    description: 'Asks the client for an LLM completion (sampling/createMessage)',
    inputSchema: {
      type: 'object',
      properties: { prompt: { type: 'string', description: 'The prompt to send to the LLM' } },
      required: ['prompt'],
    },
    call: async (args, extra, session) => {
      const reply = await session.ask(
        extra,
        {
          method: 'sampling/createMessage',
          params: {
            messages: [{ role: 'user', content: { type: 'text', text: String(args.prompt ?? '') } }],
            maxTokens: 100,
          },
        },
        CreateMessageResultSchema,
      );
      return text(`LLM response: ${reply.content?.text ?? JSON.stringify(reply.content)}`);
    },
  },
  test_elicitation: {
    description: 'Asks the user for a name and an email address (elicitation/create)',
    inputSchema: {
      type: 'object',
      properties: { message: { type: 'string', description: 'The message to show the user' } },
      required: ['message'],
    },
    call: (args, extra, session) =>
      elicit(session, extra, String(args.message ?? ''), {
        type: 'object',
        properties: {
          username: { type: 'string', description: "User's response" },
          email: { type: 'string', description: "User's email address" },
        },
        required: ['username', 'email'],
      }),
  },
  test_elicitation_sep1034_defaults: {
    description: 'Elicits a form whose every primitive field has a default (SEP-1034)',
    call: (_args, extra, session) =>
      elicit(session, extra, 'Please review the fields; each has a default', {
        type: 'object',
        properties: {
          name: { type: 'string', description: 'Name', default: 'John Doe' },
          age: { type: 'integer', description: 'Age', default: 30 },
          score: { type: 'number', description: 'Score', default: 95.5 },
          status: {
            type: 'string',
            description: 'Status',
            enum: ['active', 'inactive', 'pending'],
            default: 'active',
          },
          verified: { type: 'boolean', description: 'Verified', default: true },
        },
      }),
  },
  test_elicitation_sep1330_enums: {
    description: 'Elicits a form with the five enum shapes of SEP-1330',
    call: (_args, extra, session) =>
      elicit(session, extra, 'Please pick from each list', {
        type: 'object',
        properties: {
          untitledSingle: { type: 'string', enum: ['option1', 'option2', 'option3'] },
          titledSingle: {
            type: 'string',
            oneOf: [
              { const: 'value1', title: 'First Option' },
              { const: 'value2', title: 'Second Option' },
              { const: 'value3', title: 'Third Option' },
            ],
          },
          legacyEnum: {
            type: 'string',
            enum: ['opt1', 'opt2', 'opt3'],
            enumNames: ['Option One', 'Option Two', 'Option Three'],
          },
          untitledMulti: {
            type: 'array',
            items: { type: 'string', enum: ['option1', 'option2', 'option3'] },
          },
          titledMulti: {
            type: 'array',
            items: {
              anyOf: [
                { const: 'value1', title: 'First Choice' },
                { const: 'value2', title: 'Second Choice' },
                { const: 'value3', title: 'Third Choice' },
              ],
            },
          },
        },
      }),
  },
  json_schema_2020_12_tool: {
    description: 'Lists an input schema with JSON Schema 2020-12 keywords (SEP-1613)',
    inputSchema: {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'object',
      $defs: {
        address: {
          type: 'object',
          properties: { street: { type: 'string' }, city: { type: 'string' } },
        },
      },
      properties: { name: { type: 'string' }, address: { $ref: '#/$defs/address' } },
      additionalProperties: false,
    },
    call: (args) => text(`received ${JSON.stringify(args)}`),
  },
  server_name: {
    description: 'Answers the name this server was started with (--name)',
    call: () => text(options.name),
  },
};

async function elicit(session, extra, message, requestedSchema) {
  const reply = await session.ask(
    extra,
    { method: 'elicitation/create', params: { mode: 'form', message, requestedSchema } },
    ElicitResultSchema,
  );
  return text(
    `Elicitation completed: action=${reply.action}, content=${JSON.stringify(reply.content ?? {})}`,
  );
}

// ---- resources and prompts ---------------------------------------------------

const RESOURCES = [
  {
    uri: 'test://static-text',
    name: 'static-text',
    description: 'A fixed text resource',
    mimeType: 'text/plain',
    read: () => ({ text: 'This is the content of the static text resource.' }),
  },
  {
    uri: 'test://static-binary',
    name: 'static-binary',
    description: 'A fixed PNG image',
    mimeType: 'image/png',
    read: () => ({ blob: PNG }),
  },
  {
    uri: 'test://watched-resource',
    name: 'watched-resource',
    description: 'A resource clients may subscribe to',
    mimeType: 'text/plain',
    read: () => ({ text: 'Watched resource content' }),
  },
];
const TEMPLATE = {
  uriTemplate: 'test://template/{id}/data',
  name: 'template-data',
  description: 'JSON data for any id',
  mimeType: 'application/json',
};
const TEMPLATE_URI = /^test:\/\/template\/([^/]+)\/data$/;

const PROMPTS = {
  test_simple_prompt: {
    description: 'A prompt without arguments',
    get: () => [{ role: 'user', content: { type: 'text', text: 'This is a simple prompt for testing.' } }],
  },
  test_prompt_with_arguments: {
    description: 'A prompt with two arguments',
    arguments: [
      { name: 'arg1', description: 'First test argument', required: true },
      { name: 'arg2', description: 'Second test argument', required: true },
    ],
    get: (a) => [
      {
        role: 'user',
        content: { type: 'text', text: `Prompt with arguments: arg1='${a.arg1}', arg2='${a.arg2}'` },
      },
    ],
  },
  test_prompt_with_embedded_resource: {
    description: 'A prompt that embeds a resource',
    arguments: [{ name: 'resourceUri', description: 'URI of the resource to embed', required: true }],
    get: (a) => [
      {
        role: 'user',
        content: {
          type: 'resource',
          resource: {
            uri: a.resourceUri,
            mimeType: 'text/plain',
            text: 'Embedded resource content for testing.',
          },
        },
      },
      { role: 'user', content: { type: 'text', text: 'Please process the embedded resource above.' } },
    ],
  },
  test_prompt_with_image: {
    description: 'A prompt with an image',
    get: () => [
      { role: 'user', content: { type: 'image', data: PNG, mimeType: 'image/png' } },
      { role: 'user', content: { type: 'text', text: 'Please analyze the image above.' } },
    ],
  },
};

/** Completion candidates per prompt argument. */
const COMPLETIONS = {
  arg1: ['paris', 'park', 'party', 'test', 'testing'],
  arg2: ['world', 'wide', 'test'],
};

// ---- one MCP session ---------------------------------------------------------

/** The session's SDK server with every handler, and its resumption event store. */
function newSession() {
  const server = new Server(
    { name: options.name, version: '1.0.0' },
    {
      capabilities: {
        tools: { listChanged: true },
        resources: { subscribe: true, listChanged: true },
        prompts: { listChanged: true },
        logging: {},
        completions: {},
      },
    },
  );
  const subscriptions = new Set();
  const session = {
    server,
    /** A log message on the call's own stream, unless the level set filters it. */
    log: async (extra, level, data) => {
      if (server.isMessageIgnored(level, extra.sessionId)) return;
      await extra.sendNotification({
        method: 'notifications/message',
        params: { level, logger: options.name, data },
      });
    },
    /** A request to the client, on the GET stream or the call's stream (--server-requests). */
    ask: (extra, request, schema) =>
      SERVER_REQUESTS === 'related'
        ? extra.sendRequest(request, schema)
        : server.request(request, schema),
  };

  server.setRequestHandler(ListToolsRequestSchema, () => ({
    tools: Object.entries(TOOLS).map(([name, tool]) => ({
      name,
      description: tool.description,
      inputSchema: tool.inputSchema ?? NO_ARGUMENTS,
    })),
  }));
  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const tool = Object.hasOwn(TOOLS, request.params.name) ? TOOLS[request.params.name] : undefined;
    if (!tool) {
      throw new McpError(ErrorCode.InvalidParams, `unknown tool ${request.params.name}`);
    }
    try {
      return await tool.call(request.params.arguments ?? {}, extra, session);
    } catch (error) {
      return {
        isError: true,
        content: [{ type: 'text', text: `${request.params.name} failed: ${error.message}` }],
      };
    }
  });
  server.setRequestHandler(ListResourcesRequestSchema, () => ({
    resources: RESOURCES.map(({ read, ...listed }) => listed),
  }));
  server.setRequestHandler(ListResourceTemplatesRequestSchema, () => ({
    resourceTemplates: [TEMPLATE],
  }));
  server.setRequestHandler(ReadResourceRequestSchema, (request) => {
    const { uri } = request.params;
    const fixed = RESOURCES.find((r) => r.uri === uri);
    if (fixed) return { contents: [{ uri, mimeType: fixed.mimeType, ...fixed.read() }] };
    const templated = TEMPLATE_URI.exec(uri);
    if (templated) {
      const id = decodeURIComponent(templated[1]);
      const data = { id, templateTest: true, data: `Data for ID: ${id}` };
      return { contents: [{ uri, mimeType: TEMPLATE.mimeType, text: JSON.stringify(data) }] };
    }
    throw new McpError(-32002, `resource not found: ${uri}`, { uri });
  });
  server.setRequestHandler(SubscribeRequestSchema, (request) => {
    subscriptions.add(request.params.uri);
    return {};
  });
  server.setRequestHandler(UnsubscribeRequestSchema, (request) => {
    subscriptions.delete(request.params.uri);
    return {};
  });
  server.setRequestHandler(ListPromptsRequestSchema, () => ({
    prompts: Object.entries(PROMPTS).map(([name, p]) => ({
      name,
      description: p.description,
      ...(p.arguments && { arguments: p.arguments }),
    })),
  }));
  server.setRequestHandler(GetPromptRequestSchema, (request) => {
    const { name, arguments: args = {} } = request.params;
    const prompt = Object.hasOwn(PROMPTS, name) ? PROMPTS[name] : undefined;
    if (!prompt) throw new McpError(ErrorCode.InvalidParams, `unknown prompt ${name}`);
    const missing = (prompt.arguments ?? []).filter((a) => a.required && !(a.name in args));
    if (missing.length > 0) {
      throw new McpError(
        ErrorCode.InvalidParams,
        `prompt ${name} needs the arguments ${missing.map((a) => a.name).join(', ')}`,
      );
    }
    return { description: prompt.description, messages: prompt.get(args) };
  });
  server.setRequestHandler(CompleteRequestSchema, (request) => {
    const { ref, argument } = request.params;
    const candidates =
      ref.type === 'ref/prompt' && ref.name === 'test_prompt_with_arguments'
        ? (COMPLETIONS[argument.name] ?? [])
        : [];
    const values = candidates.filter((v) => v.startsWith(argument.value));
    return { completion: { values, total: values.length, hasMore: false } };
  });
  return session;
}

/** Events of one session for Last-Event-ID resumption: `{streamId}.{sequence}`. */
function newEventStore() {
  const events = new Map(); // eventId -> { streamId, sequence, message }
  let sequence = 0;
  return {
    async storeEvent(streamId, message) {
      sequence += 1;
      const eventId = `${streamId}.${sequence}`;
      events.set(eventId, { streamId, sequence, message });
      if (events.size > MAX_EVENTS) events.delete(events.keys().next().value);
      return eventId;
    },
    async getStreamIdForEventId(eventId) {
      return events.get(eventId)?.streamId;
    },
    async replayEventsAfter(lastEventId, { send }) {
      const last = events.get(lastEventId);
      if (!last) throw new Error(`unknown or expired event id ${lastEventId}`);
      for (const [eventId, event] of events) {
        const priming = Object.keys(event.message).length === 0;
        if (event.streamId === last.streamId && event.sequence > last.sequence && !priming) {
          await send(eventId, event.message);
        }
      }
      return last.streamId;
    },
  };
}

// ---- HTTP --------------------------------------------------------------------

const transports = new Map(); // Mcp-Session-Id -> StreamableHTTPServerTransport

function reply(res, status, code, message) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code, message } }));
}

/** The host name of a Host header or an Origin URL, without port; undefined if unreadable. */
function hostName(value, isOrigin) {
  try {
    return new URL(isOrigin ? value : `http://${value}`).hostname;
  } catch {
    return undefined;
  }
}

/** DNS-rebinding protection: Host (and Origin, when sent) must name this machine. */
function localRequest(req) {
  if (!LOCAL_HOSTS.has(hostName(req.headers.host ?? '', false))) return false;
  const origin = req.headers.origin;
  return origin === undefined || LOCAL_HOSTS.has(hostName(origin, true));
}

async function readJson(req, res) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY) {
      reply(res, 413, -32600, `request body over ${MAX_BODY} bytes`);
      return undefined;
    }
    chunks.push(chunk);
  }
  try {
    return { body: JSON.parse(Buffer.concat(chunks).toString('utf8')) };
  } catch (error) {
    reply(res, 400, -32700, `parse error: ${error.message}`);
    return undefined;
  }
}

/** One stderr line per request as it arrives: the order a gateway forwarded them in. */
function logArrival(req, sessionId, body) {
  const messages = Array.isArray(body) ? body : body === undefined ? [] : [body];
  const what = messages.map((m) => m?.method ?? (m?.id !== undefined ? `reply ${m.id}` : '?'));
  process.stderr.write(
    `${new Date().toISOString()} ${req.method} ${what.join(',') || '-'} session=${sessionId ?? '-'}\n`,
  );
}

async function handle(req, res) {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  if (path !== '/mcp') return reply(res, 404, -32600, `no endpoint at ${path}; the server is at /mcp`);
  if (!localRequest(req)) {
    return reply(res, 403, -32600, 'Host or Origin names another machine (DNS rebinding protection)');
  }
  if (!['POST', 'GET', 'DELETE'].includes(req.method)) {
    res.setHeader('allow', 'POST, GET, DELETE');
    return reply(res, 405, -32600, `${req.method} is not served; use POST, GET or DELETE`);
  }
  const sessionId = req.headers['mcp-session-id'];
  let parsed;
  if (req.method === 'POST') {
    parsed = await readJson(req, res);
    if (!parsed) return;
  }
  logArrival(req, sessionId, parsed?.body);
  if (sessionId !== undefined) {
    const transport = transports.get(sessionId);
    if (!transport) return reply(res, 404, -32001, 'session not found; send initialize again');
    return transport.handleRequest(req, res, parsed?.body);
  }
  if (req.method !== 'POST' || !isInitializeRequest(parsed.body)) {
    return reply(res, 400, -32600, 'no Mcp-Session-Id: send initialize first');
  }
  const transport = new StreamableHTTPServerTransport({
    sessionIdGenerator: randomUUID,
    eventStore: newEventStore(),
    retryInterval: RETRY_MS,
    onsessioninitialized: (id) => transports.set(id, transport),
  });
  transport.onclose = () => {
    if (transport.sessionId) transports.delete(transport.sessionId);
  };
  await newSession().server.connect(transport);
  return transport.handleRequest(req, res, parsed.body);
}

const httpServer = http.createServer((req, res) => {
  handle(req, res).catch((error) => {
    process.stderr.write(`server.mjs: ${req.method} ${req.url}: ${error.stack ?? error}\n`);
    if (!res.headersSent) reply(res, 500, -32603, 'internal error');
    else res.end();
  });
});
httpServer.listen(PORT, '127.0.0.1', () => {
  process.stdout.write(`listening on http://127.0.0.1:${httpServer.address().port}/mcp\n`);
});

async function stop() {
  await Promise.allSettled([...transports.values()].map((t) => t.close()));
  httpServer.close();
  httpServer.closeAllConnections();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
