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

export interface Database {
  users: UsersTable;
  products: ProductsTable;
  licenses: LicensesTable;
  license_products: LicenseProductsTable;
  auth_logs: AuthLogsTable;
  audit_logs: AuditLogsTable;
  settings: SettingsTable;
}

export type UserRow = Selectable<UsersTable>;
export type ProductRow = Selectable<ProductsTable>;
export type LicenseRow = Selectable<LicensesTable>;
export type AuthLogInsert = Insertable<AuthLogsTable>;
export type AuthLogRow = Selectable<AuthLogsTable>;
export type AuditLogRow = Selectable<AuditLogsTable>;
