import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Renders rows as an aligned text table (the column order of the first row). */
export function table(rows: Record<string, string | number>[]): string {
  if (rows.length === 0) return '(no rows)';
  const cols = Object.keys(rows[0]!);
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c] ?? '').length)));
  const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(width[i]!)).join('  ');
  return [
    line(cols),
    line(width.map((w) => '-'.repeat(w))),
    ...rows.map((r) => line(cols.map((c) => String(r[c] ?? '')))),
  ].join('\n');
}

/** Samples the process RSS every 50 ms; stop() returns the peak in MB. */
export class RssSampler {
  private peak = process.memoryUsage().rss;
  private readonly timer = setInterval(() => {
    this.peak = Math.max(this.peak, process.memoryUsage().rss);
  }, 50);

  stop(): number {
    clearInterval(this.timer);
    this.peak = Math.max(this.peak, process.memoryUsage().rss);
    return this.peak / 1024 / 1024;
  }
}

export function resultsPath(name: string): { dir: string; file: string } {
  const dir = fileURLToPath(new URL('../results/', import.meta.url));
  return { dir, file: join(dir, `${name}.json`) };
}

/** Writes a benchmark's results as bench/results/<name>.json and returns the file's path. */
export async function writeResults(name: string, data: unknown): Promise<string> {
  const { dir, file } = resultsPath(name);
  await mkdir(dir, { recursive: true });
  await writeFile(file, `${JSON.stringify(data, null, 2)}\n`);
  return file;
}
