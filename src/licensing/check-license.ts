import { isAlive, slotsTaken, type ActivationMode, type ActivationOutcome, type DeactivationStatus, type MachineDetails } from './machine-rules.js';
import { validateLicense, type CheckStatus, type KnownMachine, type LicenseSnapshot } from './validate-license.js';
import type { LicenseFileAlg } from './license-file.js';
import { LIMITS } from './schemas/limits.js';

/**
 * What a request asks (docs/check-api.md): a check (the three check endpoints), or one of the client
 * endpoints (`validate` is a check that also answers the license; the others act on the caller's machine).
 */
export type CheckOp = 'check' | 'validate' | 'activate' | 'deactivate' | 'heartbeat' | 'usage' | 'file';

export interface CheckRequest {
  /** Product ids in the caller's order (one for the single check). */
  productIds: readonly number[];
  key: string | null;
  ip: string;
  info: string | null;
  log: boolean;
  userAgent: string | null;
  /** Absent: `check`. */
  op?: CheckOp;
  /** The machine's fingerprint as sent (valid, or null: none). */
  fingerprint?: string | null;
  /** What the client says about its machine, kept when it is activated. */
  machine?: Omit<MachineDetails, 'ip'>;
  /** Feature codes the caller needs, as sent (null or absent: none asked). */
  entitlements?: readonly string[] | null;
  /** `usage`: how much to add (1 to 1,000,000, already checked). */
  increment?: number;
  /** `file`: the file asked for (already checked). */
  file?: FileRequest;
}

/** A license file's options (docs/license-files.md). */
export interface FileRequest {
  ttlSeconds: number;
  alg: LicenseFileAlg;
}

/** What issuing a file answered (docs/license-files.md). */
export type FileOutcome = { status: 'ISSUED'; file: string } | { status: 'NOT ACTIVATED' | 'FILE NOT ALLOWED' };

/** What counting usage answered: the counter after the call, and the limit (null: not metered). */
export interface UsageOutcome {
  status: 'OK' | 'USAGE EXCEEDED';
  uses: number;
  maxUses: number | null;
}

/** `reason` tells the two kinds of NOT FOUND apart (their details differ; their status does not). */
export interface CheckResult {
  status: CheckStatus;
  reason?: 'product' | 'key';
  /** The product that decided the answer, when the key grants one of the asked products. */
  productId: number | null;
  expiresAt?: number;
  /** Client endpoints: the caller's machine after the call (null: none). */
  machine?: KnownMachine | null;
  /**
   * Client endpoints: the license, when the key grants the product. `validate` answers it; every
   * client endpoint reads its machine rules (a machine's `deadAt`, heartbeat's `nextHeartbeatBy`).
   */
  license?: LicenseSnapshot;
  /** This answer activated a machine (for metrics). */
  activated?: boolean;
  /** `validate` and `usage`: the usage counter as stored, and its limit. */
  uses?: number;
  maxUses?: number | null;
  /** `file`: the license file issued. */
  file?: string;
}

/** Where the checker reads licenses and products from: in practice a cache over the database. */
export interface LicenseSource {
  productIds(): ReadonlySet<number> | Promise<ReadonlySet<number>>;
  findByKey(key: string): LicenseSnapshot | null | Promise<LicenseSnapshot | null>;
  /** Records the first caller's IP on a locked license with an empty allow-list. */
  bindIp(license: LicenseSnapshot, ip: string): void;
  /** Activates (or confirms) a machine through the database, with the license locked: null when it tracks none. */
  activateMachine(license: LicenseSnapshot, fingerprint: string, details: MachineDetails, mode: ActivationMode, now: number): Promise<ActivationOutcome | null>;
  /** Frees the key holder's machine within its daily allowance: null when the license tracks none. */
  deactivateMachine(license: LicenseSnapshot, fingerprint: string, now: number): Promise<{ status: DeactivationStatus; machine: KnownMachine | null } | null>;
  /** Starts a first-use license's expiry (written before the answer): it expires `firstUseDays` from `now`. */
  startFirstUse(license: LicenseSnapshot, now: number): Promise<void>;
  /** Adds `increment` to the usage counter unless that passes the limit (atomically): null when the license is gone. */
  use(license: LicenseSnapshot, increment: number, now: number): Promise<UsageOutcome | null>;
  /** The usage counter as stored now (the cached license does not hold it). */
  uses(license: LicenseSnapshot): Promise<number>;
  /** Issues a license file for the caller (bound to its machine when the license tracks machines): null when the license is gone. */
  issueFile(license: LicenseSnapshot, key: string, fingerprint: string | null, machine: KnownMachine | null, file: FileRequest, now: number): Promise<FileOutcome | null>;
}

export interface CheckRecord {
  time: number;
  licenseId: number | null;
  productId: number | null;
  ip: string;
  status: CheckStatus;
  info: string | null;
  userAgent: string | null;
  /** A known machine seen by this request: its last sighting is written behind, like the counters. */
  machineId?: number | null;
  /** The client endpoint (`validate`, `activate`…) recorded with the entry; absent for the check endpoints. */
  endpoint?: CheckOp | null;
}

/** Where the checker sends its side effects; it never waits for them. */
export interface CheckRecorder {
  record(entry: CheckRecord, log: boolean): void;
}

/** Statuses after which a first-use license's clock starts. */
const STARTS_CLOCK = new Set<CheckStatus>(['AUTHORISED', 'ACTIVATED', 'ALREADY ACTIVATED', 'ALIVE', 'OK', 'ISSUED']);

/** Asking for more feature codes than a license may hold never passes (docs/check-api.md). */
const MAX_ASKED_ENTITLEMENTS = LIMITS.policy.entitlements.max;

/** License files go only to keys long enough to derive their encryption key from (docs/license-files.md). */
export const FILE_KEY_MIN_LENGTH = 20;

/** Runs one license check in the order of docs/check-api.md and hands its side effects to the recorder. */
export class LicenseChecker {
  constructor(
    private readonly source: LicenseSource,
    private readonly recorder: CheckRecorder,
    private readonly clock: () => number = Date.now,
  ) {}

  /**
   * Answers synchronously when the products and the license are cached (the common case, a known
   * machine included), and with a promise only when the source has to read or write the database
   * (a cache miss, a new machine, a deactivation, a first use).
   */
  check(req: CheckRequest): CheckResult | Promise<CheckResult> {
    const now = this.clock();
    const known = this.source.productIds();
    return known instanceof Promise ? known.then((k) => this.withProducts(req, now, k)) : this.withProducts(req, now, known);
  }

  private withProducts(req: CheckRequest, now: number, known: ReadonlySet<number>): CheckResult | Promise<CheckResult> {
    const asked = req.productIds.filter((id) => known.has(id));
    if (asked.length === 0) return this.finish(req, now, asked, null, this.shaped(req, { status: 'NOT FOUND', reason: 'product', productId: null }));
    if (!req.key) return this.finish(req, now, asked, null, this.shaped(req, NO_KEY));
    const found = this.source.findByKey(req.key);
    return found instanceof Promise
      ? found.then((license) => this.withLicense(req, now, asked, license))
      : this.withLicense(req, now, asked, found);
  }

  private withLicense(req: CheckRequest, now: number, asked: number[], license: LicenseSnapshot | null): CheckResult | Promise<CheckResult> {
    if (!license) return this.finish(req, now, asked, null, this.shaped(req, NO_KEY));
    let decided = this.decide(license, asked, req, now);
    // validate answers the usage counter, which only the database holds.
    if (req.op === 'validate') decided = then(decided, (r) => (r.license ? this.source.uses(license).then((uses) => ({ ...r, uses })) : r));
    return decided instanceof Promise
      ? decided.then((r) => this.finish(req, now, asked, license, r))
      : this.finish(req, now, asked, license, decided);
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
        machineId: result.machine && STARTS_CLOCK.has(result.status) ? result.machine.id : null,
        endpoint: req.op && req.op !== 'check' ? req.op : null,
      },
      req.log,
    );
    return result;
  }

  /** The client endpoints always answer `machine` (null when none); checks keep section 1's shape. */
  private shaped(req: CheckRequest, result: CheckResult): CheckResult {
    return req.op && req.op !== 'check' ? { ...result, machine: result.machine ?? null } : result;
  }

  /**
   * docs/check-api.md: the first AUTHORISED product in order wins, else the first granted product's failure.
   * A license's outcome does not depend on the product, so the first granted product decides.
   */
  private decide(license: LicenseSnapshot, asked: readonly number[], req: CheckRequest, now: number): CheckResult | Promise<CheckResult> {
    const productId = asked.find((id) => license.productIds.includes(id));
    // A key that exists but grants none of the asked products looks exactly like an unknown key.
    if (productId === undefined) return this.shaped(req, NO_KEY);
    const outcome = validateLicense(license, req.ip, now);
    if (outcome.status === 'EXPIRED') return { ...this.answer(req, license, productId, 'EXPIRED'), expiresAt: outcome.expiresAt };
    if (outcome.status !== 'AUTHORISED') return this.answer(req, license, productId, outcome.status);
    if (req.op === 'file' && (req.key!.length < FILE_KEY_MIN_LENGTH || license.machines?.rules.identity === 'ip')) return this.answer(req, license, productId, 'FILE NOT ALLOWED');
    const bindIp = outcome.bindIp;
    const result = this.machineStep(license, req, productId, now);
    // Usage counts first: USAGE EXCEEDED is a refusal, which starts no first-use clock and binds no IP.
    if (req.op === 'usage') return then(then(result, (r) => this.opStep(license, req, r, now)), (r) => this.passed(license, r, bindIp, now));
    // A file is issued after the clock started, so it carries the license's expiry.
    if (req.op === 'file') return then(then(result, (r) => this.passed(license, r, bindIp, now)), (r) => this.opStep(license, req, r, now));
    return result instanceof Promise ? result.then((r) => this.passed(license, r, bindIp, now)) : this.passed(license, result, bindIp, now);
  }

  /** `usage` and `file` act once the check passed: they count usage, or issue the file. */
  private opStep(license: LicenseSnapshot, req: CheckRequest, result: CheckResult, now: number): CheckResult | Promise<CheckResult> {
    if (result.status !== 'AUTHORISED') return result;
    if (req.op === 'usage') {
      return this.source.use(license, req.increment ?? 1, now).then((u) => (u ? { ...result, status: u.status, uses: u.uses, maxUses: u.maxUses } : this.shaped(req, NO_KEY)));
    }
    const fingerprint = result.machine ? result.machine.fingerprint : (req.fingerprint ?? null);
    return this.source
      .issueFile(license, req.key!, fingerprint, result.machine ?? null, req.file!, now)
      .then((f) => (f === null ? this.shaped(req, NO_KEY) : f.status === 'ISSUED' ? { ...result, status: f.status, file: f.file } : { ...result, status: f.status }));
  }

  /** Every asked feature code is granted (docs/check-api.md); a code outside the pattern never is, as no license holds one. */
  private entitled(license: LicenseSnapshot, req: CheckRequest): boolean {
    const asked = req.entitlements;
    if (!asked || asked.length === 0 || req.op === 'deactivate') return true;
    const granted = license.entitlements;
    if (!granted || asked.length > MAX_ASKED_ENTITLEMENTS) return false;
    for (const code of asked) if (!granted.has(code)) return false;
    return true;
  }

  /**
   * A decided answer, built in one literal (no closure or added field per check): a check's is
   * `{status, productId}` (with the machine seen, for its sighting); a client endpoint's always has
   * `machine` (null when none) and the license, whose machine rules its answer reads.
   */
  private answer(req: CheckRequest, license: LicenseSnapshot, productId: number, status: CheckStatus, machine?: KnownMachine | null, activated?: boolean): CheckResult {
    const result: CheckResult =
      req.op && req.op !== 'check' ? { status, productId, machine: machine ?? null, license } : machine ? { status, productId, machine } : { status, productId };
    if (activated) result.activated = true;
    return result;
  }

  /**
   * What a passing answer sets off: a locked license with no IPs binds its first caller (only once
   * the machine steps let it through), and a first-use license's clock starts.
   */
  private passed(license: LicenseSnapshot, result: CheckResult, bindIp: string | undefined, now: number): CheckResult | Promise<CheckResult> {
    if (bindIp && STARTS_CLOCK.has(result.status)) this.source.bindIp(license, bindIp);
    return this.started(license, result, now);
  }

  /** The machine steps of docs/machines.md, for a license the checks above let through. */
  private machineStep(license: LicenseSnapshot, req: CheckRequest, productId: number, now: number): CheckResult | Promise<CheckResult> {
    const slots = license.machines;
    if (!slots) return this.answer(req, license, productId, this.entitled(license, req) ? 'AUTHORISED' : 'ENTITLEMENT MISSING');
    const { rules, known } = slots;
    const fingerprint = rules.identity === 'ip' ? req.ip : req.fingerprint;
    if (!fingerprint) return this.answer(req, license, productId, 'FINGERPRINT REQUIRED');
    const op = req.op ?? 'check';
    const machine = known.get(fingerprint);
    if (op !== 'deactivate' && machine && isAlive(machine.last_seen_at, rules, now)) {
      // A refusal is no sighting: the memory stays as the database has it.
      if (!this.entitled(license, req)) return this.answer(req, license, productId, 'ENTITLEMENT MISSING', machine);
      // A known machine is answered from memory; its sighting is written behind (finish → recorder).
      if (machine.last_seen_at < now) machine.last_seen_at = now;
      machine.ip = req.ip;
      return this.answer(req, license, productId, op === 'heartbeat' ? 'ALIVE' : op === 'activate' ? 'ALREADY ACTIVATED' : 'AUTHORISED', machine);
    }
    // Beyond here the database may be asked: rarer paths, where a closure costs nothing that matters.
    const answer = (status: CheckStatus, found?: KnownMachine | null, activated?: boolean): CheckResult =>
      this.answer(req, license, productId, status, found, activated);
    if (op === 'deactivate') {
      return this.source.deactivateMachine(license, fingerprint, now).then((r) => (r ? answer(r.status, r.machine) : answer('AUTHORISED')));
    }
    // A heartbeat, and a file (which never activates a machine), need a machine already active.
    const confirms = op === 'heartbeat' || op === 'file';
    if (confirms && !machine) return answer('NOT ACTIVATED');
    if (!machine && op !== 'activate' && !rules.autoActivate) return answer('NOT ACTIVATED');
    // Machines this process saw holding a slot hold it (others may have seen them since, never less):
    // a full count here is final, and the database is asked only when a slot may be free.
    // A machine freed while its file holds its slot may take that slot back: the database decides.
    if (!machine && !slots.held?.has(fingerprint) && slotsTaken(slots, now) >= rules.maxMachines) return answer('TOO MANY MACHINES');
    // An answer that will not be AUTHORISED activates nothing.
    if (!this.entitled(license, req)) return answer('ENTITLEMENT MISSING', machine);
    const mode: ActivationMode = confirms ? 'confirm' : op === 'activate' ? 'explicit' : 'auto';
    // Built only here: a known machine's check (the common case) never needs it.
    const details: MachineDetails = { ...req.machine, ip: req.ip };
    return this.source.activateMachine(license, fingerprint, details, mode, now).then((r) => {
      if (!r) return answer('AUTHORISED');
      // This answer's view of the license (validate's live count) holds the machine just activated.
      if (r.machine) known.set(fingerprint, r.machine);
      const activated = r.status === 'ACTIVATED';
      if (op === 'activate') return answer(r.status, r.machine, activated);
      if (confirms) return answer(r.status !== 'ALREADY ACTIVATED' ? 'NOT ACTIVATED' : op === 'heartbeat' ? 'ALIVE' : 'AUTHORISED', r.machine);
      return answer(r.machine ? 'AUTHORISED' : r.status, r.machine, activated);
    });
  }

  /** A first-use license's clock starts at its first passing answer, written before that answer. */
  private started(license: LicenseSnapshot, result: CheckResult, now: number): CheckResult | Promise<CheckResult> {
    if (!license.firstUseDays || !STARTS_CLOCK.has(result.status)) return result;
    return this.source.startFirstUse(license, now).then(() => result);
  }
}

const NO_KEY: CheckResult = Object.freeze({ status: 'NOT FOUND', reason: 'key', productId: null });

/** `next(value)`, now when `value` is known, later when it is a promise: the check stays synchronous when it can. */
function then<T, U>(value: T | Promise<T>, next: (v: T) => U | Promise<U>): U | Promise<U> {
  return value instanceof Promise ? value.then(next) : next(value);
}
