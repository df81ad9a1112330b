// A real OpenID Provider (npm oidc-provider 9) standing in for Cognito/Keycloak/Dex in skiff's
// login tests. Listens on https://127.0.0.1:<port 0>, prints "ready <port>", then reads one JSON
// line on stdin with the client's redirect and post-logout URIs (skiff's port is known only
// after this peer is up), configures the provider and prints "configured". Exits when stdin
// closes.
//
// argv[2]: JSON {key, cert (PEM file paths), clientId, clientSecret, accounts: {id: claims}}
import fs from 'node:fs';
import https from 'node:https';
import readline from 'node:readline';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

// ESM does not search NODE_PATH: import the peer from SKIFF_PEERS_DIR (tests/peers).
const peers = process.env.SKIFF_PEERS_DIR;
const { default: Provider } = await import(
  pathToFileURL(path.join(peers, 'node_modules/oidc-provider/lib/index.js')).href);

const cfg = JSON.parse(process.argv[2]);
const server = https.createServer({
  key: fs.readFileSync(cfg.key),
  cert: fs.readFileSync(cfg.cert),
});
let handler = (req, res) => {
  res.statusCode = 503;
  res.end('not configured\n');
};
server.on('request', (req, res) => handler(req, res));

server.listen(0, '127.0.0.1', () => {
  const port = server.address().port;
  console.log(`ready ${port}`);
  const rl = readline.createInterface({ input: process.stdin });
  let configured = false;
  rl.on('line', (line) => {
    if (configured) return;
    configured = true;
    const uris = JSON.parse(line);
    const issuer = `https://127.0.0.1:${port}`;
    const provider = new Provider(issuer, {
      clients: [{
        client_id: cfg.clientId,
        client_secret: cfg.clientSecret,
        redirect_uris: uris.redirect_uris,
        post_logout_redirect_uris: uris.post_logout_redirect_uris,
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['authorization_code'],
        response_types: ['code'],
      }],
      pkce: { required: () => true },
      conformIdTokenClaims: false,
      scopes: ['openid', 'email', 'profile', 'groups'],
      claims: {
        openid: ['sub'],
        email: ['email', 'email_verified'],
        profile: ['name'],
        groups: ['groups'],
      },
      findAccount: async (ctx, id) => {
        const claims = cfg.accounts[id];
        if (!claims) return undefined;
        return { accountId: id, claims: async () => ({ sub: id, ...claims }) };
      },
      features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
      cookies: { keys: ['skiff-test-cookie-key'] },
    });
    provider.on('server_error', (ctx, err) => console.error('server_error', err));
    handler = provider.callback();
    console.log('configured');
  });
  rl.on('close', () => process.exit(0));
});
