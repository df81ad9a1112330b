// Interop peer for skiff's JOSE tests: the npm `jose` library (tests/peers) signs tokens that
// skiff verifies, and verifies tokens that skiff signs. Run by tests/unit/auth/*_test.cpp with
// SKIFF_PEERS_DIR set.
//
//   node jose_interop.mjs sign     -> {"jwks": {...}, "tokens": {"RS256": "...", ...}}
//   node jose_interop.mjs verify   (stdin {"jwks", "tokens", "issuer", "audience"})
//                                  -> {"RS256": "ok" | "error: ...", ...}
import { pathToFileURL } from 'node:url';

const peers = process.env.SKIFF_PEERS_DIR;
if (!peers) {
  console.error('SKIFF_PEERS_DIR is not set');
  process.exit(2);
}
const jose = await import(pathToFileURL(`${peers}/node_modules/jose/dist/webapi/index.js`).href);

const ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512'];
const ISSUER = 'https://issuer.test';
const AUDIENCE = 'skiff';

async function readStdin() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}

async function sign() {
  const keys = [];
  const tokens = {};
  const now = Math.floor(Date.now() / 1000);
  for (const alg of ALGS) {
    const { publicKey, privateKey } = await jose.generateKeyPair(alg, { extractable: true });
    const jwk = await jose.exportJWK(publicKey);
    jwk.kid = `node-${alg}`;
    jwk.alg = alg;
    jwk.use = 'sig';
    keys.push(jwk);
    tokens[alg] = await new jose.SignJWT({ sub: 'alice', email: 'alice@example.com', groups: ['a'] })
      .setProtectedHeader({ alg, kid: jwk.kid, typ: 'JWT' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt(now)
      .setExpirationTime(now + 600)
      .sign(privateKey);
  }
  return { jwks: { keys }, tokens };
}

async function verify(input) {
  const set = jose.createLocalJWKSet(input.jwks);
  const out = {};
  for (const [alg, token] of Object.entries(input.tokens)) {
    try {
      const { payload } = await jose.jwtVerify(token, set, {
        issuer: input.issuer ?? ISSUER,
        audience: input.audience ?? AUDIENCE,
        algorithms: [alg],
      });
      out[alg] = payload.sub === 'alice' ? 'ok' : `error: sub ${payload.sub}`;
    } catch (e) {
      out[alg] = `error: ${e.code ?? ''} ${e.message}`;
    }
  }
  return out;
}

const cmd = process.argv[2];
let result;
if (cmd === 'sign') {
  result = await sign();
} else if (cmd === 'verify') {
  result = await verify(JSON.parse(await readStdin()));
} else {
  console.error(`unknown command ${cmd}`);
  process.exit(2);
}
process.stdout.write(JSON.stringify(result));
