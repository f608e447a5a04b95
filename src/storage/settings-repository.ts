import { sql, type Kysely } from 'kysely';
import type { Database } from './schema.js';

export class SettingsRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async get(name: string): Promise<string | undefined> {
    const row = await this.db.selectFrom('settings').select('value').where('name', '=', name).executeTakeFirst();
    return row?.value;
  }

  /** Stores the value unless one is already there; returns the value that is stored. */
  async setIfAbsent(name: string, value: string): Promise<string> {
    await this.db
      .insertInto('settings')
      .values({ name, value })
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
    return (await this.get(name)) ?? value;
  }

  /** Stores the value, replacing any earlier one. */
  async set(name: string, value: string): Promise<void> {
    await this.db
      .insertInto('settings')
      .values({ name, value })
      .onConflict((oc) => oc.column('name').doUpdateSet({ value }))
      .execute();
  }

  /** Removes the setting and returns the value it had; only one caller can take a value. */
  async take(name: string): Promise<string | undefined> {
    const row = await this.db.deleteFrom('settings').where('name', '=', name).returning('value').executeTakeFirst();
    return row?.value;
  }

  /** Removes every setting whose name starts with the prefix. */
  async deleteByPrefix(prefix: string): Promise<void> {
    const pattern = `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    await this.db.deleteFrom('settings').where('name', 'like', sql<string>`${pattern} escape '\\'`).execute();
  }
}
