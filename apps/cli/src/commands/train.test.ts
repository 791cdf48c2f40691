import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { sharedData } from '@fever/encoder/testing';
import { beforeAll, describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../../bin/fever.js', import.meta.url));

async function fever(args: string[]) {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [bin, ...args], {
      env: { ...process.env, FEVER_DEVICE: 'cpu', FEVER_THREADS: '1' },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const fer = sharedData('fer2013_train');

describe('fever train head', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fever-train-cli-'));
  });

  it('names the flag that is wrong, before any work', async () => {
    const loss = await fever(['train', 'head', '--labels', 'x.csv', '--out', dir, '--loss', 'arcface']);
    expect(loss.code).toBe(1);
    expect(loss.stderr).toMatch(/--loss must be cosface or triplet, got 'arcface' \[BAD_FLAG\]/);
    const dims = await fever(['train', 'head', '--labels', 'x.csv', '--out', dir, '--dims', '1.5']);
    expect(dims.stderr).toMatch(/--dims must be a whole number ≥ 2, got '1.5' \[BAD_FLAG\]/);
    const block = await fever(['train', 'head', '--labels', 'x.csv', '--out', dir, '--fine-tune', 'dense2']);
    expect(block.stderr).toMatch(/--fine-tune must be dense3, got 'dense2' \[BAD_FLAG\]/);
    const both = await fever([
      'train',
      'head',
      '--labels',
      'x.csv',
      '--out',
      dir,
      '--input',
      'pooled',
      '--base',
      'm.json',
    ]);
    expect(both.stderr).toMatch(
      /--input picks trunk features; with --base the head reads that model \[BAD_FLAG\]/,
    );
    const missing = await fever(['train', 'head', '--labels', join(dir, 'none.csv'), '--out', dir]);
    expect(missing.stderr).toMatch(/none\.csv cannot be read[^\n]*\[LABELS_NOT_FOUND\]/);
  });

  it.skipIf(!fer)('trains a head with progress on stderr and prints where the model is', async () => {
    const rows = (await readFile(join(fer!, 'labels.csv'), 'utf8')).trim().split('\n');
    const seen = new Map<string, number>();
    const picked = rows.slice(1).filter((row) => {
      const label = row.split(',')[1]!;
      seen.set(label, (seen.get(label) ?? 0) + 1);
      return seen.get(label)! <= 12;
    });
    const labels = join(dir, 'labels.csv');
    await writeFile(labels, `${rows[0]}\n${picked.join('\n')}\n`);
    const out = join(dir, 'head');
    const { code, stdout, stderr } = await fever([
      'train',
      'head',
      '--labels',
      labels,
      '--root',
      fer!,
      '--out',
      out,
      '--hidden',
      '16',
      '--dims',
      '8',
      '--epochs',
      '2',
      '--batch',
      '16',
      '--validation',
      '0.25',
      '--no-cache',
    ]);
    expect(stderr).toMatch(
      /split: \d+ train, \d+ monitor, 21 validation \(seed 1; identical images kept together\)/,
    );
    expect(stderr).toMatch(/epoch 2\/2: loss \d\.\d{4}, monitor P@10 0\.\d{4}/);
    expect(code).toBe(0);
    expect(stdout).toMatch(
      /validation precision@10: head \d+\.\d%, trunk features \d+\.\d% \(21 held-out faces/,
    );
    const manifest = JSON.parse(await readFile(join(out, 'model', 'manifest.json'), 'utf8'));
    expect(manifest).toMatchObject({ id: 'fever-expression-head', embeddingDims: 8, task: 'expression' });

    // --fine-tune dense3: maps of the training faces and their mirror images, then the same epochs.
    const tuned = await fever([
      'train',
      'head',
      '--labels',
      labels,
      '--root',
      fer!,
      '--out',
      join(dir, 'tuned'),
      '--hidden',
      '16',
      '--dims',
      '8',
      '--epochs',
      '1',
      '--batch',
      '16',
      '--validation',
      '0.25',
      '--fine-tune',
      'dense3',
      '--no-cache',
    ]);
    expect(tuned.stderr).toMatch(/dense2 maps \(with mirrored training faces\) \d+\/\d+/);
    expect(tuned.stderr).toMatch(/epoch 1\/1: loss \d\.\d{4}, monitor P@10 0\.\d{4}/);
    expect(tuned.code).toBe(0);
    expect(tuned.stdout).toMatch(/time: hashing [\d.]+ s, dense3 input maps [\d.]+ s, training [\d.]+ s/);
    const tunedManifest = JSON.parse(await readFile(join(dir, 'tuned', 'model', 'manifest.json'), 'utf8'));
    expect(tunedManifest.source).toMatch(/dense3 fine-tuned/);

    // --base: a head over another model's embedding (here Human's emotion net), composed with it.
    const { DEFAULT_MODELS_DIR } = await import('@fever/encoder');
    const based = await fever([
      'train',
      'head',
      '--labels',
      labels,
      '--root',
      fer!,
      '--out',
      join(dir, 'based'),
      '--base',
      join(DEFAULT_MODELS_DIR, 'human-emotion', 'manifest.json'),
      '--hidden',
      '16',
      '--dims',
      '8',
      '--epochs',
      '1',
      '--validation',
      '0.25',
      '--no-cache',
    ]);
    expect(based.code, based.stderr).toBe(0);
    expect(based.stdout).toMatch(/validation precision@10: head \d+\.\d%, base model features \d+\.\d%/);
    expect(based.stdout).toMatch(/\(model fever-expression-head@c\.[0-9a-f]{12}\)/);
    const basedManifest = JSON.parse(await readFile(join(dir, 'based', 'model', 'manifest.json'), 'utf8'));
    expect(basedManifest).toMatchObject({
      id: 'fever-expression-head',
      probsFrom: 'human-emotion',
      head: { file: 'head.onnx', dims: 8 },
    });
  });
});
