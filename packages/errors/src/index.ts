/**
 * Every error fever raises on purpose carries a stable `code` (machine-readable, never reworded)
 * and an HTTP status hint, so the API, the CLI and the job runners can map it without guessing.
 */
export class FeverError extends Error {
  readonly code: string;
  readonly status: number;

  constructor(code: string, message: string, options?: { status?: number; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.status = options?.status ?? 500;
  }
}

/** Input that will never work however often it is retried (a broken image, a bad argument). */
export class InputError extends FeverError {
  constructor(code: string, message: string, options?: { status?: number; cause?: unknown }) {
    super(code, message, { status: options?.status ?? 400, cause: options?.cause });
  }
}

/** Something that does not exist (an unknown id, a missing file). */
export class NotFoundError extends FeverError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, { status: 404, cause: options?.cause });
  }
}

/** Bad configuration: an env var or flag that cannot be used as given. */
export class ConfigError extends FeverError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, { status: 500, cause: options?.cause });
  }
}

/** A dependency (database, vector store, queue) that failed in a way a retry may fix. */
export class TransientError extends FeverError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, { status: 503, cause: options?.cause });
  }
}

export function isFeverError(err: unknown): err is FeverError {
  return err instanceof FeverError;
}
