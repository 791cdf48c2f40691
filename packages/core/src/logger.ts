/**
 * Logs on stderr (stdout stays free for command output): one readable line per event on a
 * terminal, one JSON object per event when stderr is piped or FEVER_LOG_FORMAT=json says so.
 */
import type { LogFormat, LogLevel } from '@fever/schema';
import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger };

export interface LogSettings {
  logLevel: LogLevel;
  /** Default `auto`: pretty on a terminal, JSON otherwise. */
  logFormat?: LogFormat;
}

/** A logger at `level` (or as the config's FEVER_LOG_LEVEL and FEVER_LOG_FORMAT say). */
export function createLogger(
  settings: LogLevel | LogSettings,
  bindings: Record<string, unknown> = {},
): Logger {
  const { logLevel, logFormat = 'auto' } = typeof settings === 'string' ? { logLevel: settings } : settings;
  const tty = process.stderr.isTTY === true;
  const pretty = logFormat === 'pretty' || (logFormat === 'auto' && tty);
  const destination = pretty ? prettyStream(process.stderr, tty) : pino.destination(2);
  return pino({ level: logLevel, base: { service: 'fever', ...bindings } }, destination);
}

/** ANSI SGR codes. */
const GREY = 90;
const LEVELS: Record<number, { name: string; colour: number }> = {
  10: { name: 'TRACE', colour: GREY },
  20: { name: 'DEBUG', colour: GREY },
  30: { name: 'INFO ', colour: 32 },
  40: { name: 'WARN ', colour: 33 },
  50: { name: 'ERROR', colour: 31 },
  60: { name: 'FATAL', colour: 41 },
};

/** Fields every line has, or that only say where it came from: not repeated on a pretty line. */
const IMPLIED = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'service']);

/**
 * `12:04:05.123 INFO  message  key=value key={"json":1}`; an error's stack follows on its own
 * lines. Colour only on a terminal.
 */
export function formatLogLine(record: Record<string, unknown>, colour = false): string {
  const paint = (code: number, text: string) => (colour ? `\x1b[${code}m${text}\x1b[39;49m` : text);
  const level = LEVELS[record.level as number] ?? { name: String(record.level), colour: 39 };
  const time = new Date(typeof record.time === 'number' ? record.time : Date.now());
  const clock = `${time.toTimeString().slice(0, 8)}.${String(time.getMilliseconds()).padStart(3, '0')}`;
  const fields: string[] = [];
  let stack: string | undefined;
  for (const [key, value] of Object.entries(record)) {
    if (IMPLIED.has(key) || value === undefined) continue;
    if (key === 'err' && value && typeof value === 'object' && 'message' in value) {
      const err = value as { message: unknown; stack?: unknown };
      fields.push(`err=${escapeControls(JSON.stringify(String(err.message)))}`);
      if (typeof err.stack === 'string' && (record.level as number) >= 50) stack = err.stack;
      continue;
    }
    const text = typeof value === 'string' && /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
    fields.push(`${key}=${escapeControls(text)}`);
  }
  const head = `${paint(GREY, clock)} ${paint(level.colour, level.name)} ${escapeControls(String(record.msg ?? ''))}`;
  const line = fields.length > 0 ? `${head}  ${paint(GREY, fields.join(' '))}` : head;
  return stack ? `${line}\n${escapeControls(stack, true).replace(/^/gm, '    ')}\n` : `${line}\n`;
}

/**
 * Control characters (a file name may hold any) shown as `\u001b`, so that a logged value cannot
 * drive the terminal; line breaks kept where `keepNewlines`.
 */
function escapeControls(text: string, keepNewlines = false): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point.
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) =>
    keepNewlines && c === '\n' ? c : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** A pino destination that writes each JSON record as a pretty line. */
function prettyStream(out: NodeJS.WritableStream, colour: boolean): DestinationStream {
  return {
    write(chunk: string) {
      let record: Record<string, unknown>;
      try {
        record = JSON.parse(chunk) as Record<string, unknown>;
      } catch {
        out.write(chunk);
        return;
      }
      out.write(formatLogLine(record, colour));
    },
  };
}
