import type { PolicyJson } from '../../licensing/json.js';
import { POLICY_DEFAULTS } from '../../licensing/machine-rules.js';
import type { PolicyCreate } from '../../licensing/schemas/policy.js';
import type { KeywardError } from '../../errors.js';
import { checked, formErrors, intList, integer, numberText, orNone, requireWholeNumbers, text, words, type Form, type FormErrors } from '../forms.js';

/** The policy form as typed: numbers stay text, so a refused form shows exactly what was sent. */
export interface PolicyFormValues {
  name: string;
  productIds: number[];
  durationDays: string;
  expiryBasis: string;
  maxMachines: string;
  machineIdentity: string;
  autoActivate: boolean;
  heartbeatSeconds: string;
  deactivationsPerDay: string;
  entitlements: string;
  maxUses: string;
}

/** A new policy's form: the defaults PolicyService applies. */
export const NEW_POLICY: PolicyFormValues = {
  name: '',
  productIds: [],
  durationDays: '',
  expiryBasis: POLICY_DEFAULTS.expiryBasis,
  maxMachines: '',
  machineIdentity: POLICY_DEFAULTS.machineIdentity,
  autoActivate: POLICY_DEFAULTS.autoActivate,
  heartbeatSeconds: '',
  deactivationsPerDay: String(POLICY_DEFAULTS.deactivationsPerDay),
  entitlements: '',
  maxUses: '',
};

export const policyValues = (p: PolicyJson): PolicyFormValues => ({
  name: p.name,
  productIds: p.productIds,
  durationDays: numberText(p.durationDays),
  expiryBasis: p.expiryBasis,
  maxMachines: numberText(p.maxMachines),
  machineIdentity: p.machineIdentity,
  autoActivate: p.autoActivate,
  heartbeatSeconds: numberText(p.heartbeatSeconds),
  deactivationsPerDay: String(p.deactivationsPerDay),
  entitlements: p.entitlements.join(', '),
  maxUses: numberText(p.maxUses),
});

export function readPolicyForm(form: Form): PolicyFormValues {
  return {
    name: text(form, 'name'),
    productIds: intList(form, 'productIds'),
    durationDays: text(form, 'durationDays').trim(),
    expiryBasis: text(form, 'expiryBasis'),
    maxMachines: text(form, 'maxMachines').trim(),
    machineIdentity: text(form, 'machineIdentity'),
    autoActivate: checked(form, 'autoActivate'),
    heartbeatSeconds: text(form, 'heartbeatSeconds').trim(),
    deactivationsPerDay: text(form, 'deactivationsPerDay').trim(),
    entitlements: text(form, 'entitlements'),
    maxUses: text(form, 'maxUses').trim(),
  };
}

/**
 * The PolicyService input of a form. An empty limit is "none" (perpetual, machines not tracked, no
 * heartbeat, not metered); an empty allowance keeps the default (new) or the current value (edit).
 * Text that is no whole number is refused here, naming each such field; PolicyService's schema
 * judges everything else and names the field and the limit.
 */
export function policyInput(v: PolicyFormValues): PolicyCreate {
  requireWholeNumbers(v, NUMBER_FIELDS);
  const input = {
    name: v.name,
    productIds: v.productIds,
    durationDays: orNone(v.durationDays),
    expiryBasis: v.expiryBasis,
    maxMachines: orNone(v.maxMachines),
    machineIdentity: v.machineIdentity,
    autoActivate: v.autoActivate,
    heartbeatSeconds: orNone(v.heartbeatSeconds),
    deactivationsPerDay: v.deactivationsPerDay === '' ? undefined : integer(v.deactivationsPerDay),
    entitlements: words(v.entitlements),
    maxUses: orNone(v.maxUses),
  };
  return input as PolicyCreate;
}

/** The service's refusal as the form shows it, a refused feature code named as typed. */
export const policyErrors = (err: KeywardError, v: PolicyFormValues): FormErrors => formErrors(err, { entitlements: words(v.entitlements) });

const NUMBER_FIELDS = ['durationDays', 'maxMachines', 'heartbeatSeconds', 'deactivationsPerDay', 'maxUses'] as const;
