import { describe, expect, it } from 'vitest';
import { compileAllowList } from './ip-allow-list.js';
import { validateLicense, type LicenseSnapshot } from './validate-license.js';

const NOW = Date.UTC(2030, 0, 15, 12, 0, 0);
const HOUR = 3_600_000;

function license(overrides: Partial<Omit<LicenseSnapshot, 'ranges'>> = {}): LicenseSnapshot {
  const base = { id: 1, productIds: [8], active: true, disabled: false, ipLocked: false, ips: [] as string[], expiresAt: null, ...overrides };
  return { ...base, ranges: compileAllowList(base.ips) };
}

describe('validateLicense', () => {
  it('authorises a plain license', () => {
    expect(validateLicense(license(), '1.2.3.4', NOW)).toEqual({ status: 'AUTHORISED' });
  });

  it('says KEY DISABLED for a license disabled by staff', () => {
    expect(validateLicense(license({ disabled: true }), '1.2.3.4', NOW)).toEqual({ status: 'KEY DISABLED' });
  });

  it('says NOT ACTIVE for a license its owner switched off', () => {
    expect(validateLicense(license({ active: false }), '1.2.3.4', NOW)).toEqual({ status: 'NOT ACTIVE' });
  });

  it('says EXPIRED with the expiry time for a license past its expiry', () => {
    const expiresAt = NOW - HOUR;
    expect(validateLicense(license({ expiresAt }), '1.2.3.4', NOW)).toEqual({ status: 'EXPIRED', expiresAt });
  });

  it('says NOT AUTHORISED for a locked license and a caller outside its list', () => {
    expect(validateLicense(license({ ipLocked: true, ips: ['5.6.7.8'] }), '1.2.3.4', NOW)).toEqual({ status: 'NOT AUTHORISED' });
  });

  describe('check order: disabled, then inactive, then expired, then IP', () => {
    const failing = { disabled: true, active: false, expiresAt: NOW - HOUR, ipLocked: true, ips: ['5.6.7.8'] };

    it('reports disabled first when everything fails', () => {
      expect(validateLicense(license(failing), '1.2.3.4', NOW).status).toBe('KEY DISABLED');
    });

    it('reports inactive before expired and IP', () => {
      expect(validateLicense(license({ ...failing, disabled: false }), '1.2.3.4', NOW).status).toBe('NOT ACTIVE');
    });

    it('reports expired before IP', () => {
      expect(validateLicense(license({ ...failing, disabled: false, active: true }), '1.2.3.4', NOW).status).toBe('EXPIRED');
    });

    it('reports IP last', () => {
      expect(validateLicense(license({ ...failing, disabled: false, active: true, expiresAt: null }), '1.2.3.4', NOW).status).toBe('NOT AUTHORISED');
    });

    it('does not bind an IP when an earlier step fails', () => {
      for (const o of [{ disabled: true }, { active: false }, { expiresAt: NOW }]) {
        expect(validateLicense(license({ ...o, ipLocked: true, ips: [] }), '1.2.3.4', NOW)).not.toHaveProperty('bindIp');
      }
    });
  });

  describe('expiry boundary', () => {
    it('is valid up to the millisecond before expiry', () => {
      expect(validateLicense(license({ expiresAt: NOW + 1 }), '1.2.3.4', NOW).status).toBe('AUTHORISED');
      expect(validateLicense(license({ expiresAt: NOW + 365 * 24 * HOUR }), '1.2.3.4', NOW).status).toBe('AUTHORISED');
    });

    it('is expired from the expiry time on', () => {
      expect(validateLicense(license({ expiresAt: NOW }), '1.2.3.4', NOW)).toEqual({ status: 'EXPIRED', expiresAt: NOW });
      expect(validateLicense(license({ expiresAt: NOW - 1 }), '1.2.3.4', NOW).status).toBe('EXPIRED');
    });

    it('never expires without an expiry time', () => {
      expect(validateLicense(license({ expiresAt: null }), '1.2.3.4', Number.MAX_SAFE_INTEGER).status).toBe('AUTHORISED');
    });
  });

  describe('IP lock', () => {
    it('ignores the list when the lock is off', () => {
      expect(validateLicense(license({ ipLocked: false, ips: ['5.6.7.8'] }), '1.2.3.4', NOW)).toEqual({ status: 'AUTHORISED' });
    });

    it('authorises a caller in the list, by address or block, IPv4 or IPv6', () => {
      const l = license({ ipLocked: true, ips: ['5.6.7.8', '10.0.0.0/8', '2001:db8::/32'] });
      expect(validateLicense(l, '5.6.7.8', NOW)).toEqual({ status: 'AUTHORISED' });
      expect(validateLicense(l, '10.20.30.40', NOW)).toEqual({ status: 'AUTHORISED' });
      expect(validateLicense(l, '2001:db8::99', NOW)).toEqual({ status: 'AUTHORISED' });
      expect(validateLicense(l, '11.0.0.1', NOW)).toEqual({ status: 'NOT AUTHORISED' });
      expect(validateLicense(l, '2001:db9::1', NOW)).toEqual({ status: 'NOT AUTHORISED' });
    });

    it('binds the first caller on a locked license with an empty list', () => {
      expect(validateLicense(license({ ipLocked: true, ips: [] }), '9.8.7.6', NOW)).toEqual({ status: 'AUTHORISED', bindIp: '9.8.7.6' });
    });

    it('does not bind when the list already has entries', () => {
      expect(validateLicense(license({ ipLocked: true, ips: ['9.8.7.6'] }), '9.8.7.6', NOW)).toEqual({ status: 'AUTHORISED' });
    });

    it('refuses everyone when the stored entries no longer parse', () => {
      expect(validateLicense(license({ ipLocked: true, ips: ['junk'] }), '1.2.3.4', NOW)).toEqual({ status: 'NOT AUTHORISED' });
    });
  });
});
