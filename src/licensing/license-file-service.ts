import { KeywardError } from '../errors.js';
import type { LicenseRecord, LicenseRepository } from '../storage/license-repository.js';
import type { MachineRepository } from '../storage/machine-repository.js';
import type { PolicyRecord, PolicyRepository } from '../storage/policy-repository.js';
import type { Transactions } from '../storage/transactions.js';
import type { KeyCipher } from './key.js';
import { encodeLicenseFile, type LicenseFileAlg, type LicenseFilePayload } from './license-file.js';
import { iso, parseStringList } from './json.js';
import { holdsSlot, machineRules } from './machine-rules.js';
import { checkInput } from './schemas/check-input.js';
import { LicenseFileInput } from './schemas/license-file.js';
import { LIMITS } from './schemas/limits.js';
import type { SigningKeyService } from './signing-keys.js';
import { isDbId } from './values.js';
import { FILE_KEY_MIN_LENGTH, type FileOutcome } from './check-license.js';

const DAY_MS = 86_400_000;

/** What a file is asked for with: the caller's machine (by id from the check path, or by fingerprint), its life and its encryption. */
export interface FileAsk {
  /** The clear key, when the caller sent it (the check path); staff's files decrypt the stored one. */
  key?: string;
  fingerprint?: string | null;
  /** The check path's cached machine, already known active. */
  machineId?: number | null;
  ttlSeconds?: number;
  alg?: LicenseFileAlg;
}

export type IssuedFile = { status: 'ISSUED'; file: string; expiresAt: number } | Exclude<FileOutcome, { status: 'ISSUED' }>;

/**
 * Offline license files (docs/license-files.md): the license as it stands, signed with the current
 * answer-signing key and (by default) encrypted with a key derived from the license key (and the
 * machine's fingerprint). A file never outlives its license. When the license tracks machines, a
 * file is bound to one active machine, which then keeps its slot until the file ends: issued files
 * cannot be revoked. Every issue is audited.
 */
export class LicenseFileService {
  constructor(
    private readonly repos: { licenses: LicenseRepository; policies: PolicyRepository; machines: MachineRepository; transactions: Transactions },
    private readonly signingKeys: Pick<SigningKeyService, 'current'>,
    private readonly cipher: KeyCipher,
  ) {}

  /**
   * Issues a file, or says why not (the check path answers those statuses). Null when the license
   * is gone.
   */
  async issue(licenseId: number, ask: FileAsk, actor: string, now = Date.now()): Promise<IssuedFile | null> {
    const license = isDbId(licenseId) ? await this.repos.licenses.get(licenseId) : null;
    if (!license) return null;
    const policy = license.policy_id === null ? null : await this.repos.policies.get(license.policy_id);
    const rules = machineRules(license, policy);
    const key = ask.key ?? this.cipher.decrypt(license.key_cipher);
    if (key.length < FILE_KEY_MIN_LENGTH || rules?.identity === 'ip') return { status: 'FILE NOT ALLOWED' };
    let boundTo = ask.fingerprint ?? null;
    let machineId: number | null = null;
    if (rules) {
      // Bound to an active machine of the license; a file never activates one.
      const machine =
        ask.machineId != null ? await this.repos.machines.get(ask.machineId) : boundTo === null ? undefined : await this.repos.machines.findByFingerprint(licenseId, boundTo);
      if (!machine || machine.license_id !== licenseId || machine.deactivated_at !== null || !holdsSlot(machine, rules, now)) return { status: 'NOT ACTIVATED' };
      machineId = machine.id;
      boundTo = machine.fingerprint;
    }
    const ends = fileEnd(license, now, (ask.ttlSeconds ?? LIMITS.licenseFile.ttlSeconds.default) * 1000);
    const payload: LicenseFilePayload = {
      license: {
        id: license.id,
        productIds: license.productIds,
        entitlements: effectiveEntitlements(license, policy),
        expiresAt: iso(license.expires_at),
        maxMachines: rules?.maxMachines ?? null,
        maxUses: license.max_uses ?? policy?.max_uses ?? null,
      },
      machine: boundTo === null ? null : { fingerprint: boundTo },
      issuedAt: iso(now)!,
      expiresAt: iso(ends)!,
    };
    const alg = ask.alg ?? 'aes-256-gcm+ed25519';
    const file = encodeLicenseFile(payload, { alg, licenseKey: key, fingerprint: boundTo, key: await this.signingKeys.current() });
    const held = await this.repos.transactions.change([], async (t) => {
      if (!(await t.licenses.lock(licenseId))) return false;
      if (machineId !== null) {
        // Still active with the license locked: a deactivation racing this file would otherwise free the slot it holds.
        const machine = await t.machines.get(machineId);
        if (!machine || machine.deactivated_at !== null) return false;
        await t.machines.holdForFile(machineId, ends);
      }
      const after = { machineId, fingerprint: boundTo === null ? null : 'bound', alg, expiresAt: iso(ends) };
      await t.audit.insert({ actor, action: 'license.file_issued', targetType: 'license', targetId: licenseId, after }, now);
      return true;
    });
    if (!held) return { status: 'NOT ACTIVATED' };
    return { status: 'ISSUED', file, expiresAt: ends };
  }

  /**
   * Staff's file (management API, CLI, dashboard): throws what the check path would answer as a
   * status. `fingerprint` names the machine when the license tracks machines.
   */
  async issueForStaff(licenseId: number, ask: { fingerprint?: string | null; ttlSeconds?: number; alg?: LicenseFileAlg }, actor: string, now = Date.now()): Promise<{ file: string; expiresAt: string }> {
    // The check path parses its own input; staff's surfaces (API, CLI, dashboard) all pass here.
    checkInput(LicenseFileInput, { ...ask, fingerprint: ask.fingerprint ?? undefined });
    const outcome = await this.issue(licenseId, ask, actor, now);
    if (!outcome) throw new KeywardError('license_not_found', `license ${licenseId} does not exist`);
    if (outcome.status === 'ISSUED') return { file: outcome.file, expiresAt: iso(outcome.expiresAt)! };
    if (outcome.status === 'FILE NOT ALLOWED') {
      throw new KeywardError('file_not_allowed', 'licenses whose machines are identified by IP, and keys shorter than 20 characters, get no license files');
    }
    throw new KeywardError(
      'machine_not_found',
      ask.fingerprint ? `license ${licenseId} has no active machine with this fingerprint` : `license ${licenseId} tracks machines: name the machine's fingerprint`,
    );
  }
}

/** A file issued at `now` ends `ttlMs` later, or when its license does if sooner (a first-use license not yet started: its duration from now). */
function fileEnd(license: LicenseRecord, now: number, ttlMs: number): number {
  let end = now + ttlMs;
  if (license.expires_at !== null) end = Math.min(end, license.expires_at);
  if (license.first_use_days !== null) end = Math.min(end, now + license.first_use_days * DAY_MS);
  return end;
}

/** The codes a license grants: its policy's, then its own. */
export function effectiveEntitlements(license: LicenseRecord, policy: PolicyRecord | null): string[] {
  return [...new Set([...(policy ? parseStringList(policy.entitlements) : []), ...parseStringList(license.entitlements)])];
}
