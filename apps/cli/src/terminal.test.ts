import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { printable } from './terminal.ts';

const bin = fileURLToPath(new URL('../bin/fever.js', import.meta.url));
const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('printable', () => {
  it('escapes control characters but newlines and tabs', () => {
    expect(printable('a\u001b[31mb\rc\u0007d\u009be\tf\ng')).toBe(
      'a\\u001b[31mb\\u000dc\\u0007d\\u009be\tf\ng',
    );
  });
});

describe('the CLI shows file names escaped', () => {
  it('a failed file whose name holds ANSI escapes cannot drive the terminal', async () => {
    const root = await mkdtemp(join(tmpdir(), 'fever-cli-names-'));
    dirs.push(root);
    const photos = join(root, 'photos');
    await mkdir(photos);
    // Not an image: it fails, and the summary lists it by name.
    const name = 'x\u001b[2J\u001b]0;owned\u0007\r.jpg';
    await writeFile(join(photos, name), 'not an image');
    const env = {
      ...process.env,
      FEVER_DATA_DIR: join(root, 'data'),
      FEVER_DEVICE: 'cpu',
      FEVER_LOG_LEVEL: 'error',
    };
    const run = (args: string[]) =>
      promisify(execFile)(process.execPath, [bin, ...args], { env }).catch(
        (err: { stdout: string; stderr: string }) => err,
      );
    const indexed = await run(['index', photos, '--collection', 'names']);
    expect(indexed.stdout).toContain('failures (1)');
    expect(indexed.stdout).toContain('x\\u001b[2J\\u001b]0;owned\\u0007\\u000d.jpg');
    const runId = /run ([0-9a-f-]{36})/.exec(indexed.stdout)![1]!;
    const shown = await run(['run', runId]);
    expect(shown.stdout).toContain('x\\u001b[2J');
    const controls = (text: string) =>
      [...text].filter((c) => {
        const n = c.charCodeAt(0);
        return (n < 0x20 && c !== '\n' && c !== '\t') || (n >= 0x7f && n <= 0x9f);
      });
    for (const out of [indexed.stdout, indexed.stderr, shown.stdout, shown.stderr]) {
      expect(controls(out)).toEqual([]);
    }
  });
});
