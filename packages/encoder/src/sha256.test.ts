import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sha256Bytes, sha256File } from './sha256.ts';

const dir = mkdtempSync(join(tmpdir(), 'fever-sha256-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Published test vectors (FIPS 180-2 "abc", and the empty string).
const ABC = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';
const EMPTY = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

describe('sha256', () => {
  it('hashes bytes', () => {
    expect(sha256Bytes(new TextEncoder().encode('abc'))).toBe(ABC);
    expect(sha256Bytes(new Uint8Array(0))).toBe(EMPTY);
  });

  it('hashes a file the same as its bytes, across stream chunks', async () => {
    const small = join(dir, 'abc.txt');
    writeFileSync(small, 'abc');
    expect(await sha256File(small)).toBe(ABC);
    // 1 MB + 1 spans many 64 KB read chunks.
    const big = new Uint8Array(1024 * 1024 + 1).map((_, i) => (i * 31) & 0xff);
    const bigPath = join(dir, 'big.bin');
    writeFileSync(bigPath, big);
    expect(await sha256File(bigPath)).toBe(sha256Bytes(big));
  });

  it('rejects with ENOENT for a missing file', async () => {
    await expect(sha256File(join(dir, 'missing'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
