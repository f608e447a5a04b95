import { describe, expect, it } from 'vitest';
import { CsvError, parseCsv } from './csv.js';

describe('parseCsv', () => {
  it('reads RFC 4180: quotes, doubled quotes, delimiters and line breaks inside quotes, CRLF', () => {
    const records = parseCsv('id,name,note\r\n1,"a, ""b""","two\nlines"\r\n2,plain,\r\n');
    expect(records).toEqual([
      { cells: ['id', 'name', 'note'], line: 1 },
      { cells: ['1', 'a, "b"', 'two\nlines'], line: 2 },
      { cells: ['2', 'plain', ''], line: 4 },
    ]);
  });

  it('reads unquoted \\N and NULL as null, but quoted ones as text; skips blank lines; ignores a BOM', () => {
    expect(parseCsv('\ufeffa,b,c,d\n\n\\N,NULL,"NULL","\\N"').map((r) => r.cells)).toEqual([
      ['a', 'b', 'c', 'd'],
      [null, null, 'NULL', '\\N'],
    ]);
  });

  it('takes the delimiter the header uses: comma, semicolon or tab', () => {
    expect(parseCsv('a;b\n1;2,5').map((r) => r.cells)).toEqual([['a', 'b'], ['1', '2,5']]);
    expect(parseCsv('a\tb\n1\t2').map((r) => r.cells)).toEqual([['a', 'b'], ['1', '2']]);
  });

  it('reports an unclosed quote or text after a closing quote with its line', () => {
    expect(() => parseCsv('a,b\n1,"open\n2,3')).toThrow(new CsvError('CSV line 2: a quoted field is never closed'));
    expect(() => parseCsv('a,b\n"x"y,2')).toThrow(/line 2: unexpected text after a closing quote/);
  });
});
