import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readMapFile } from './trunk-maps.ts';

const dir = mkdtempSync(join(tmpdir(), 'fever-maps-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SIZE = 6;

/** A cache file as MapCache writes it: magic, map size, then (32-byte key, float16 map) records. */
function cacheFile(name: string, records: { key: number; fill: number }[], tail = 0): string {
  const header = Buffer.alloc(12);
  header.write('FEVMAP01');
  header.writeUInt32LE(SIZE, 8);
  const parts = [header];
  for (const { key, fill } of records) {
    parts.push(Buffer.alloc(32, key), Buffer.from(new Uint16Array(SIZE).fill(fill).buffer));
  }
  parts.push(Buffer.alloc(tail, 7));
  const file = join(dir, name);
  writeFileSync(file, Buffer.concat(parts));
  return file;
}

const hex = (key: number) => Buffer.alloc(32, key).toString('hex');

describe('the trunk map cache file', () => {
  it('keeps in memory only the maps a run asks for (a run without mirrors skips them)', async () => {
    const file = cacheFile('some.f16', [
      { key: 1, fill: 100 },
      { key: 2, fill: 200 },
      { key: 3, fill: 300 },
    ]);
    const maps = await readMapFile(file, SIZE, new Set([hex(1), hex(3), hex(9)]));
    expect([...maps.keys()]).toEqual([hex(1), hex(3)]);
    expect([...maps.get(hex(3))!]).toEqual(new Array(SIZE).fill(300));
  });

  it('truncates a record cut short by a crash and keeps the whole ones', async () => {
    const file = cacheFile('torn.f16', [{ key: 1, fill: 5 }], 20);
    const maps = await readMapFile(file, SIZE, new Set([hex(1)]));
    expect(maps.size).toBe(1);
    expect(statSync(file).size).toBe(12 + 32 + SIZE * 2);
  });

  it('starts afresh over a file of maps of another size', async () => {
    const file = cacheFile('other.f16', [{ key: 1, fill: 5 }]);
    const bytes = readFileSync(file);
    bytes.writeUInt32LE(SIZE + 1, 8);
    writeFileSync(file, bytes);
    expect((await readMapFile(file, SIZE, new Set([hex(1)]))).size).toBe(0);
    expect(statSync(file).size).toBe(12);
  });
});
