import { hkdfSync } from 'node:crypto';
import { IdempotencyService } from './licensing/idempotency-service.js';
import { TokenService } from './licensing/token-service.js';
import type { Config } from './config.js';
import { FaxStoreImporter } from './import/faxstore-import.js';
import { KeyCipher } from './licensing/key.js';
import { CheckStats } from './licensing/check-stats.js';
import { LicenseService } from './licensing/license-service.js';
import { FirstIpBind } from './licensing/first-ip-bind.js';
import { LogService } from './licensing/log-service.js';
import { SigningKeyService } from './licensing/signing-keys.js';
import { SigningKeyRepository } from './storage/signing-key-repository.js';
import { ProductService } from './licensing/product-service.js';
import { loadSecret, SECRET_MISMATCH, secretFingerprint } from './licensing/secret.js';
import { UserService } from './licensing/user-service.js';
import { AuditRepository } from './storage/audit-repository.js';
import { AuthLogRepository } from './storage/auth-log-repository.js';
import { openStorage, type Storage } from './storage/database.js';
import { LicenseRepository } from './storage/license-repository.js';
import { ProductRepository } from './storage/product-repository.js';
import { SessionRepository } from './storage/session-repository.js';
import { RetentionRepository } from './storage/retention-repository.js';
import { SettingsRepository } from './storage/settings-repository.js';
import { Transactions } from './storage/transactions.js';
import { UserRepository } from './storage/user-repository.js';
import { ApiTokenRepository } from './storage/api-token-repository.js';
import { IdempotencyRepository } from './storage/idempotency-repository.js';
import { WebhookRepository } from './storage/webhook-repository.js';
import { CheckEventTap } from './webhooks/check-events.js';
import { TappedAuthLogRepository } from './webhooks/check-taps.js';
import { WebhookQueue } from './webhooks/webhook-queue.js';
import { WebhookService } from './licensing/webhook-service.js';

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
    /** Daily counts of pruned Previous Auths (AUTH_LOG_RETENTION_DAYS). */
    retention: RetentionRepository;
    tokens: ApiTokenRepository;
    idempotency: IdempotencyRepository;
    webhooks: WebhookRepository;
    /** Dashboard sign-in sessions and failed sign-ins. */
    sessions: SessionRepository;
    settings: SettingsRepository;
    /** One transaction over the license, user, session and audit repositories (all-or-nothing changes). */
    transactions: Transactions;
  };
  /** Encrypts secrets at rest with the server secret (license keys; the dashboard's TOTP secrets). */
  cipher: KeyCipher;
  /** A 32-byte key derived (HKDF) from the server secret for one purpose only (e.g. signing cookies). */
  deriveKey(purpose: string): Buffer;
  /** `keyward import faxstore`: bulk import of a FaxStore License System. */
  faxstoreImport: FaxStoreImporter;
  /** Checks per day for charts, from the daily counts and the live Previous Auths. */
  checkStats: CheckStats;
  licenses: LicenseService;
  products: ProductService;
  users: UserService;
  logs: LogService;
  /** The Ed25519 keys that sign check answers. */
  signingKeys: SigningKeyService;
  /** Management API tokens: create (shown once), list, revoke; the API authenticates with it. */
  tokens: TokenService;
  /** Idempotency-Key reservations for the API's creates. */
  idempotency: IdempotencyService;
  /** Webhook endpoints and their delivery log. */
  webhooks: WebhookService;
  /** Queues webhook deliveries in the database (LicenseService's event sink). */
  webhookQueue: WebhookQueue;
  /** Check-path events (failed checks, first-IP binds) for the server's webhook forwarder. */
  checkEvents: CheckEventTap;
  /** The check path's one write to a license: its first caller's IP, with the audit entry. */
  firstIpBind: FirstIpBind;
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
  // The check path's writes tell the tap what happened, after they are committed.
  const checkEvents = new CheckEventTap();
  const repos = {
    licenses: new LicenseRepository(db),
    products: new ProductRepository(db),
    users: new UserRepository(db),
    audit: new AuditRepository(db),
    retention: new RetentionRepository(db),
    authLogs: new TappedAuthLogRepository(storage, checkEvents),
    tokens: new ApiTokenRepository(db),
    idempotency: new IdempotencyRepository(db),
    webhooks: new WebhookRepository(db, storage.dialect),
    sessions: new SessionRepository(db, storage.dialect),
    settings: new SettingsRepository(db),
    transactions: new Transactions(db, storage.dialect, changes),
  };
  const webhookQueue = new WebhookQueue(repos.webhooks);
  return {
    config,
    storage,
    repos,
    cipher,
    deriveKey: (purpose) => Buffer.from(hkdfSync('sha256', secret, 'keyward', purpose, 32)),
    faxstoreImport: new FaxStoreImporter(repos, cipher, changes),
    checkStats: new CheckStats(repos.retention),
    licenses: new LicenseService(repos, cipher, webhookQueue, { ipChangesPerDay: config.IP_CHANGES_PER_DAY }),
    products: new ProductService(repos),
    users: new UserService(repos),
    logs: new LogService(repos),
    signingKeys: new SigningKeyService(
      { signingKeys: new SigningKeyRepository(db), transactions: repos.transactions },
      new KeyCipher(secret, 'signing-key-encryption-v1'),
      changes,
    ),
    tokens: new TokenService(repos, changes),
    idempotency: new IdempotencyService(repos.idempotency, cipher),
    webhooks: new WebhookService(repos, webhookQueue, cipher, { allowPrivate: config.WEBHOOK_ALLOW_PRIVATE }),
    webhookQueue,
    checkEvents,
    firstIpBind: new FirstIpBind(repos.transactions, (id, ips, time) => checkEvents.ipBound(id, ips, time)),
    close: () => storage.close(),
  };
}
