import type { FaxStoreRow } from './faxstore-row.js';
import type { FaxStoreUser } from './owners.js';

/** Where FaxStore rows come from: a live MySQL/MariaDB database or a CSV export. */
export interface FaxStoreSource {
  /** Names the source for people and the audit log; never includes a password. */
  readonly label: string;
  /** How many license rows there are (for progress). */
  count(): Promise<number>;
  /** The license rows, in FaxStore id order, a batch at a time. */
  rows(batchSize: number): AsyncIterable<FaxStoreRow[]>;
  /** Owners by FaxStore user id. Complete once `rows()` has been read to the end. */
  users(): Promise<Map<string, FaxStoreUser>>;
  close(): Promise<void>;
}

/** A problem with the source as a whole (unreachable, not a FaxStore database, bad CSV header). */
export class SourceError extends Error {
  override name = 'SourceError';
}
