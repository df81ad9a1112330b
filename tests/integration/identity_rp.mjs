// A real OpenID relying party (npm openid-client 6 + jose 6) against skiff's built-in identity
// provider: discovery, authorization code + PKCE (S256) with state and nonce, the HTML login
// form submitted like a browser (cookies carried), code exchange, ID token verification with
// jose against the provider's JWKS, refresh (rotation: the old token must then fail), userinfo.
// Run by tests/integration/test_identity.py with SKIFF_PEERS_DIR set and, for https issuers,
// NODE_EXTRA_CA_CERTS pointing at skiff's CA.
//
// argv[2]: JSON {issuer, clientId, clientSecret (optional: confidential client, Basic auth),
//                redirectUri, email, password, replay (replay the code at the end)}
// stdout: one JSON object with what the test checks.
import path from 'node:path';
import { pathToFileURL } from 'node:url';

// ESM does not search NODE_PATH: import the peers from SKIFF_PEERS_DIR (tests/peers).
const peers = process.env.SKIFF_PEERS_DIR;
const client = await import(
  pathToFileURL(path.join(peers, 'node_modules/openid-client/build/index.js')).href);
const jose = await import(
  pathToFileURL(path.join(peers, 'node_modules/jose/dist/webapi/index.js')).href);

const cfg = JSON.parse(process.argv[2]);
const issuer = new URL(cfg.issuer);
const insecure = issuer.protocol === 'http:';
const auth = cfg.clientSecret ? client.ClientSecretBasic(cfg.clientSecret) : client.None();
const config = await client.discovery(issuer, cfg.clientId, undefined, auth,
  insecure ? { execute: [client.allowInsecureRequests] } : undefined);

const verifier = client.randomPKCECodeVerifier();
const challenge = await client.calculatePKCECodeChallenge(verifier);
const state = client.randomState();
const nonce = client.randomNonce();
const authUrl = client.buildAuthorizationUrl(config, {
  redirect_uri: cfg.redirectUri,
  scope: 'openid email profile groups offline_access',
  code_challenge: challenge,
  code_challenge_method: 'S256',
  state,
  nonce,
});

// The browser part: GET the login page, keep its cookie, post the form.
const page = await fetch(authUrl, { redirect: 'manual' });
const html = await page.text();
if (page.status !== 200) throw new Error(`login page: ${page.status} ${html}`);
const cookie = (page.headers.get('set-cookie') || '').split(';')[0];
const field = (name) => {
  const m = html.match(new RegExp(`name="${name}" value="([^"]*)"`));
  if (!m) throw new Error(`no ${name} field in the login page`);
  return m[1];
};
const action = html.match(/<form method="post" action="([^"]+)"/)[1];
const postForm = (password) => fetch(new URL(action, authUrl), {
  method: 'POST',
  redirect: 'manual',
  headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
  body: new URLSearchParams({
    req: field('req'), csrf: field('csrf'), login: cfg.email, password,
  }).toString(),
});
const wrong = await postForm('not-the-password');
const wrongStatus = wrong.status;
await wrong.text();
const done = await postForm(cfg.password);
await done.text();
if (done.status !== 303) throw new Error(`login post: ${done.status}`);
const callback = new URL(done.headers.get('location'));

const tokens = await client.authorizationCodeGrant(config, callback, {
  pkceCodeVerifier: verifier,
  expectedState: state,
  expectedNonce: nonce,
  idTokenExpected: true,
});
const claims = tokens.claims();

// jose verifies the ID token against the published JWKS, with issuer and audience.
const jwks = jose.createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri));
const verified = await jose.jwtVerify(tokens.id_token, jwks, {
  issuer: cfg.issuer,
  audience: cfg.clientId,
});

const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
let oldRefreshError = null;
try {
  await client.refreshTokenGrant(config, tokens.refresh_token);
} catch (e) {
  oldRefreshError = e.error || e.code || String(e);
}
const userinfo = await client.fetchUserInfo(config, refreshed.access_token, claims.sub);

// A replayed code is refused (and, RFC 6749 4.1.2, revokes the refresh tokens issued from it).
let replayError = null;
if (cfg.replay) try {
  await client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce,
  });
} catch (e) {
  replayError = e.error || e.code || String(e);
}

console.log(JSON.stringify({
  wrongStatus,
  callbackState: callback.searchParams.get('state'),
  claims,
  verifiedHeader: verified.protectedHeader,
  refreshedClaims: refreshed.claims(),
  refreshRotated: refreshed.refresh_token !== tokens.refresh_token,
  refreshToken: refreshed.refresh_token,
  oldRefreshError,
  userinfo,
  replayError,
  accessToken: tokens.access_token,
  idToken: tokens.id_token,
}));
