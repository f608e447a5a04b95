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

/** Runs one license check in SPEC order and hands its side effects to the recorder. */
export class LicenseChecker {
  constructor(
    private readonly source: LicenseSource,
    private readonly recorder: CheckRecorder,
    private readonly clock: () => number = Date.now,
  ) {}

  async check(req: CheckRequest): Promise<CheckResult> {
    const now = this.clock();
    const known = await this.source.productIds();
    const asked = req.productIds.filter((id) => known.has(id));
    let license: LicenseSnapshot | null = null;
    let result: CheckResult;
    if (asked.length === 0) {
      result = { status: 'NOT FOUND', reason: 'product', productId: null };
    } else {
      license = req.key ? await this.source.findByKey(req.key) : null;
      result = license ? this.decide(license, asked, req.ip, now) : { status: 'NOT FOUND', reason: 'key', productId: null };
    }
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
   * SPEC: the first AUTHORISED product in order wins, else the first granted product's failure.
   * A license's outcome does not depend on the product, so the first granted product decides.
   */
  private decide(license: LicenseSnapshot, asked: readonly number[], ip: string, now: number): CheckResult {
    const productId = asked.find((id) => license.productIds.includes(id));
    // A key that exists but grants none of the asked products looks exactly like an unknown key.
    if (productId === undefined) return { status: 'NOT FOUND', reason: 'key', productId: null };
    const outcome = validateLicense(license, ip, now);
    if (outcome.status === 'AUTHORISED' && outcome.bindIp) this.source.bindIp(license, outcome.bindIp);
    if (outcome.status === 'EXPIRED') return { status: 'EXPIRED', productId, expiresAt: outcome.expiresAt };
    return { status: outcome.status, productId };
  }
}
