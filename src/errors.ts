/** The closed list of domain error codes, with the HTTP status an HTTP layer maps each to. */
export const ERROR_CODES = {
  invalid_input: 400,
  product_not_found: 404,
  license_not_found: 404,
  user_not_found: 404,
  policy_not_found: 404,
  machine_not_found: 404,
  product_exists: 409,
  product_in_use: 409,
  policy_in_use: 409,
  username_taken: 409,
  key_exists: 409,
  conflict: 409,
  usage_exceeded: 409,
  file_not_allowed: 409,
  // The management API (/api/v1) and its tokens, idempotency and webhooks.
  unauthorized: 401,
  forbidden: 403,
  route_not_found: 404,
  token_not_found: 404,
  webhook_not_found: 404,
  delivery_not_found: 404,
  token_name_taken: 409,
  idempotency_key_in_use: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  idempotency_key_reused: 422,
  rate_limited: 429,
  internal_error: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** A fault the caller can fix; the message is safe to show (it never contains a key). */
export class KeywardError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Machine-readable specifics (e.g. the fields that failed validation); safe to show. */
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'KeywardError';
    this.status = ERROR_CODES[code];
  }
}
