/**
 * Every size and range limit on what Keyward accepts, declared once. The domain schemas are
 * built from these; the API (and its OpenAPI), the dashboard forms and the CLI read them too.
 */

/** Largest id the database stores in an integer column (both dialects). */
export const MAX_DB_ID = 2_147_483_647;

export const LIMITS = {
  id: { min: 1, max: MAX_DB_ID },
  license: {
    note: 1000,
    /** Products one license grants (a bundle). */
    productIds: 100,
    /** Allow-list entries a license holds when staff set them. */
    ips: 1000,
    /** What a customer may set on their own license: a few entries, none wider than a hosting subnet. */
    customerAllowList: { maxEntries: 5, minPrefix: { ipv4: 24, ipv6: 48 } },
    /** One IP or CIDR block as written, and the IP search text. */
    ipEntry: 64,
    /** Imported keys; generated ones are 45 characters. */
    key: { min: 8, max: 256 },
    /** An ISO 8601 date or date-time as written. */
    time: 40,
  },
  product: { name: 200, description: 2000 },
  policy: {
    name: 200,
    /** Days a license issued from a policy lasts: up to a hundred years. */
    durationDays: { min: 1, max: 36_500 },
    /** Machines one license may hold at once. */
    maxMachines: { min: 1, max: 100_000 },
    heartbeatSeconds: { min: 60, max: 86_400 },
    deactivationsPerDay: { min: 0, max: 1000 },
    /** Feature codes per policy or license, and the form of one. */
    entitlements: { max: 100, pattern: '^[a-z0-9][a-z0-9_.:-]{0,63}$' },
    maxUses: { min: 1, max: Number.MAX_SAFE_INTEGER },
  },
  machine: {
    /** A fingerprint: 1-255 printable ASCII characters. */
    fingerprint: { max: 255, pattern: '^[\\x20-\\x7e]{1,255}$' },
    /** Name, platform and hostname as the client reports them; longer ones are cut. */
    text: 255,
  },
  /** One usage change (the client endpoint's `increment`, staff's increments and decrements). */
  usage: { increment: { min: 1, max: 1_000_000 } },
  /** A license file's life in seconds: an hour to a year, 30 days unless asked (docs/license-files.md). */
  licenseFile: { ttlSeconds: { min: 3600, max: 31_536_000, default: 2_592_000 } },
  user: {
    username: { min: 2, max: 32 },
    password: { min: 8, max: 1024 },
    email: 254,
    /** The text a user search looks for in usernames and emails. */
    search: 100,
  },
  token: { name: 64 },
  webhook: { url: { min: 8, max: 2000 }, description: 200, secret: { min: 16, max: 200 } },
  /** What the check API keeps of a caller's input: longer info and User-Agents are cut, longer nonces ignored. */
  check: { info: 1000, userAgent: 1000, nonce: 128, productIds: 100 },
  log: {
    /** Actor and action filters of the audit log. */
    text: 100,
    /** Status, target type and target id filters. */
    word: 40,
  },
} as const;
