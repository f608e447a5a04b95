import { createHash, sign, type KeyObject } from 'node:crypto';
import type http from 'node:http';
import { PUBLIC_URL } from './suite.js';

/** The message a check answer's signature covers, as docs/signed-answers.md spells it. */
export function answerMessage(method: string, target: string, date: string, nonce: string, body: Buffer): Buffer {
  const digest = createHash('sha256').update(body).digest('hex');
  return Buffer.from(`keyward-v1\n${method} ${target}\n${date}\n${nonce}\n${digest}`, 'utf8');
}

/**
 * The message a client endpoint's (version 2) signature covers, as docs/signed-answers.md spells it:
 * it binds the request body as well as the answer.
 */
export function answerMessageV2(method: string, target: string, date: string, nonce: string, requestBody: Buffer, body: Buffer): Buffer {
  const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');
  return Buffer.from(`keyward-v2\n${method} ${target}\n${date}\n${nonce}\n${sha(requestBody)}\n${sha(body)}`, 'utf8');
}

export interface FakeSignerOptions {
  /** The answer body; an AUTHORISED answer unless given. */
  body?: string;
  /** The time it signs at; now unless given. */
  clock?: () => number;
  /** How it writes the date; the genuine format (ISO 8601 to the second, `Z`) unless given. */
  formatDate?: (ms: number) => string;
  status?: number;
}

/** A stand-in server that signs its answers with its own `privateKey`, exactly as the real one signs. */
export function fakeSigner(privateKey: KeyObject, options: FakeSignerOptions = {}): http.RequestListener {
  const {
    body = JSON.stringify({ status: 'AUTHORISED', pass: true, details: `Authorisation completed - ${PUBLIC_URL}` }),
    clock = Date.now,
    formatDate = (ms) => `${new Date(ms).toISOString().slice(0, 19)}Z`,
    status = 200,
  } = options;
  return (req, res) => {
    req.resume();
    const bytes = Buffer.from(body);
    const date = formatDate(clock());
    const nonce = new URL(req.url!, 'http://x').searchParams.get('nonce') ?? '';
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'x-keyward-signature': sign(null, answerMessage(req.method!, req.url!, date, nonce, bytes), privateKey).toString('base64'),
      'x-keyward-key-id': 'stand-in',
      'x-keyward-date': date,
      connection: 'close',
    });
    res.end(bytes);
  };
}
