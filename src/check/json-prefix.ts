type Frame =
  | { array: readonly unknown[]; i: number }
  | { object: Record<string, unknown>; names: string[]; i: number; wrote: boolean };

/**
 * The start of `JSON.stringify(value)`: at least its first `max` characters (all of it when it is
 * shorter), written without recursion and without going further. A check's `info` is stored as
 * its JSON text cut to 1,000 characters, and JSON.stringify cannot write a value nested a few
 * thousand levels deep (it runs out of stack) and would write all of a huge one. For what
 * JSON.parse returns (plain objects, arrays, strings, numbers, booleans, null) the text is
 * JSON.stringify's to the character.
 */
export function jsonPrefix(value: unknown, max: number): string {
  let out = '';
  const stack: Frame[] = [];
  let next: unknown = value;
  for (;;) {
    if (typeof next === 'object' && next !== null) {
      if (Array.isArray(next)) {
        out += '[';
        stack.push({ array: next, i: 0 });
      } else {
        out += '{';
        const object = next as Record<string, unknown>;
        stack.push({ object, names: Object.keys(object), i: 0, wrote: false });
      }
    } else {
      out += primitive(next, max - out.length);
    }
    // Close finished arrays and objects until one has a next value, or the text is long enough.
    for (;;) {
      if (out.length >= max) return out;
      const top = stack[stack.length - 1];
      if (!top) return out;
      if ('array' in top) {
        if (top.i < top.array.length) {
          if (top.i > 0) out += ',';
          next = top.array[top.i++];
          break;
        }
        out += ']';
      } else {
        while (top.i < top.names.length && skipped(top.object[top.names[top.i]!])) top.i++;
        if (top.i < top.names.length) {
          const name = top.names[top.i++]!;
          out += `${top.wrote ? ',' : ''}${quote(name, max - out.length)}:`;
          top.wrote = true;
          next = top.object[name];
          break;
        }
        out += '}';
      }
      stack.pop();
    }
  }
}

/** Values JSON.stringify leaves out of an object (and writes as null in an array). */
const skipped = (v: unknown): boolean => v === undefined || typeof v === 'function' || typeof v === 'symbol';

function primitive(v: unknown, room: number): string {
  if (typeof v === 'string') return quote(v, room);
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : 'null';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  return 'null';
}

/**
 * A string's JSON text, or enough of it: a string longer than the room left is quoted from one
 * character more than that room, so whatever is escaped differently at the cut (half of a
 * surrogate pair) lies beyond what the caller keeps.
 */
const quote = (text: string, room: number): string => JSON.stringify(text.length > room ? text.slice(0, Math.max(room, 0) + 1) : text);
