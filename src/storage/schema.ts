import type { Generated, Insertable, Selectable } from 'kysely';

/** Times are epoch milliseconds; flags are 0/1 integers, so both dialects store them alike. */
export interface UsersTable {
  id: Generated<number>;
  username: string;
  email: string | null;
  password_hash: string | null;
  discord_id: string | null;
  role: 'customer' | 'staff' | 'admin';
  disabled: number;
  created_at: number;
  updated_at: number;
  /** Dashboard two-factor (0005): the TOTP secret, encrypted like keys; set while enrolling or enrolled. */
  totp_secret: string | null;
  totp_enabled: Generated<number>;
  /** The last TOTP time step accepted, so a code cannot be used twice. */
  totp_last_step: number | null;
}

export interface ProductsTable {
  id: number;
  name: string;
  description: string | null;
  created_at: number;
  updated_at: number;
}

export interface LicensesTable {
  id: Generated<number>;
  key_digest: string;
  key_cipher: string;
  owner_id: number | null;
  active: number;
  disabled: number;
  ip_locked: number;
  /** JSON array of canonical IPs / CIDR blocks. */
  ips: string;
  expires_at: number | null;
  note: string | null;
  total_checks: Generated<number>;
  last_check_at: number | null;
  last_ip: string | null;
  created_at: number;
  updated_at: number;
  /** The policy it was issued from or attached to (0010); null: a plain license. */
  policy_id: Generated<number | null>;
  /** Overrides the policy's machine limit when set (0010). */
  max_machines: Generated<number | null>;
  /** A first-use policy's duration, waiting for the first AUTHORISED answer to start (0010). */
  first_use_days: Generated<number | null>;
  /** JSON array of the license's own feature codes, added to its policy's (0012). */
  entitlements: Generated<string>;
  /** The usage counter (0012). */
  uses: Generated<number>;
  /** Overrides the policy's usage limit when set (0012). */
  max_uses: Generated<number | null>;
}

/** A named template for licenses (0010): see licensing/schemas/policy.ts for each field. */
export interface PoliciesTable {
  id: Generated<number>;
  name: string;
  duration_days: number | null;
  expiry_basis: 'issued' | 'first-use';
  max_machines: number | null;
  machine_identity: 'fingerprint' | 'ip';
  auto_activate: number;
  heartbeat_seconds: number | null;
  deactivations_per_day: number;
  /** JSON array of feature codes. */
  entitlements: string;
  max_uses: number | null;
  created_at: number;
  updated_at: number;
}

export interface PolicyProductsTable {
  policy_id: number;
  product_id: number;
  position: number;
}

/** A device or server a license runs on (0010), unique per (license, fingerprint). */
export interface MachinesTable {
  id: Generated<number>;
  license_id: number;
  fingerprint: string;
  name: string | null;
  platform: string | null;
  hostname: string | null;
  /** The IP it was last seen from. */
  ip: string | null;
  created_at: number;
  last_seen_at: number;
  /** The end of the latest license file issued for it: it keeps its slot until then (0012). */
  file_expires_at: Generated<number | null>;
  /** When a key holder or owner freed it while a file still held its slot (0012); null: active. */
  deactivated_at: Generated<number | null>;
}

/** A machine freed by a key holder (`key`) or an owner (`owner`), for their daily allowances (0010). */
export interface MachineDeactivationsTable {
  id: Generated<number>;
  license_id: number;
  by: 'key' | 'owner';
  time: number;
}

export interface LicenseProductsTable {
  license_id: number;
  product_id: number;
  position: number;
}

export interface AuthLogsTable {
  id: Generated<number>;
  time: number;
  license_id: number | null;
  product_id: number | null;
  ip: string;
  status: string;
  info: string | null;
  user_agent: string | null;
  /** The client endpoint (`validate`, `activate`…) that made the entry (0010); null: a check endpoint. */
  endpoint: Generated<string | null>;
}

export interface AuditLogsTable {
  id: Generated<number>;
  time: number;
  actor: string;
  action: string;
  target_type: string;
  target_id: string | null;
  before: string | null;
  after: string | null;
}

export interface SettingsTable {
  name: string;
  value: string;
}

/** Dashboard sign-in sessions (0005): only the SHA-256 of the cookie token is stored. */
export interface SessionsTable {
  id: Generated<number>;
  token_hash: string;
  user_id: number;
  /** `full`, or `totp` while the second factor is still owed. */
  stage: string;
  created_at: number;
  last_seen_at: number;
  expires_at: number;
  ip: string | null;
  user_agent: string | null;
}

/** Failed dashboard sign-ins (0005), one row per failure and scope (`ip:…`, `login:…`), for throttling. */
export interface SignInFailuresTable {
  id: Generated<number>;
  scope: string;
  time: number;
}

/** Management API tokens (0003): only the SHA-256 of the token is stored. */
export interface ApiTokensTable {
  id: Generated<number>;
  name: string;
  token_digest: string;
  /** The token's first characters (`kw_` + 6), so people can tell tokens apart. */
  prefix: string;
  /** JSON array of scopes such as `licenses:write`. */
  scopes: string;
  created_by: string;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
}

/** Idempotency-Key reservations and their answers (0003), kept 24 hours. */
export interface IdempotencyKeysTable {
  token_id: number;
  idem_key: string;
  /** SHA-256 of method, route and body: the same key with another request is refused. */
  request_hash: string;
  state: 'running' | 'done';
  status_code: number | null;
  /** The answer body, encrypted like keys (it may hold a clear key). */
  response: string | null;
  created_at: number;
  updated_at: number;
}

/** Outgoing webhook endpoints (0004); the signing secret is encrypted like keys. */
export interface WebhookEndpointsTable {
  id: Generated<number>;
  url: string;
  description: string | null;
  secret_cipher: string;
  /** JSON array of event types. */
  events: string;
  active: number;
  created_at: number;
  updated_at: number;
}

/** One event for one endpoint (0004): the queue and the delivery log in one table. */
export interface WebhookDeliveriesTable {
  id: Generated<number>;
  endpoint_id: number;
  event_id: string;
  event: string;
  /** The exact JSON body sent, fixed when queued so every attempt sends the same bytes. */
  payload: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  next_attempt_at: number;
  /** While set and in the future, one worker is sending it. */
  locked_until: number | null;
  /** Retries stop after this time. */
  retry_until: number;
  last_status_code: number | null;
  last_error: string | null;
  created_at: number;
  updated_at: number;
  delivered_at: number | null;
}

/** Answer-signing keys (0007). */
export interface SigningKeysTable {
  id: string;
  public_pem: string;
  private_cipher: string;
  created_at: number;
  retired_at: number | null;
}

/** SQLite only (0009): each change-feed topic's version, bumped by every change to it. */
export interface ChangeVersionsTable {
  topic: string;
  version: number;
}

/** Daily check counts kept when old Previous Auths are pruned; 0 = no license / no product. */
export interface AuthLogDailyTable {
  /** Days since 1970-01-01 (UTC). */
  day: number;
  license_id: number;
  product_id: number;
  status: string;
  checks: number;
}

export interface Database {
  users: UsersTable;
  products: ProductsTable;
  licenses: LicensesTable;
  license_products: LicenseProductsTable;
  policies: PoliciesTable;
  policy_products: PolicyProductsTable;
  machines: MachinesTable;
  machine_deactivations: MachineDeactivationsTable;
  auth_logs: AuthLogsTable;
  auth_log_daily: AuthLogDailyTable;
  audit_logs: AuditLogsTable;
  settings: SettingsTable;
  signing_keys: SigningKeysTable;
  sessions: SessionsTable;
  sign_in_failures: SignInFailuresTable;
  api_tokens: ApiTokensTable;
  idempotency_keys: IdempotencyKeysTable;
  webhook_endpoints: WebhookEndpointsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  change_versions: ChangeVersionsTable;
}

export type UserRow = Selectable<UsersTable>;
export type ProductRow = Selectable<ProductsTable>;
export type LicenseRow = Selectable<LicensesTable>;
export type PolicyRow = Selectable<PoliciesTable>;
export type MachineRow = Selectable<MachinesTable>;
export type AuthLogInsert = Insertable<AuthLogsTable>;
export type AuthLogRow = Selectable<AuthLogsTable>;
export type AuditLogRow = Selectable<AuditLogsTable>;
export type SigningKeyRow = Selectable<SigningKeysTable>;
export type SessionRow = Selectable<SessionsTable>;
export type ApiTokenRow = Selectable<ApiTokensTable>;
export type IdempotencyKeyRow = Selectable<IdempotencyKeysTable>;
export type WebhookEndpointRow = Selectable<WebhookEndpointsTable>;
export type WebhookDeliveryRow = Selectable<WebhookDeliveriesTable>;
