// Validate a license for this machine with Keyward's client endpoint, with nothing but Node.js (18+).
// Usage: node send-fingerprint.mjs <server URL> <product id> <license key> [fingerprint]
// Exit code: 0 pass, 1 refused, 3 no answer. (Verify the signature too: docs/signed-answers.md.)
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import os from 'node:os';

const [serverUrl, productId, licenseKey, givenFingerprint] = process.argv.slice(2);

// A fingerprint stays the same across restarts of this machine and differs between machines.
// /etc/machine-id (Linux) is that, but private: send a hash of it, salted with your product's name.
function machineFingerprint() {
  let id = '';
  try {
    id = readFileSync('/etc/machine-id', 'utf8').trim();
  } catch {
    id = `${os.hostname()}|${os.platform()}|${os.arch()}|${os.cpus()[0]?.model ?? ''}`;
  }
  return createHash('sha256').update(`my-product:${id}`).digest('hex'); // 64 printable characters
}

const response = await fetch(new URL('/api/license/validate', serverUrl), {
  method: 'POST',
  headers: { Authorization: licenseKey, 'Content-Type': 'application/json' },
  body: JSON.stringify({
    productId: Number(productId),
    fingerprint: givenFingerprint ?? machineFingerprint(),
    name: os.hostname(), // shown to the buyer and to staff next to the machine
    platform: os.platform(),
  }),
  redirect: 'error',
  signal: AbortSignal.timeout(10_000),
}).catch(() => null);
const answer = response && (await response.json().catch(() => null));
if (!answer) {
  console.log(JSON.stringify({ status: 'UNREACHABLE', pass: false }));
  process.exit(3);
}
// { status, pass, details, license: {…, maxMachines, machines}, machine: {id, fingerprint, …} | null }
console.log(JSON.stringify({ status: answer.status, pass: answer.pass === true, machine: answer.machine?.fingerprint ?? null, machines: answer.license?.machines ?? null }));
process.exit(answer.pass === true ? 0 : 1);
