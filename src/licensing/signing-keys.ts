import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import type { PublicKeyInfo, PublicKeysAnswer } from '../client/license-file.js';
import type { ChangeFeed } from '../storage/change-feed.js';
import type { SigningKeyRepository } from '../storage/signing-key-repository.js';
import type { Transactions } from '../storage/transactions.js';
import type { SigningKeyRow } from '../storage/schema.js';
import type { SigningKey } from './answer-signer.js';
import { iso } from './json.js';
import type { KeyCipher } from './key.js';

/** One key of GET /api/public-key: declared once, by the client library that reads it. */
export type PublicKeyJson = PublicKeyInfo;

/** What GET /api/public-key and `keyward keys show --json` answer. */
export type PublicKeysJson = PublicKeysAnswer;

/**
 * The Ed25519 keys that sign check answers. The first is created on first use; a rotation makes a
 * new current key and keeps the older ones listed, so answers signed by them still verify.
 */
export class SigningKeyService {
  constructor(
    private readonly repos: { signingKeys: SigningKeyRepository; transactions: Transactions },
    /** A cipher for the `signing-key-encryption-v1` purpose. */
    private readonly cipher: KeyCipher,
    private readonly changes: ChangeFeed,
  ) {}

  /** The current key, creating the first one if there is none. */
  async current(): Promise<SigningKey> {
    let rows = await this.repos.signingKeys.list();
    if (rows.length === 0) {
      await this.repos.signingKeys.insert(this.newKey());
      rows = await this.repos.signingKeys.list();
      // Instances that started at the same moment may each have created a first key: telling
      // them makes every one re-read and sign with the same (newest) key.
      await this.changes.announce('signing-keys');
    }
    const row = rows[0]!;
    return { id: row.id, privateKey: createPrivateKey(this.cipher.decrypt(row.private_cipher)) };
  }

  async publicKeys(): Promise<PublicKeysJson> {
    await this.current();
    const keys = (await this.repos.signingKeys.list()).map((row, i) => publicJson(row, i === 0));
    const current = keys[0]!;
    return { keyId: current.id, pem: current.pem, raw: current.raw, keys };
  }

  /** A new current key; the others are retired in the same transaction, with the audit entry. */
  async rotate(actor: string): Promise<PublicKeysJson> {
    const key = this.newKey();
    await this.repos.transactions.change('signing-keys', async (t) => {
      await t.signingKeys.insert(key);
      await t.signingKeys.retireAllBut(key.id, key.created_at);
      await t.audit.insert({ actor, action: 'signing_key.rotated', targetType: 'signing_key', targetId: key.id }, key.created_at);
    });
    return this.publicKeys();
  }

  private newKey(): SigningKeyRow {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    return {
      id: `kw${new Date().toISOString().slice(0, 10).replaceAll('-', '')}-${randomBytes(4).toString('hex')}`,
      public_pem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      private_cipher: this.cipher.encrypt(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()),
      created_at: Date.now(),
      retired_at: null,
    };
  }
}

function publicJson(row: SigningKeyRow, current: boolean): PublicKeyJson {
  const jwk = createPublicKey(row.public_pem).export({ format: 'jwk' });
  return {
    id: row.id,
    pem: row.public_pem,
    raw: Buffer.from(jwk.x!, 'base64url').toString('base64'),
    createdAt: iso(row.created_at)!,
    retiredAt: iso(row.retired_at),
    current,
  };
}
