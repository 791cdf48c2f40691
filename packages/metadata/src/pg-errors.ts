/**
 * SQLSTATE of a failed query. drizzle wraps driver errors (DrizzleQueryError.cause); postgres.js
 * and PGlite both put the SQLSTATE in `code`, so this walks the cause chain.
 */
export function sqlState(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
  }
  return undefined;
}

export const UNIQUE_VIOLATION = '23505';
export const FOREIGN_KEY_VIOLATION = '23503';
