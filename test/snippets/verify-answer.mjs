// Check a license with Keyward and verify the signed answer, with nothing but Node.js (18+).
// Usage: node verify-answer.mjs <server URL> <product id, or ids: 8,16> <license key> <public key, raw base64>
// Exit code: 0 verified and pass, 1 verified and refused, 2 the answer cannot be trusted.
import { createHash, createPublicKey, randomBytes, verify } from 'node:crypto';

const [serverUrl, productIds, licenseKey, publicKeyBase64] = process.argv.slice(2);
// One product id: the single check. Several (8,16): the multiple check, the first one granted decides.
const asked = productIds.split(',').map(Number);

// The public key from `keyward keys show` (raw base64): pin it in your product.
const publicKey = createPublicKey({
  key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKeyBase64, 'base64').toString('base64url') },
  format: 'jwk',
});

function untrusted(reason) {
  console.log(JSON.stringify({ verified: false, reason }));
  process.exit(2);
}

// A fresh random nonce per check: a recorded answer cannot be replayed to it.
const nonce = randomBytes(18).toString('base64url');
const target =
  asked.length === 1
    ? `/api/check/${asked[0]}?nonce=${nonce}`
    : `/api/check/multiple?proIds=${asked.join(',')}&nonce=${nonce}`;
const response = await fetch(new URL(target, serverUrl), {
  method: 'POST',
  headers: { Authorization: licenseKey },
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

// keyward-v1 \n METHOD target \n date \n nonce \n sha256(body) in lowercase hex
const digest = createHash('sha256').update(body).digest('hex');
const message = Buffer.from(`keyward-v1\nPOST ${target}\n${date}\n${nonce}\n${digest}`, 'utf8');
if (!verify(null, message, publicKey, Buffer.from(signature, 'base64'))) untrusted('the signature does not verify');

// Only now is the body worth reading.
const answer = JSON.parse(body.toString('utf8'));

// The signature does not cover the request body, and a body's proIds win over the query's: a proxy can
// get a genuine answer about another product. A multiple answer must name a product this check asked for.
if (asked.length > 1 && !asked.includes(answer.proId) && (answer.pass === true || answer.proId != null)) {
  untrusted('the answer is about a product this check did not ask for');
}
console.log(JSON.stringify({ verified: true, status: answer.status, pass: answer.pass === true, proId: answer.proId }));
process.exit(answer.pass === true ? 0 : 1);
