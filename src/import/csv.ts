/** One CSV record: its cells (null for an unquoted `\N` or `NULL`) and the line it starts on. */
export interface CsvRecord {
  cells: (string | null)[];
  line: number;
}

export class CsvError extends Error {
  override name = 'CsvError';
}

/**
 * Parses RFC 4180 CSV: quoted fields may hold the delimiter, `""` and line breaks; CRLF or LF
 * line ends; a UTF-8 BOM is ignored. The delimiter is `,`, `;` or a tab, whichever the header
 * line uses. Blank lines are skipped. Cells are slices of the input (no per-character building).
 */
export function parseCsv(input: string): CsvRecord[] {
  const text = input.charCodeAt(0) === 0xfeff ? input.slice(1) : input;
  const delimiter = detectDelimiter(text);
  const n = text.length;
  const records: CsvRecord[] = [];
  let cells: (string | null)[] = [];
  let line = 1;
  let recordLine = 1;
  let i = 0;
  const endRecord = () => {
    if (!(cells.length === 1 && cells[0] === '')) records.push({ cells, line: recordLine });
    cells = [];
  };
  while (i <= n) {
    // At the start of a cell.
    if (text[i] === '"') {
      const start = line;
      let value = '';
      let from = i + 1;
      for (let j = from; ; ) {
        const q = text.indexOf('"', j);
        if (q === -1) throw new CsvError(`CSV line ${start}: a quoted field is never closed`);
        for (let k = text.indexOf('\n', j); k !== -1 && k < q; k = text.indexOf('\n', k + 1)) line++;
        if (text[q + 1] === '"') {
          value += text.slice(from, q + 1);
          from = j = q + 2;
          continue;
        }
        value += text.slice(from, q);
        i = q + 1;
        break;
      }
      cells.push(value);
      const next = text[i];
      if (next !== undefined && next !== delimiter && next !== '\n' && next !== '\r') {
        throw new CsvError(`CSV line ${line}: unexpected text after a closing quote`);
      }
    } else {
      let end = i;
      while (end < n) {
        const c = text[end];
        if (c === delimiter || c === '\n' || c === '\r') break;
        end++;
      }
      const value = text.slice(i, end);
      cells.push(value === '\\N' || value === 'NULL' ? null : value);
      i = end;
    }
    // After a cell: a delimiter, a line end, or the end of the input.
    const c = text[i];
    if (c === delimiter) {
      i++;
      continue;
    }
    endRecord();
    if (c === undefined) break;
    i += c === '\r' && text[i + 1] === '\n' ? 2 : 1;
    line++;
    recordLine = line;
    if (i >= n) break;
  }
  return records;
}

function detectDelimiter(input: string): string {
  const end = input.search(/\r?\n/);
  const header = end === -1 ? input : input.slice(0, end);
  const counts = [',', ';', '\t'].map((d) => [d, header.split(d).length - 1] as const);
  counts.sort((a, b) => b[1] - a[1]);
  return counts[0]![1] > 0 ? counts[0]![0] : ',';
}
