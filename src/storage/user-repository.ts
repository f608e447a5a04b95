import { sql, type Insertable, type Kysely, type Updateable } from 'kysely';
import type { Database, UserRow, UsersTable } from './schema.js';

export interface UserFilter {
  /** Substring of the username or email. */
  q?: string;
  role?: UserRow['role'];
  afterId?: number;
  limit: number;
}

export class UserRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(row: Insertable<UsersTable>): Promise<UserRow> {
    return this.db.insertInto('users').values(row).returningAll().executeTakeFirstOrThrow();
  }

  findByUsername(username: string): Promise<UserRow | undefined> {
    return this.db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst();
  }

  findByLogin(login: string): Promise<UserRow | undefined> {
    return this.db
      .selectFrom('users')
      .selectAll()
      .where((eb) => eb.or([eb('username', '=', login), eb('email', '=', login)]))
      .orderBy('id')
      .executeTakeFirst();
  }

  findByDiscordId(discordId: string): Promise<UserRow | undefined> {
    return this.db.selectFrom('users').selectAll().where('discord_id', '=', discordId).executeTakeFirst();
  }

  list(filter: UserFilter): Promise<UserRow[]> {
    let q = this.db.selectFrom('users').selectAll();
    if (filter.q) {
      // `_`, `%` and `\` match themselves: escaped, with the ESCAPE clause SQLite needs (it has no default).
      const pattern = `%${filter.q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      const like = sql<string>`${pattern} escape '\\'`;
      q = q.where((eb) => eb.or([eb('username', 'like', like), eb('email', 'like', like)]));
    }
    if (filter.role) q = q.where('role', '=', filter.role);
    if (filter.afterId !== undefined) q = q.where('id', '>', filter.afterId);
    return q.orderBy('id').limit(filter.limit).execute();
  }

  async update(id: number, patch: Updateable<UsersTable>): Promise<void> {
    await this.db.updateTable('users').set(patch).where('id', '=', id).execute();
  }

  /** Every user's id, username and Discord id (imports match owners against them). */
  identities(): Promise<Pick<UserRow, 'id' | 'username' | 'discord_id'>[]> {
    return this.db.selectFrom('users').select(['id', 'username', 'discord_id']).execute();
  }

  /**
   * Inserts many users in one transaction, skipping any whose username or Discord id is taken
   * meanwhile. Returns the users added.
   */
  async insertMany(rows: readonly Insertable<UsersTable>[]): Promise<Pick<UserRow, 'id' | 'username'>[]> {
    if (rows.length === 0) return [];
    return this.db.transaction().execute(async (trx) => {
      const added: Pick<UserRow, 'id' | 'username'>[] = [];
      // 8 columns a row: 1000 rows stay below both dialects' parameter limits.
      for (let i = 0; i < rows.length; i += 1000) {
        added.push(
          ...(await trx
            .insertInto('users')
            .values(rows.slice(i, i + 1000))
            .onConflict((oc) => oc.doNothing())
            .returning(['id', 'username'])
            .execute()),
        );
      }
      return added;
    });
  }

  get(id: number): Promise<UserRow | undefined> {
    return this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async countAdmins(): Promise<number> {
    const row = await this.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('role', '=', 'admin')
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  /**
   * Locks every enabled admin's row until the surrounding transaction ends (a no-op update), so two
   * transactions that each take one admin away cannot both see the other admin still there.
   */
  async lockEnabledAdmins(): Promise<void> {
    await this.db
      .updateTable('users')
      .set((eb) => ({ role: eb.ref('role') }))
      .where('role', '=', 'admin')
      .where('disabled', '=', 0)
      .execute();
  }

  /** Admins who may sign in, other than `exceptId`. */
  async countEnabledAdmins(exceptId?: number): Promise<number> {
    let q = this.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('role', '=', 'admin')
      .where('disabled', '=', 0);
    if (exceptId !== undefined) q = q.where('id', '!=', exceptId);
    const row = await q.executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  /** Sets or clears the (encrypted) TOTP secret; a new secret starts unconfirmed and unused. */
  async setTotp(id: number, secret: string | null, enabled: boolean, now: number): Promise<void> {
    await this.db
      .updateTable('users')
      .set({ totp_secret: secret, totp_enabled: enabled ? 1 : 0, totp_last_step: null, updated_at: now })
      .where('id', '=', id)
      .execute();
  }

  async enableTotp(id: number, step: number, now: number): Promise<void> {
    await this.db.updateTable('users').set({ totp_enabled: 1, totp_last_step: step, updated_at: now }).where('id', '=', id).execute();
  }

  /** Records a used TOTP step; false when this or a later step was used already (a replayed code). */
  async claimTotpStep(id: number, step: number): Promise<boolean> {
    const result = await this.db
      .updateTable('users')
      .set({ totp_last_step: step })
      .where('id', '=', id)
      .where((eb) => eb.or([eb('totp_last_step', 'is', null), eb('totp_last_step', '<', step)]))
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }
}
