import type { LogLevel } from '@fever/schema';
import pino, { type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs on stderr (stdout stays free for command output). */
export function createLogger(level: LogLevel, bindings: Record<string, unknown> = {}): Logger {
  return pino({ level, base: { service: 'fever', ...bindings } }, pino.destination(2));
}
