import { createHash, sign, type KeyObject } from 'node:crypto';

export interface SigningKey {
  id: string;
  privateKey: KeyObject;
}

export interface Signature {
  signature: string;
  keyId: string;
  date: string;
}

const CACHE_MAX = 10_000;

/**
 * Signs check answers (docs/signed-answers.md) with Ed25519 over
 * `keyward-v1\n<METHOD> <target>\n<date>\n<nonce>\n<sha256 hex of body>`.
 * Signing costs far more than a check, so an answer without a nonce reuses the signature of an
 * identical (method, target, date, body) answer from the same second; a nonce is always signed afresh.
 */
export class AnswerSigner {
  private second = '';
  /**
   * Signatures of this second by method, target and body: nested maps, so a lookup hashes the
   * request target and reuses the answer body's cached string hash instead of building a key.
   */
  private cache = new Map<string, Map<string, Map<string, string>>>();
  private cached = 0;

  constructor(
    private key: SigningKey,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Switches to another current key (after a rotation); cached signatures of the old one are dropped. */
  setKey(key: SigningKey): void {
    this.key = key;
    this.clear();
  }

  get keyId(): string {
    return this.key.id;
  }

  sign(method: string, target: string, nonce: string | null, body: string): Signature {
    const date = isoSecond(this.clock());
    if (date !== this.second) {
      this.second = date;
      this.clear();
    }
    const { id, privateKey } = this.key;
    if (nonce) return { signature: signMessage(privateKey, method, target, date, nonce, body), keyId: id, date };
    let byTarget = this.cache.get(method);
    if (byTarget === undefined) this.cache.set(method, (byTarget = new Map()));
    let byBody = byTarget.get(target);
    let signature = byBody?.get(body);
    if (signature === undefined) {
      signature = signMessage(privateKey, method, target, date, '', body);
      if (this.cached < CACHE_MAX) {
        if (byBody === undefined) byTarget.set(target, (byBody = new Map()));
        byBody.set(body, signature);
        this.cached++;
      }
    }
    return { signature, keyId: id, date };
  }

  /**
   * Signs a client endpoint's answer (docs/signed-answers.md, version 2): the message binds the
   * request body as well as the answer, so no proxy can change what was asked. Always signed afresh.
   */
  signV2(method: string, target: string, nonce: string | null, request: Buffer | string, body: string): Signature {
    const date = isoSecond(this.clock());
    const message = signedMessageV2(method, target, date, nonce ?? '', request, body);
    return { signature: sign(null, Buffer.from(message, 'utf8'), this.key.privateKey).toString('base64'), keyId: this.key.id, date };
  }

  private clear(): void {
    this.cache = new Map();
    this.cached = 0;
  }
}

/** The exact text that is signed; clients rebuild it to verify. */
export function signedMessage(method: string, target: string, date: string, nonce: string, body: string | Buffer): string {
  const digest = createHash('sha256').update(body).digest('hex');
  return `keyward-v1\n${method} ${target}\n${date}\n${nonce}\n${digest}`;
}

/** The exact text a version 2 signature covers; clients rebuild it to verify. */
export function signedMessageV2(method: string, target: string, date: string, nonce: string, request: string | Buffer, body: string | Buffer): string {
  const sha = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
  return `keyward-v2\n${method} ${target}\n${date}\n${nonce}\n${sha(request)}\n${sha(body)}`;
}

function signMessage(key: KeyObject, method: string, target: string, date: string, nonce: string, body: string): string {
  return sign(null, Buffer.from(signedMessage(method, target, date, nonce, body), 'utf8'), key).toString('base64');
}

let lastSecond = -1;
let lastText = '';

/** ISO 8601 UTC with whole seconds: 2026-11-27T03:58:18Z (formatted once per second). */
export function isoSecond(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second !== lastSecond) {
    lastSecond = second;
    lastText = `${new Date(second * 1000).toISOString().slice(0, 19)}Z`;
  }
  return lastText;
}
