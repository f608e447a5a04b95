import { validateLicense, type CheckStatus, type LicenseSnapshot } from './validate-license.js';

export interface CheckRequest {
  /** Product ids in the caller's order (one for the single check). */
  productIds: readonly number[];
  key: string | null;
  ip: string;
  info: string | null;
  log: boolean;
  userAgent: string | null;
}

/** `reason` tells the two kinds of NOT FOUND apart (their details differ; their status does not). */
export interface CheckResult {
  status: CheckStatus;
  reason?: 'product' | 'key';
  /** The product that decided the answer, when the key grants one of the asked products. */
  productId: number | null;
  expiresAt?: number;
}

/** Where the checker reads licenses and products from: in practice a cache over the database. */
export interface LicenseSource {
  productIds(): ReadonlySet<number> | Promise<ReadonlySet<number>>;
  findByKey(key: string): LicenseSnapshot | null | Promise<LicenseSnapshot | null>;
  /** Records the first caller's IP on a locked license with an empty allow-list. */
  bindIp(license: LicenseSnapshot, ip: string): void;
}

export interface CheckRecord {
  time: number;
  licenseId: number | null;
  productId: number | null;
  ip: string;
  status: CheckStatus;
  info: string | null;
  userAgent: string | null;
}

/** Where the checker sends its side effects; it never waits for them. */
export interface CheckRecorder {
  record(entry: CheckRecord, log: boolean): void;
}

/** Runs one license check in the order of docs/check-api.md and hands its side effects to the recorder. */
export class LicenseChecker {
  constructor(
    private readonly source: LicenseSource,
    private readonly recorder: CheckRecorder,
    private readonly clock: () => number = Date.now,
  ) {}

  /**
   * Answers synchronously when the products and the license are cached (the common case), and
   * with a promise only when the source has to read the database: no promise per check otherwise.
   */
  check(req: CheckRequest): CheckResult | Promise<CheckResult> {
    const now = this.clock();
    const known = this.source.productIds();
    return known instanceof Promise ? known.then((k) => this.withProducts(req, now, k)) : this.withProducts(req, now, known);
  }

  private withProducts(req: CheckRequest, now: number, known: ReadonlySet<number>): CheckResult | Promise<CheckResult> {
    const asked = req.productIds.filter((id) => known.has(id));
    if (asked.length === 0) return this.finish(req, now, asked, null, { status: 'NOT FOUND', reason: 'product', productId: null });
    if (!req.key) return this.finish(req, now, asked, null, NO_KEY);
    const found = this.source.findByKey(req.key);
    return found instanceof Promise
      ? found.then((license) => this.withLicense(req, now, asked, license))
      : this.withLicense(req, now, asked, found);
  }

  private withLicense(req: CheckRequest, now: number, asked: number[], license: LicenseSnapshot | null): CheckResult {
    return this.finish(req, now, asked, license, license ? this.decide(license, asked, req.ip, now) : NO_KEY);
  }

  private finish(req: CheckRequest, now: number, asked: number[], license: LicenseSnapshot | null, result: CheckResult): CheckResult {
    this.recorder.record(
      {
        time: now,
        licenseId: license?.id ?? null,
        productId: result.productId ?? asked[0] ?? req.productIds[0] ?? null,
        ip: req.ip,
        status: result.status,
        info: req.info,
        userAgent: req.userAgent,
      },
      req.log,
    );
    return result;
  }

  /**
   * docs/check-api.md: the first AUTHORISED product in order wins, else the first granted product's failure.
   * A license's outcome does not depend on the product, so the first granted product decides.
   */
  private decide(license: LicenseSnapshot, asked: readonly number[], ip: string, now: number): CheckResult {
    const productId = asked.find((id) => license.productIds.includes(id));
    // A key that exists but grants none of the asked products looks exactly like an unknown key.
    if (productId === undefined) return NO_KEY;
    const outcome = validateLicense(license, ip, now);
    if (outcome.status === 'AUTHORISED' && outcome.bindIp) this.source.bindIp(license, outcome.bindIp);
    if (outcome.status === 'EXPIRED') return { status: 'EXPIRED', productId, expiresAt: outcome.expiresAt };
    return { status: outcome.status, productId };
  }
}

const NO_KEY: CheckResult = Object.freeze({ status: 'NOT FOUND', reason: 'key', productId: null });
