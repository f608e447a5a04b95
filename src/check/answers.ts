import type { CheckResult } from '../licensing/check-license.js';
import { isPassing, type CheckStatus } from '../licensing/validate-license.js';

/** The answer bodies of docs/check-api.md, built once per PUBLIC_URL so a check only picks one. */
export interface Answers {
  single(result: CheckResult): string;
  multiple(result: CheckResult): string;
  v1(result: CheckResult): string;
  tooLarge: string;
  rateLimited: string;
  unknownRoute: string;
  badRequest: string;
  unavailable: string;
  /** The `details` of a result (client endpoints add their own fields around it). */
  details(result: CheckResult): string;
  /** `INVALID INPUT` naming what was wrong (client endpoints). */
  invalid(problem: string): string;
}

type Fixed = Exclude<CheckStatus, 'EXPIRED'>;

export function buildAnswers(publicUrl: string): Answers {
  const tail = ` - ${publicUrl}`;
  const body = (status: string, pass: boolean, details: string) => JSON.stringify({ status, pass, details });
  const details: Record<Fixed | 'NOT FOUND product', string> = {
    AUTHORISED: `Authorisation completed${tail}`,
    'NOT FOUND': `The license key was not found${tail}`,
    'NOT FOUND product': `The product could not be found${tail}`,
    'KEY DISABLED': `This license key has been disabled by staff${tail}`,
    'NOT ACTIVE': `This license key is not active, its owner must re-activate it on the license dashboard${tail}`,
    'NOT AUTHORISED': `This IP address is not authorised for this license key${tail}`,
    'FINGERPRINT REQUIRED': `This license key runs only on activated machines; send this machine's fingerprint${tail}`,
    'NOT ACTIVATED': `This machine is not activated for this license key${tail}`,
    'TOO MANY MACHINES': `This license key is active on as many machines as it allows; free one on the license dashboard${tail}`,
    ACTIVATED: `Machine activated${tail}`,
    'ALREADY ACTIVATED': `This machine is already activated${tail}`,
    DEACTIVATED: `Machine deactivated${tail}`,
    'DEACTIVATION LIMIT': `This license key has freed as many machines as it may today; try again tomorrow${tail}`,
    ALIVE: `Heartbeat received${tail}`,
    'ENTITLEMENT MISSING': `This license key does not grant a feature this product asked for${tail}`,
    OK: `Usage recorded${tail}`,
    'USAGE EXCEEDED': `This license key has reached its usage limit; nothing was counted${tail}`,
    ISSUED: `License file issued${tail}`,
    'FILE NOT ALLOWED': `This license key cannot have license files: keys identified by IP, and keys shorter than 20 characters, get none${tail}`,
    'INVALID INPUT': `The request holds an invalid value${tail}`,
  };
  const detailsOf = (r: CheckResult): string => {
    if (r.status === 'EXPIRED') return `This license key expired on ${new Date(r.expiresAt ?? 0).toISOString()}${tail}`;
    if (r.status === 'NOT FOUND' && r.reason === 'product') return details['NOT FOUND product'];
    return details[r.status];
  };
  const single = new Map<string, string>();
  for (const [name, text] of Object.entries(details)) {
    const status = name.replace(' product', '');
    single.set(name, body(status, isPassing(status), text));
  }
  const v1NotFound = body('NOT FOUND', false, `The supplied license key was not found. Please check your auth key is correct${tail}`);
  const v1Ok = body('OK', true, 'Authorisation completed!');
  return {
    single: (r) =>
      r.status === 'EXPIRED'
        ? body(r.status, false, detailsOf(r))
        : single.get(r.status === 'NOT FOUND' && r.reason === 'product' ? 'NOT FOUND product' : r.status)!,
    multiple: (r) =>
      JSON.stringify(
        r.productId === null
          ? { status: r.status, pass: isPassing(r.status), details: detailsOf(r) }
          : { status: r.status, pass: isPassing(r.status), details: detailsOf(r), proId: r.productId },
      ),
    v1: (r) => {
      if (r.status === 'AUTHORISED') return v1Ok;
      if (r.status === 'NOT FOUND' && r.reason !== 'product') return v1NotFound;
      return body(r.status, false, detailsOf(r));
    },
    tooLarge: body('PAYLOAD TOO LARGE', false, `The request body is too large${tail}`),
    rateLimited: body('RATE LIMITED', false, `Too many failed license checks from this IP address, try again later${tail}`),
    unknownRoute: body('NOT FOUND', false, `Unknown endpoint; license checks go to /api/check/PRODUCT_ID${tail}`),
    badRequest: body('BAD REQUEST', false, `The request could not be read${tail}`),
    unavailable: body('ERROR', false, `The license server could not complete the check, please retry${tail}`),
    details: detailsOf,
    invalid: (problem) => `${problem}${tail}`,
  };
}
