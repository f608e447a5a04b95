import type { Insertable, Kysely, Updateable } from 'kysely';
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
      const pattern = `%${filter.q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      q = q.where((eb) => eb.or([eb('username', 'like', pattern), eb('email', 'like', pattern)]));
    }
    if (filter.role) q = q.where('role', '=', filter.role);
    if (filter.afterId !== undefined) q = q.where('id', '>', filter.afterId);
    return q.orderBy('id').limit(filter.limit).execute();
  }

  async update(id: number, patch: Updateable<UsersTable>): Promise<void> {
    await this.db.updateTable('users').set(patch).where('id', '=', id).execute();
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
}
