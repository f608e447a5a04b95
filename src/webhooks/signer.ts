import { createHmac, timingSafeEqual } from 'node:crypto';

/** The headers every delivery carries (documented in docs/api.md#webhooks). */
export const HEADERS = {
  event: 'x-keyward-event',
  delivery: 'x-keyward-delivery',
  timestamp: 'x-keyward-timestamp',
  signature: 'x-keyward-webhook-signature',
} as const;

/**
 * `v1=` + lowercase hex HMAC-SHA256, keyed with the endpoint's secret, of
 * `<X-Keyward-Timestamp> + "." + <raw body>`. The timestamp (Unix seconds) is signed too, so a
 * receiver can refuse old, replayed deliveries.
 */
export function sign(secret: string, timestamp: number, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`, 'utf8').digest('hex')}`;
}

/** The receiver's check: the signature matches and the timestamp is within `toleranceSeconds`. */
export function verify(
  secret: string,
  headers: { timestamp: string | undefined; signature: string | undefined },
  body: string,
  toleranceSeconds = 300,
  now = Date.now(),
): boolean {
  const timestamp = Number(headers.timestamp);
  if (!Number.isInteger(timestamp) || Math.abs(now / 1000 - timestamp) > toleranceSeconds) return false;
  const expected = Buffer.from(sign(secret, timestamp, body));
  // Several signatures may be sent while a secret is rotated: any one may match.
  return (headers.signature ?? '').split(/[ ,]+/).some((candidate) => {
    const given = Buffer.from(candidate);
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}
