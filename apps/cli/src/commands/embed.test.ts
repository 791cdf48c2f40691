import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { duoComposite, samplePhotos } from '@fever/encoder/testing';
import { beforeAll, describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../../bin/fever.js', import.meta.url));

async function fever(args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [bin, ...args], {
      env: { ...process.env, ...env },
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('fever embed', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fever-cli-'));
  });

  it('prints faces, boxes and expressions for the sample photos', async () => {
    const { code, stdout, stderr } = await fever(['embed', ...samplePhotos().slice(0, 2)]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/sample1\.jpg\s+1920×1280\s+3 faces/);
    expect(stdout).toMatch(/#0\s+box \d+,\d+ \d+×\d+\s+score 0\.\d\d\s+\w+ \d+\.\d%/);
    expect(stderr).toMatch(/encoder running on cpu/);
  });

  it("includes the default model's embeddings with --json", async () => {
    const { code, stdout } = await fever(['embed', '--json', samplePhotos()[1]!]);
    expect(code).toBe(0);
    const out = JSON.parse(stdout);
    expect(out.model).toMatchObject({ id: 'fever-expression', dims: 512 });
    const face = out.images[0].faces[0];
    expect(face.embedding).toHaveLength(512);
    expect(face.probs).toHaveLength(7);
    expect(typeof face.label).toBe('string');
  });

  it('reports a bad file by name and code, embeds the rest, and exits 1', async () => {
    const text = join(dir, 'notes.jpg');
    await writeFile(text, 'this is not a photo\n');
    const { code, stdout, stderr } = await fever(['embed', text, samplePhotos()[1]!]);
    expect(code).toBe(1);
    expect(stderr).toContain(`${text}`);
    expect(stderr).toContain('[IMAGE_UNSUPPORTED]');
    expect(stdout).toMatch(/sample2\.jpg/);
  });

  it('exits 2 on a usage error', async () => {
    const { code, stderr } = await fever(['embed']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/missing required argument/);
  });

  it('names the bad environment variable', async () => {
    const { code, stderr } = await fever(['embed', samplePhotos()[0]!], { FEVER_DEVICE: 'gpu' });
    expect(code).toBe(1);
    expect(stderr).toMatch(/FEVER_DEVICE/);
  });

  it('rejects a bad flag value by name', async () => {
    const { code, stderr } = await fever(['embed', '--input-size', '100', samplePhotos()[0]!]);
    expect(code).toBe(1);
    expect(stderr).toMatch(/--input-size/);
  });

  it('takes the detector by name (--detector, FEVER_DETECTOR), and refuses a missing detector manifest', async () => {
    const photo = samplePhotos()[1]!;
    const faces = (stdout: string) => Number(/sample2\.jpg\s+\S+\s+(\d+) faces?/.exec(stdout)?.[1]);
    const tiny = await fever(['embed', photo]);
    const ssd = await fever(['embed', '--detector', 'ssd', photo]);
    const env = await fever(['embed', photo], { FEVER_DETECTOR: 'ssd' });
    expect([tiny.code, ssd.code, env.code]).toEqual([0, 0, 0]);
    expect(ssd.stderr).toMatch(/face-api-ssd-mobilenetv1/);
    // The two turned heads of sample2 that the tiny detector misses.
    expect(faces(ssd.stdout)).toBeGreaterThan(faces(tiny.stdout));
    expect(faces(env.stdout)).toBe(faces(ssd.stdout));
    const missing = await fever(['embed', '--detector', join(dir, 'nope.json'), photo]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('nope.json');
    expect(missing.stderr).toContain('[MODEL_NOT_FOUND]');
  });

  it('embeds with a composite model', async () => {
    const manifest = join(dir, 'duo.json');
    await writeFile(manifest, JSON.stringify(duoComposite()));
    const { code, stdout } = await fever(['embed', '--json', '--model', manifest, samplePhotos()[1]!]);
    expect(code).toBe(0);
    const out = JSON.parse(stdout);
    expect(out.model).toMatchObject({ id: 'duo', dims: 512 });
    expect(out.model.version).toMatch(/^c\.[0-9a-f]{12}$/);
    expect(out.images[0].faces[0].embedding).toHaveLength(512);
    expect(out.images[0].faces[0].probs).toHaveLength(7);
  });
});
