import type { LicenseJson } from '../../licensing/json.js';
import type { LicenseCreateArgs } from '../../licensing/license-service.js';
import type { KeywardError } from '../../errors.js';
import { checked, formErrors, intList, numberText, orNone, requireWholeNumbers, text, wholeNumber, words, type Form, type FormErrors } from '../forms.js';

/** The staff's license form (new and edit) as typed: numbers stay text, so a refused form shows exactly what was sent. */
export interface LicenseFormValues {
  productIds: number[];
  policyId: string;
  maxMachines: string;
  entitlements: string;
  maxUses: string;
  owner: string;
  active: boolean;
  ipLocked: boolean;
  ips: string;
  expiresAt: string;
  note: string;
}

/** A new license's form, with the owner and policy a link may name. */
export const newLicenseValues = (owner: string, policyId: number | null): LicenseFormValues => ({
  productIds: [],
  policyId: policyId === null ? '' : String(policyId),
  maxMachines: '',
  entitlements: '',
  maxUses: '',
  owner,
  active: true,
  ipLocked: false,
  ips: '',
  expiresAt: '',
  note: '',
});

export const licenseValues = (l: LicenseJson): LicenseFormValues => ({
  productIds: l.productIds,
  policyId: l.policyId === null ? '' : String(l.policyId),
  maxMachines: numberText(l.maxMachines),
  entitlements: l.entitlements.join(', '),
  maxUses: numberText(l.maxUses),
  owner: l.owner ?? '',
  active: l.active,
  ipLocked: l.ipLocked,
  ips: l.ips.join('\n'),
  expiresAt: l.expiresAt ?? '',
  note: l.note ?? '',
});

/** Fields a page from before they existed does not send: such a form leaves them as they are (`current`). */
const LATER_FIELDS = ['policyId', 'maxMachines', 'entitlements', 'maxUses'] as const;

export function readLicenseForm(form: Form, current: LicenseFormValues): LicenseFormValues {
  const typed = (name: (typeof LATER_FIELDS)[number]) => (form[name] === undefined ? current[name] : text(form, name).trim());
  return {
    productIds: intList(form, 'productIds'),
    policyId: typed('policyId'),
    maxMachines: typed('maxMachines'),
    entitlements: typed('entitlements'),
    maxUses: typed('maxUses'),
    owner: text(form, 'owner').trim(),
    active: checked(form, 'active'),
    ipLocked: checked(form, 'ipLocked'),
    ips: text(form, 'ips'),
    expiresAt: text(form, 'expiresAt').trim(),
    note: text(form, 'note').trim(),
  };
}

/**
 * What both forms give LicenseService: empty limits are "none" (the policy's, or not tracked / not
 * metered), feature codes are separated by commas or spaces. Text that is no whole number is
 * refused here, naming each such field; the service's schema judges the rest, naming the field.
 */
export function licenseInput(v: LicenseFormValues) {
  requireWholeNumbers(v, ['maxMachines', 'maxUses']);
  return {
    productIds: v.productIds,
    policyId: v.policyId === '' ? null : wholeNumber(v.policyId),
    maxMachines: orNone(v.maxMachines),
    entitlements: words(v.entitlements),
    maxUses: orNone(v.maxUses),
    owner: v.owner || null,
    ipLocked: v.ipLocked,
    ips: words(v.ips),
    note: v.note || null,
  } satisfies LicenseCreateArgs;
}

/** The service's refusal as the form shows it, a refused feature code named as typed. */
export const licenseErrors = (err: KeywardError, v: LicenseFormValues): FormErrors => formErrors(err, { entitlements: words(v.entitlements) });
