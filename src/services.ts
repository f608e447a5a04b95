import type { Config } from './config.js';
import { KeyCipher } from './licensing/key.js';
import { LicenseService } from './licensing/license-service.js';
import { LogService } from './licensing/log-service.js';
import { ProductService } from './licensing/product-service.js';
import { loadSecret, SECRET_MISMATCH, secretFingerprint } from './licensing/secret.js';
import { UserService } from './licensing/user-service.js';
import { AuditRepository } from './storage/audit-repository.js';
import { AuthLogRepository } from './storage/auth-log-repository.js';
import { openStorage, type Storage } from './storage/database.js';
import { LicenseRepository } from './storage/license-repository.js';
import { ProductRepository } from './storage/product-repository.js';
import { SettingsRepository } from './storage/settings-repository.js';
import { UserRepository } from './storage/user-repository.js';

/** Everything the server and the CLI share: storage, repositories and domain services, wired once. */
export interface Services {
  config: Config;
  storage: Storage;
  repos: {
    licenses: LicenseRepository;
    products: ProductRepository;
    users: UserRepository;
    audit: AuditRepository;
    authLogs: AuthLogRepository;
  };
  licenses: LicenseService;
  products: ProductService;
  users: UserService;
  logs: LogService;
  close(): Promise<void>;
}

export async function openServices(config: Config): Promise<Services> {
  const secret = loadSecret(config.KEYWARD_SECRET, config.DATA_DIR);
  const storage = await openStorage({ dialect: config.dialect, databaseUrl: config.DATABASE_URL, sqlitePath: config.sqlitePath });
  // Refuse to run with a secret other than the database's: keys it encrypts would be unreadable.
  const fingerprint = secretFingerprint(secret);
  const stored = await new SettingsRepository(storage.db).setIfAbsent('secret_fingerprint', fingerprint).catch(async (err) => {
    await storage.close();
    throw err;
  });
  if (stored !== fingerprint) {
    await storage.close();
    throw new Error(SECRET_MISMATCH);
  }
  const cipher = new KeyCipher(secret);
  const { db, changes } = storage;
  const repos = {
    licenses: new LicenseRepository(db),
    products: new ProductRepository(db),
    users: new UserRepository(db),
    audit: new AuditRepository(db),
    authLogs: new AuthLogRepository(db, storage.dialect),
  };
  return {
    config,
    storage,
    repos,
    licenses: new LicenseService(repos, cipher, changes),
    products: new ProductService(repos, changes),
    users: new UserService(repos, changes),
    logs: new LogService(repos),
    close: () => storage.close(),
  };
}
