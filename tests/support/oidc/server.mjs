// A real OAuth 2.0 / OpenID Connect authorization server for cadenced's
// tests: npm's oidc-provider, on plain HTTP at http://127.0.0.1:PORT, its
// state in memory (one process per test).
//
//   node server.mjs PORT        (or PORT=... node server.mjs)
//
// Environment:
//   ACCESS_TTL   access-token lifetime in seconds (default 60)
//
// Prints `listening http://127.0.0.1:PORT` on stdout once it accepts
// connections. See tests/support/oauth.rs for the Rust side.

import * as http from 'node:http';

import Provider from 'oidc-provider';

const port = Number(process.argv[2] ?? process.env.PORT);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error('usage: node server.mjs PORT');
  process.exit(2);
}
const accessTtl = Number(process.env.ACCESS_TTL ?? 60);
const issuer = `http://127.0.0.1:${port}`;

// The scope an access token needs for Dovecot (IMAP and submission).
const MAIL_SCOPE = 'mail';

const provider = new Provider(issuer, {
  clients: [
    {
      // The product: a public native client (RFC 8252). Its loopback redirect
      // URI matches any port: oidc-provider ignores the port of a loopback
      // http redirect URI for clients with application_type "native".
      client_id: 'cadenced-test',
      client_name: 'cadenced',
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
      response_types: ['code'],
      redirect_uris: ['http://127.0.0.1/callback'],
    },
    {
      // Dovecot, which introspects the access tokens it is given.
      client_id: 'dovecot',
      client_secret: 'dovecot-secret',
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: [],
      response_types: [],
      redirect_uris: [],
    },
  ],
  scopes: ['openid', 'email', 'offline_access', MAIL_SCOPE],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
  },
  // Whatever login is typed on the dev login page is the account (sub), and its email.
  async findAccount(_ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        return { sub, email: sub, email_verified: true };
      },
    };
  },
  features: {
    devInteractions: { enabled: true },
    deviceFlow: { enabled: true },
    revocation: { enabled: true },
    introspection: {
      enabled: true,
      // Dovecot learns only of access tokens (a refresh token is "active":
      // false to it); it checks the `mail` scope itself. Any client may
      // introspect its own tokens.
      async allowedPolicy(ctx, client, token) {
        if (client.clientId === 'dovecot') {
          return token.kind === 'AccessToken';
        }
        return token.clientId === client.clientId;
      },
    },
  },
  // PKCE (S256, the only method oidc-provider 9 knows) for every authorization request.
  pkce: { required: () => true },
  // A refresh token whenever offline_access was granted (the default; stated
  // for the reader). The device flow keeps offline_access as is; an /auth
  // request keeps it only without `prompt` or with `prompt=consent`.
  async issueRefreshToken(_ctx, client, code) {
    return client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access');
  },
  // Every refresh rotates the refresh token; presenting a rotated one again
  // revokes the whole grant (all its tokens) and answers invalid_grant.
  rotateRefreshToken: true,
  // Revoking any token at /token/revocation revokes its whole grant.
  revokeGrantPolicy: () => true,
  ttl: {
    AccessToken: accessTtl,
    AuthorizationCode: 60,
    DeviceCode: 600,
    IdToken: 3600,
    Interaction: 3600,
    RefreshToken: 14 * 24 * 3600,
    Session: 14 * 24 * 3600,
    Grant: 14 * 24 * 3600,
  },
  cookies: { keys: ['cadenced-test-cookie-key-0123456789'] },
  // Errors as the client sent them, on stderr, for the test's diagnostics.
  renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = `<!DOCTYPE html><html><head><title>oops! something went wrong</title></head><body>
<h1>oops! something went wrong</h1><pre id="error">${Object.entries(out)
      .map(([k, v]) => `${k}: ${String(v).replace(/[<>&]/g, '')}`)
      .join('\n')}</pre></body></html>`;
  },
});

provider.on('server_error', (_ctx, err) => console.error('server_error', err));
for (const event of ['grant.error', 'introspection.error', 'revocation.error', 'device_authorization.error', 'authorization.error']) {
  provider.on(event, (_ctx, err) => console.error(event, err.error ?? '', err.error_description ?? err.message));
}

const server = http.createServer(provider.callback());
server.listen(port, '127.0.0.1', () => {
  console.log(`listening ${issuer}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => process.exit(0));
}
