/**
 * The CLI's human-readable output. File names, uris and error messages come from disk, archives
 * and the database: a control character in one (an ANSI escape, a carriage return, a C1 code)
 * would move the cursor, recolour or retitle the terminal, or hide what is printed. They are
 * shown escaped instead (`\u001b`), as JSON writes them; newlines and tabs are kept.
 */
import { format } from 'node:util';

// C0 controls but tab and newline, DEL, and the C1 controls (U+0080–U+009F).
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point.
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

export function printable(text: string): string {
  return text.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** console.log with printable() applied. */
export function print(...parts: unknown[]): void {
  process.stdout.write(`${printable(format(...parts))}\n`);
}

/** console.error with printable() applied. */
export function printError(...parts: unknown[]): void {
  process.stderr.write(`${printable(format(...parts))}\n`);
}
