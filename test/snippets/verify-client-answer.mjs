// Call a Keyward client endpoint and verify its version 2 signature, with nothing but Node.js (18+).
// Usage: node verify-client-answer.mjs <server URL> <validate|activate|deactivate|heartbeat> <product id> <license key> <public key, raw base64> [fingerprint]
// Exit code: 0 verified and pass, 1 verified and refused, 2 the answer cannot be trusted.
import { createHash, createPublicKey, randomBytes, verify } from 'node:crypto';

const [serverUrl, endpoint, productId, licenseKey, publicKeyBase64, fingerprint] = process.argv.slice(2);

// The public key from `keyward keys show` (raw base64): pin it in your product.
const publicKey = createPublicKey({
  key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKeyBase64, 'base64').toString('base64url') },
  format: 'jwk',
});
const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

function untrusted(reason) {
  console.log(JSON.stringify({ verified: false, reason }));
  process.exit(2);
}

// A fresh random nonce per call, in the body: a recorded answer cannot be replayed to it.
const nonce = randomBytes(18).toString('base64url');
// Keep the exact bytes you send: their hash is in the signed message.
const request = Buffer.from(JSON.stringify({ productId: Number(productId), fingerprint, nonce }), 'utf8');
const target = `/api/license/${endpoint}`;
const response = await fetch(new URL(target, serverUrl), {
  method: 'POST',
  headers: { Authorization: licenseKey, 'Content-Type': 'application/json' },
  body: request,
  redirect: 'error',
  signal: AbortSignal.timeout(10_000),
});
const body = Buffer.from(await response.arrayBuffer()); // the exact bytes, before any parsing
const signature = response.headers.get('x-keyward-signature');
const date = response.headers.get('x-keyward-date');
if (!signature || !date) untrusted('the answer is not signed');

// The date: whole-second ISO UTC, within 5 minutes of this machine's clock.
if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/.test(date) || Math.abs(Date.now() - Date.parse(date)) > 5 * 60_000) {
  untrusted('the answer is too old, from the future, or has no valid date');
}

// keyward-v2 \n METHOD target \n date \n nonce \n sha256(request body) \n sha256(answer body), hashes in lowercase hex
const message = Buffer.from(`keyward-v2\nPOST ${target}\n${date}\n${nonce}\n${sha256(request)}\n${sha256(body)}`, 'utf8');
if (!verify(null, message, publicKey, Buffer.from(signature, 'base64'))) untrusted('the signature does not verify');

// Only now is the body worth reading. It answers this request: this product, this fingerprint.
const answer = JSON.parse(body.toString('utf8'));
console.log(JSON.stringify({ verified: true, status: answer.status, pass: answer.pass === true, machine: answer.machine?.fingerprint ?? null }));
process.exit(answer.pass === true ? 0 : 1);
