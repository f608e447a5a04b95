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
 * line uses. Blank lines are skipped.
 */
export function parseCsv(input: string): CsvRecord[] {
  const textIn = input.charCodeAt(0) === 0xfeff ? input.slice(1) : input;
  const delimiter = detectDelimiter(textIn);
  const records: CsvRecord[] = [];
  let cells: (string | null)[] = [];
  let cell = '';
  let quoted = false;
  let line = 1;
  let recordLine = 1;
  let i = 0;
  const n = textIn.length;
  const endCell = () => {
    cells.push(!quoted && (cell === '\\N' || cell === 'NULL') ? null : cell);
    cell = '';
    quoted = false;
  };
  const endRecord = () => {
    endCell();
    if (!(cells.length === 1 && cells[0] === '')) records.push({ cells, line: recordLine });
    cells = [];
  };
  while (i < n) {
    const c = textIn[i]!;
    if (c === '"' && cell === '' && !quoted) {
      // A quoted field: read to the closing quote.
      quoted = true;
      const start = line;
      i++;
      for (;;) {
        if (i >= n) throw new CsvError(`CSV line ${start}: a quoted field is never closed`);
        const q = textIn[i]!;
        if (q === '"') {
          if (textIn[i + 1] === '"') {
            cell += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        if (q === '\n') line++;
        cell += q;
        i++;
      }
      const next = textIn[i];
      if (next !== undefined && next !== delimiter && next !== '\n' && next !== '\r') {
        throw new CsvError(`CSV line ${line}: unexpected text after a closing quote`);
      }
      continue;
    }
    if (c === delimiter) {
      endCell();
      i++;
    } else if (c === '\r' || c === '\n') {
      endRecord();
      i += c === '\r' && textIn[i + 1] === '\n' ? 2 : 1;
      line++;
      recordLine = line;
    } else {
      if (quoted) throw new CsvError(`CSV line ${line}: unexpected text after a closing quote`);
      cell += c;
      i++;
    }
  }
  if (cell !== '' || quoted || cells.length > 0) endRecord();
  return records;
}

function detectDelimiter(input: string): string {
  const end = input.search(/\r?\n/);
  const header = end === -1 ? input : input.slice(0, end);
  const counts = [',', ';', '\t'].map((d) => [d, header.split(d).length - 1] as const);
  counts.sort((a, b) => b[1] - a[1]);
  return counts[0]![1] > 0 ? counts[0]![0] : ',';
}
