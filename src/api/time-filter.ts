import { KeywardError } from '../errors.js';
import { parseIsoTime } from '../licensing/values.js';

/** A time filter from the query string, as epoch ms; a bad one names its field. */
export function timeParam(field: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  try {
    return parseIsoTime(value);
  } catch (err) {
    throw new KeywardError('invalid_input', (err as Error).message, [{ in: 'querystring', field, message: 'is not an ISO 8601 date or date-time' }]);
  }
}
