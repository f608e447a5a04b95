// Shapes the tests expect, written out here rather than imported from src/, so a changed format
// in the code fails a test instead of changing what the test accepts (docs/security.md, docs/api.md).

/** A license key: 45 characters of base64url. */
export const LICENSE_KEY = /^[A-Za-z0-9_-]{45}$/;

/** An API token as shown once: `kw_` and 43 characters of base64url. */
export const API_TOKEN = /^kw_[A-Za-z0-9_-]{43}$/;

/** A time in the API's and the CLI's JSON: ISO 8601 UTC with milliseconds. */
export const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
