// A real OAuth 2.0 authorization server for the gateway's resource-server
// tests: node-oidc-provider (pinned in package.json / package-lock.json)
// issuing JWT access tokens (RFC 9068) by the client-credentials grant, with
// resource indicators (RFC 8707): a token's `aud` is the `resource` asked for.
//
//   node server.mjs PORT CLIENTS_JSON
//
// PORT 0 picks a free one. CLIENTS_JSON is a list of
// {"client_id", "client_secret", "scope"}. The server listens on 127.0.0.1,
// prints `listening http://127.0.0.1:PORT` and serves until killed.
//
// Beside the provider's own routes, for the tests only:
//   GET  /_test/counts  how many times each path was requested ({"/jwks": 2, ...})
//   POST /_test/sign    {"header": {...}, "claims": {...}} signed with the
//                       provider's own key (RS256, kid of its JWKS unless the
//                       header names another): expired, not-yet-valid or
//                       foreign-issuer tokens that verify against the real JWKS.
import http from 'node:http';
import crypto from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.argv[2] ?? 0);
const clients = JSON.parse(process.argv[3] ?? '[]');
const KID = 'as-key-1';

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingJwk = { ...privateKey.export({ format: 'jwk' }), kid: KID, alg: 'RS256', use: 'sig' };

const counts = {};
const server = http.createServer();
await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;
const scopes = [...new Set(clients.flatMap((c) => (c.scope ?? '').split(' ').filter(Boolean)))];

const provider = new Provider(issuer, {
  clients: clients.map((c) => ({
    client_id: c.client_id,
    client_secret: c.client_secret,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
    ...(c.scope ? { scope: c.scope } : {}),
  })),
  jwks: { keys: [signingJwk] },
  scopes,
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: (_ctx, _client, oneOf) => oneOf,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, resource) => ({
        scope: scopes.join(' '),
        audience: resource,
        accessTokenTTL: 300,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
});
// Plain http on loopback: the provider's own checks would refuse it otherwise.
provider.proxy = true;

function b64url(data) {
  return Buffer.from(data).toString('base64url');
}

function sign(header, claims) {
  const head = { alg: 'RS256', typ: 'at+jwt', kid: KID, ...header };
  const input = `${b64url(JSON.stringify(head))}.${b64url(JSON.stringify(claims))}`;
  const signature = crypto.sign('RSA-SHA256', Buffer.from(input), privateKey);
  return `${input}.${signature.toString('base64url')}`;
}

const callback = provider.callback();
server.on('request', (req, res) => {
  const path = req.url.split('?')[0];
  counts[path] = (counts[path] ?? 0) + 1;
  if (path === '/_test/counts') {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(counts));
    return;
  }
  if (path === '/_test/sign' && req.method === 'POST') {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      const { header, claims } = JSON.parse(body);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ token: sign(header ?? {}, claims ?? {}) }));
    });
    return;
  }
  callback(req, res);
});
console.log(`listening ${issuer}`);
