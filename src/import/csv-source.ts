import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { CSV_EXTRA_COLUMNS, FAXSTORE_COLUMNS, text, type FaxStoreColumn, type FaxStoreRow } from './faxstore-row.js';
import { CsvError, parseCsv, type CsvRecord } from './csv.js';
import type { FaxStoreUser } from './owners.js';
import { SourceError, type FaxStoreSource } from './source.js';

const KNOWN: readonly FaxStoreColumn[] = [...FAXSTORE_COLUMNS, ...CSV_EXTRA_COLUMNS];
const REQUIRED: readonly FaxStoreColumn[] = ['authKey', 'productId'];

/**
 * A CSV export of `licensesystem`: a header line naming the columns (any order, any case; unknown
 * columns ignored), optionally with `username` and `email` for the owner. The file is read whole.
 */
export async function openCsvSource(file: string): Promise<FaxStoreSource> {
  let content: string;
  try {
    content = await readFile(file, 'utf8');
  } catch (err) {
    throw new SourceError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let records: CsvRecord[];
  try {
    records = parseCsv(content);
  } catch (err) {
    if (err instanceof CsvError) throw new SourceError(`${path.basename(file)}: ${err.message}`);
    throw err;
  }
  const header = records.shift();
  if (!header) throw new SourceError(`${path.basename(file)} is empty; it needs a header line (${FAXSTORE_COLUMNS.join(',')})`);
  const columns = header.cells.map((name) => KNOWN.find((k) => k.toLowerCase() === (name ?? '').trim().toLowerCase()) ?? null);
  const missing = REQUIRED.filter((c) => !columns.includes(c));
  if (missing.length) {
    throw new SourceError(
      `${path.basename(file)}: the header line has no ${missing.join(' or ')} column (expected ${FAXSTORE_COLUMNS.join(',')})`,
    );
  }
  const users = new Map<string, FaxStoreUser>();
  return {
    label: `csv:${path.basename(file)}`,
    count: async () => records.length,
    async *rows(batchSize) {
      for (let i = 0; i < records.length; i += batchSize) {
        const batch: FaxStoreRow[] = [];
        for (const record of records.slice(i, i + batchSize)) {
          const row: FaxStoreRow = { line: record.line };
          columns.forEach((column, index) => {
            if (column) row[column] = record.cells[index] ?? null;
          });
          const owner = text(row.userId)?.trim();
          const username = text(row.username)?.trim();
          if (owner && username && !users.has(owner)) users.set(owner, { username, email: text(row.email)?.trim() || null });
          batch.push(row);
        }
        yield batch;
      }
    },
    users: async () => users,
    close: async () => {},
  };
}
