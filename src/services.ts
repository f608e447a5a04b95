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
import { PolicyRepository } from './storage/policy-repository.js';
import { MachineRepository } from './storage/machine-repository.js';
import { PolicyService } from './licensing/policy-service.js';
import { MachineService } from './licensing/machine-service.js';
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
import { SessionService } from './dashboard/auth/session-service.js';
import { SetupTokens } from './dashboard/auth/setup-token.js';
import { SignInThrottle } from './dashboard/auth/sign-in-throttle.js';
import { TwoFactorService } from './dashboard/auth/two-factor.js';
import type { BindFirstIp, CheckPathWrites } from './storage/license-cache.js';
import { FirstUse } from './licensing/first-use.js';
import { UsageService } from './licensing/usage-service.js';
import { LicenseFileService } from './licensing/license-file-service.js';
import { WebhookService } from './licensing/webhook-service.js';

/**
 * The domain: every rule and every write, for every front end (REST API, dashboard, CLI). Routes
 * reach data only through these services; the repositories behind them are not part of it.
 */
export interface Services {
  config: Config;
  /** A 32-byte key derived (HKDF) from the server secret for one purpose only (e.g. signing cookies). */
  deriveKey(purpose: string): Buffer;
  /** `keyward import faxstore`: bulk import of a FaxStore License System. */
  faxstoreImport: FaxStoreImporter;
  /** Checks per day for charts, from the daily counts and the live Previous Auths. */
  checkStats: CheckStats;
  licenses: LicenseService;
  products: ProductService;
  /** Templates for licenses: products, duration, machine limits (docs/machines.md). */
  policies: PolicyService;
  /** The devices or servers licenses run on: activation, deactivation, heartbeat deaths. */
  machines: MachineService;
  users: UserService;
  logs: LogService;
  /** The Ed25519 keys that sign check answers (and license files). */
  signingKeys: SigningKeyService;
  /** Metered usage: the counters and their limits (docs/license-files.md). */
  usage: UsageService;
  /** Offline license files (docs/license-files.md). */
  licenseFiles: LicenseFileService;
  /** Management API tokens: create (shown once), list, revoke; the API authenticates with it. */
  tokens: TokenService;
  /** Idempotency-Key reservations for the API's creates. */
  idempotency: IdempotencyService;
  /** Webhook endpoints and their delivery log. */
  webhooks: WebhookService;
  /** Dashboard sign-in sessions, and the CSRF key every instance shares. */
  sessions: SessionService;
  /** Counted password, second-factor and sign-up attempts (dashboard). */
  signInThrottle: SignInThrottle;
  /** The dashboard's TOTP second factor. */
  twoFactor: TwoFactorService;
  /** First-run setup: one-time URLs that create the first admin. */
  setupTokens: SetupTokens;
  close(): Promise<void>;
}

/**
 * What only the server itself (its check path and background jobs) and tests reach; never handed
 * to routes. The check path reads and writes below the services, for speed: it has its own rules
 * (licensing/check-license.ts) and writes only Previous Auths and first-IP binds.
 */
export interface Internals {
  storage: Storage;
  /** The server secret's cipher (keys at rest), for tests that read rows directly. */
  cipher: KeyCipher;
  /** What the license cache reads and the write-behind writes; the first-IP bind goes through the domain. */
  checkPath: {
    licenses: LicenseRepository;
    products: ProductRepository;
    policies: PolicyRepository;
    machines: MachineRepository;
    authLogs: AuthLogRepository;
    bindFirstIp: BindFirstIp;
    /** New machines, deactivations and first uses: the check path's writes through the domain. */
    writes: CheckPathWrites;
  };
  /** Daily counts of pruned Previous Auths (AUTH_LOG_RETENTION_DAYS), for the retention job. */
  retention: RetentionRepository;
  /** For the delivery worker: the delivery queue, and check events (failed checks, first-IP binds). */
  webhookDelivery: {
    repo: WebhookRepository;
    queue: WebhookQueue;
    checkEvents: CheckEventTap;
  };
}

/** Opens the database and wires every service once: the CLI uses `services`; the server both. */
export async function openServices(config: Config): Promise<{ services: Services; internal: Internals }> {
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
    policies: new PolicyRepository(db),
    machines: new MachineRepository(db),
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
  const webhookQueue = new WebhookQueue(repos.webhooks, changes);
  const users = new UserService(repos);
  const machines = new MachineService(repos, webhookQueue);
  const firstUse = new FirstUse(repos.transactions, webhookQueue);
  const usage = new UsageService(repos, webhookQueue);
  const signingKeys = new SigningKeyService(
    { signingKeys: new SigningKeyRepository(db), transactions: repos.transactions },
    new KeyCipher(secret, 'signing-key-encryption-v1'),
    changes,
  );
  const licenseFiles = new LicenseFileService(repos, signingKeys, cipher);
  const firstIpBind = new FirstIpBind(repos.transactions, (id, ips, time) => checkEvents.ipBound(id, ips, time));
  const services: Services = {
    config,
    deriveKey: (purpose) => Buffer.from(hkdfSync('sha256', secret, 'keyward', purpose, 32)),
    faxstoreImport: new FaxStoreImporter(repos, cipher, changes),
    checkStats: new CheckStats(repos.retention),
    licenses: new LicenseService(repos, cipher, webhookQueue, { ipChangesPerDay: config.IP_CHANGES_PER_DAY }),
    products: new ProductService(repos),
    policies: new PolicyService(repos),
    machines,
    users,
    logs: new LogService(repos),
    signingKeys,
    usage,
    licenseFiles,
    tokens: new TokenService(repos, changes),
    idempotency: new IdempotencyService(repos.idempotency, cipher),
    webhooks: new WebhookService(repos, webhookQueue, cipher, { allowPrivate: config.WEBHOOK_ALLOW_PRIVATE }),
    sessions: new SessionService(repos.sessions, repos.users, repos.settings),
    signInThrottle: new SignInThrottle(repos.sessions),
    twoFactor: new TwoFactorService(repos.users, repos.transactions, cipher),
    setupTokens: new SetupTokens(repos.settings, users),
    close: () => storage.close(),
  };
  const internal: Internals = {
    storage,
    cipher,
    checkPath: {
      licenses: repos.licenses,
      products: repos.products,
      policies: repos.policies,
      machines: repos.machines,
      authLogs: repos.authLogs,
      bindFirstIp: (id, ip, now) => firstIpBind.bind(id, ip, now),
      writes: {
        activateMachine: (id, fingerprint, details, mode, now) => machines.activate(id, fingerprint, details, mode, now),
        deactivateMachine: (id, fingerprint, now) => machines.deactivate(id, { fingerprint }, { by: 'key' }, now),
        startFirstUse: (id, now) => firstUse.start(id, now),
        use: (id, increment, now) => usage.use(id, increment, now),
        uses: (id) => usage.uses(id),
        issueFile: (id, key, fingerprint, machineId, file, now) => licenseFiles.issue(id, { key, fingerprint, machineId, ...file }, 'license key', now),
      },
    },
    retention: repos.retention,
    webhookDelivery: { repo: repos.webhooks, queue: webhookQueue, checkEvents },
  };
  return { services, internal };
}
