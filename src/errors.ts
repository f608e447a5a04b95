/** The closed list of domain error codes, with the HTTP status an HTTP layer maps each to. */
export const ERROR_CODES = {
  invalid_input: 400,
  product_not_found: 404,
  license_not_found: 404,
  user_not_found: 404,
  product_exists: 409,
  product_in_use: 409,
  username_taken: 409,
  key_exists: 409,
  conflict: 409,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** A fault the caller can fix; the message is safe to show (it never contains a key). */
export class KeywardError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'KeywardError';
    this.status = ERROR_CODES[code];
  }
}
