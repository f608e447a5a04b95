import { beforeEach, describe, expect, it } from 'vitest';
import { LicenseChecker, type CheckRecord, type CheckRequest, type LicenseSource } from './check-license.js';
import { compileAllowList } from './ip-allow-list.js';
import type { MachineRules } from './machine-rules.js';
import type { ActivationMode, ActivationOutcome } from './machine-rules.js';
import type { KnownMachine, LicenseSnapshot } from './validate-license.js';

const NOW = Date.UTC(2030, 5, 1);

/**
 * The machine steps in check order (docs/machines.md), against an in-memory source whose database
 * side (activation, deactivation, first use) records each call, so the tests also see which
 * answers come from the cached view alone.
 */
class MachineSource implements LicenseSource {
  readonly licenses = new Map<string, LicenseSnapshot>();
  readonly calls: string[] = [];
  /** The database's machines: what activation counts, apart from the cached view. */
  readonly stored = new Map<string, KnownMachine>();
  nextId = 1;

  productIds(): ReadonlySet<number> {
    return new Set([8]);
  }

  findByKey(key: string): LicenseSnapshot | null {
    return this.licenses.get(key) ?? null;
  }

  bindIp(): void {
    this.calls.push('bindIp');
  }

  async activateMachine(license: LicenseSnapshot, fingerprint: string, details: { ip: string }, mode: ActivationMode, now: number): Promise<ActivationOutcome | null> {
    this.calls.push(`activate:${mode}:${fingerprint}`);
    const rules = license.machines!.rules;
    const existing = this.stored.get(fingerprint);
    if (existing) return { status: 'ALREADY ACTIVATED', machine: existing, rules };
    if (mode === 'confirm' || (mode === 'auto' && !rules.autoActivate)) return { status: 'NOT ACTIVATED', machine: null, rules };
    if (this.stored.size >= rules.maxMachines) return { status: 'TOO MANY MACHINES', machine: null, rules };
    const machine = row(this.nextId++, fingerprint, now, details.ip);
    this.stored.set(fingerprint, machine);
    license.machines!.known.set(fingerprint, machine);
    return { status: 'ACTIVATED', machine, rules };
  }

  async deactivateMachine(_license: LicenseSnapshot, fingerprint: string) {
    this.calls.push(`deactivate:${fingerprint}`);
    const machine = this.stored.get(fingerprint) ?? null;
    this.stored.delete(fingerprint);
    return { status: machine ? ('DEACTIVATED' as const) : ('NOT ACTIVATED' as const), machine };
  }

  async startFirstUse(license: LicenseSnapshot, now: number): Promise<void> {
    this.calls.push('startFirstUse');
    license.expiresAt = now + license.firstUseDays! * 86_400_000;
    license.firstUseDays = null;
  }

  use(): never {
    throw new Error('a machine check counted usage');
  }

  uses(): never {
    throw new Error('a machine check read the usage counter');
  }

  issueFile(): never {
    throw new Error('a machine check issued a license file');
  }

  add(key: string, rules: Partial<MachineRules> | null, extra: Partial<LicenseSnapshot> = {}): LicenseSnapshot {
    const full: MachineRules | null = rules && { maxMachines: 2, identity: 'fingerprint', autoActivate: true, heartbeatMs: null, deactivationsPerDay: 3, ...rules };
    const license: LicenseSnapshot = {
      id: this.licenses.size + 1,
      productIds: [8],
      active: true,
      disabled: false,
      ipLocked: false,
      ips: [],
      ranges: compileAllowList([]),
      expiresAt: null,
      machines: full && { rules: full, known: new Map() },
      ...extra,
    };
    this.licenses.set(key, license);
    return license;
  }
}

const row = (id: number, fingerprint: string, at: number, ip: string): KnownMachine => ({
  id,
  license_id: 1,
  fingerprint,
  name: null,
  platform: null,
  hostname: null,
  ip,
  created_at: at,
  last_seen_at: at,
});

let source: MachineSource;
let recorded: CheckRecord[];
let checker: LicenseChecker;
let now: number;

const ask = (over: Partial<CheckRequest> = {}) =>
  checker.check({ productIds: [8], key: 'K', ip: '1.2.3.4', info: null, log: true, userAgent: null, ...over });

beforeEach(() => {
  source = new MachineSource();
  recorded = [];
  now = NOW;
  checker = new LicenseChecker(source, { record: (e) => recorded.push(e) }, () => now);
});

describe('LicenseChecker: machine steps', () => {
  it('runs after the license checks: a disabled or IP-refused license says so before asking for a fingerprint', async () => {
    source.add('K', {}, { disabled: true });
    expect((await ask()).status).toBe('KEY DISABLED');
    source.add('K', {}, { ipLocked: true, ips: ['9.9.9.9'], ranges: compileAllowList(['9.9.9.9']) });
    expect((await ask()).status).toBe('NOT AUTHORISED');
    source.add('K', {});
    expect(await ask()).toEqual({ status: 'FINGERPRINT REQUIRED', productId: 8 });
  });

  it('activates new machines while slots are free, then refuses from the cached view without asking the database', async () => {
    source.add('K', { maxMachines: 2 });
    expect(await ask({ fingerprint: 'A' })).toMatchObject({ status: 'AUTHORISED', activated: true });
    expect(await ask({ fingerprint: 'B' })).toMatchObject({ status: 'AUTHORISED', activated: true });
    expect(await ask({ fingerprint: 'C' })).toEqual({ status: 'TOO MANY MACHINES', productId: 8 });
    expect(source.calls).toEqual(['activate:auto:A', 'activate:auto:B']);
  });

  it('answers a known live machine from memory, and hands its sighting to the recorder', async () => {
    const license = source.add('K', {});
    await ask({ fingerprint: 'A' });
    source.calls.length = 0;
    now += 5000;
    const result = ask({ fingerprint: 'A', ip: '5.5.5.5' });
    expect(result).not.toBeInstanceOf(Promise);
    expect(result).toMatchObject({ status: 'AUTHORISED' });
    expect(source.calls).toEqual([]);
    const machine = license.machines!.known.get('A')!;
    expect(machine.last_seen_at).toBe(now);
    expect(recorded.at(-1)).toMatchObject({ machineId: machine.id, status: 'AUTHORISED', endpoint: null });
  });

  it('says NOT ACTIVATED without autoActivate, until the activate endpoint takes a slot', async () => {
    source.add('K', { autoActivate: false });
    expect((await ask({ fingerprint: 'A' })).status).toBe('NOT ACTIVATED');
    expect(await ask({ op: 'activate', fingerprint: 'A' })).toMatchObject({ status: 'ACTIVATED', machine: { fingerprint: 'A' } });
    expect((await ask({ op: 'activate', fingerprint: 'A' })).status).toBe('ALREADY ACTIVATED');
    expect((await ask({ fingerprint: 'A' })).status).toBe('AUTHORISED');
  });

  it('uses the caller IP as the machine with ip identity, and binds no first IP', async () => {
    source.add('K', { identity: 'ip', maxMachines: 1 }, { ipLocked: true });
    expect((await ask({ ip: '10.0.0.1' })).status).toBe('AUTHORISED');
    expect((await ask({ ip: '10.0.0.2' })).status).toBe('TOO MANY MACHINES');
    expect(source.calls).toEqual(['activate:auto:10.0.0.1']);
  });

  it('treats a machine past its heartbeat as dead: heartbeat asks the database, a check re-activates it', async () => {
    source.add('K', { heartbeatMs: 60_000, maxMachines: 1 });
    await ask({ fingerprint: 'A' });
    now += 61_000;
    source.stored.clear(); // the database freed it
    expect(await ask({ op: 'heartbeat', fingerprint: 'A' })).toMatchObject({ status: 'NOT ACTIVATED', machine: null });
    expect((await ask({ fingerprint: 'A' })).status).toBe('AUTHORISED');
    expect(source.calls).toEqual(['activate:auto:A', 'activate:confirm:A', 'activate:auto:A']);
  });

  it('answers heartbeat ALIVE for a live machine and NOT ACTIVATED for an unknown one, from memory', async () => {
    source.add('K', {});
    await ask({ fingerprint: 'A' });
    source.calls.length = 0;
    expect((await ask({ op: 'heartbeat', fingerprint: 'A' })).status).toBe('ALIVE');
    expect(await ask({ op: 'heartbeat', fingerprint: 'Z' })).toMatchObject({ status: 'NOT ACTIVATED', machine: null });
    expect(source.calls).toEqual([]);
    expect(recorded.at(-1)).toMatchObject({ endpoint: 'heartbeat', machineId: null });
  });

  it('deactivates through the database, and a client endpoint always answers machine (null when none)', async () => {
    source.add('K', {});
    await ask({ fingerprint: 'A' });
    expect(await ask({ op: 'deactivate', fingerprint: 'A' })).toMatchObject({ status: 'DEACTIVATED', machine: { fingerprint: 'A' } });
    expect(await ask({ op: 'deactivate', key: 'NOPE', fingerprint: 'A' })).toEqual({ status: 'NOT FOUND', reason: 'key', productId: null, machine: null });
  });

  it('a license that tracks no machines: checks answer as before, machine endpoints with machine null', async () => {
    source.add('K', null);
    expect(await ask({ fingerprint: 'A' })).toEqual({ status: 'AUTHORISED', productId: 8 });
    expect(await ask({ op: 'activate', fingerprint: 'A' })).toMatchObject({ status: 'AUTHORISED', productId: 8, machine: null });
    expect(source.calls).toEqual([]);
  });

  it('starts a first-use clock at the first passing answer only, before answering', async () => {
    const license = source.add('K', {}, { firstUseDays: 30 });
    await ask();
    expect(source.calls).toEqual([]);
    await ask({ fingerprint: 'A' });
    expect(source.calls).toEqual(['activate:auto:A', 'startFirstUse']);
    expect(license.expiresAt).toBe(NOW + 30 * 86_400_000);
  });
});
