import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadExpressionModel } from './composite.ts';
import { decodeImage, type RgbImage } from './decode.ts';
import { Encoder } from './encoder.ts';
import {
  DEFAULT_DETECTOR_MANIFEST,
  DEFAULT_MODELS_DIR,
  FACE_API_EXPRESSION_MANIFEST,
} from './model-paths.ts';
import { duoComposite, maxAbsDiff } from './testing/models.ts';
import { samplePhotos } from './testing/paths.ts';

const quiet = { info() {}, warn() {} };
const HUMAN = `${DEFAULT_MODELS_DIR}human-emotion/manifest.json`;

function norm(v: Float32Array): number {
  return Math.sqrt(v.reduce((s, x) => s + x * x, 0));
}

describe('composite expression models', () => {
  let dir: string;
  let image: RgbImage;
  const write = async (name: string, manifest: unknown) => {
    const path = join(dir, name);
    await writeFile(path, JSON.stringify(manifest));
    return path;
  };
  const duo = duoComposite;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fever-composite-'));
    image = await decodeImage(samplePhotos()[0]!);
  });

  describe('fusion', () => {
    const encoders: Encoder[] = [];
    afterAll(async () => {
      await Promise.all(encoders.map((e) => e.close()));
    });
    const open = async (expressionModel: string) => {
      const e = await Encoder.create({ device: 'cpu', expressionModel, logger: quiet });
      encoders.push(e);
      return e;
    };

    it("concatenates each member's unit embedding scaled by sqrt(w / Σw), probs from the named member", async () => {
      const composite = await open(await write('duo.json', duo()));
      const faceApi = await open(FACE_API_EXPRESSION_MANIFEST);
      const human = await open(HUMAN);
      const [faces] = await composite.encode([image]);
      const [a] = await faceApi.encode([image]);
      const [b] = await human.encode([image]);
      expect(faces!.length).toBeGreaterThan(0);
      expect(composite.model.embeddingDims).toBe(512);
      expect(composite.model.labels).toEqual(faceApi.model.labels);
      for (const [i, face] of faces!.entries()) {
        expect(face.embedding.length).toBe(512);
        expect(Math.abs(norm(face.embedding) - 1)).toBeLessThan(1e-5);
        const first = a![i]!.embedding.map((v) => v * Math.sqrt(0.7));
        const second = b![i]!.embedding.map((v) => v * Math.sqrt(0.3));
        expect(maxAbsDiff(face.embedding.subarray(0, 256), first)).toBeLessThan(1e-7);
        expect(maxAbsDiff(face.embedding.subarray(256), second)).toBeLessThan(1e-7);
        expect(Array.from(face.probs!)).toEqual(Array.from(a![i]!.probs!));
        expect(face.label).toBe(a![i]!.label);
      }
    });

    it('without probsFrom has no probabilities or labels', async () => {
      const { probsFrom: _, ...noProbs } = duo({ id: 'duo-no-probs' });
      const encoder = await open(await write('duo-no-probs.json', noProbs));
      const [face] = await encoder.embedCrops([image]);
      expect(face!.probs).toBeNull();
      expect(face!.label).toBeNull();
      expect(encoder.model.labels).toBeUndefined();
    });

    it('a member can take its own input settings (here: stretch instead of a padded square)', async () => {
      const stretched = await open(
        await write(
          'duo-stretch.json',
          duo({
            id: 'duo-stretch',
            members: [
              { manifest: FACE_API_EXPRESSION_MANIFEST, weight: 0.7 },
              { manifest: HUMAN, weight: 0.3, input: { crop: 'stretch' } },
            ],
          }),
        ),
      );
      const padded = await open(join(dir, 'duo.json'));
      const box = { x: 10, y: 5, width: 80, height: 160 };
      const [s] = await stretched.embedBoxes(image, [box]);
      const [p] = await padded.embedBoxes(image, [box]);
      expect(maxAbsDiff(s!.embedding.subarray(0, 256), p!.embedding.subarray(0, 256))).toBe(0);
      expect(maxAbsDiff(s!.embedding.subarray(256), p!.embedding.subarray(256))).toBeGreaterThan(1e-3);
      expect(stretched.model.version).not.toBe(padded.model.version);
    });
  });

  describe('version', () => {
    it('follows the members and weights, not where the manifest lies', async () => {
      const base = await loadExpressionModel(await write('v-base.json', duo()));
      const moved = await loadExpressionModel(await write('v-moved.json', duo({ source: 'another copy' })));
      const reweighted = await loadExpressionModel(
        await write(
          'v-weights.json',
          duo({
            members: [
              { manifest: FACE_API_EXPRESSION_MANIFEST, weight: 0.6 },
              { manifest: HUMAN, weight: 0.4 },
            ],
          }),
        ),
      );
      const mirrored = await loadExpressionModel(await write('v-mirror.json', duo({ mirror: true })));
      const aligned = await loadExpressionModel(await write('v-align.json', duo({ align: 'eyes' })));
      expect(base.manifest.version).toMatch(/^c\.[0-9a-f]{12}$/);
      expect(moved.manifest.version).toBe(base.manifest.version);
      const versions = [base, reweighted, mirrored, aligned].map((m) => m.manifest.version);
      expect(new Set(versions).size).toBe(4);
    });

    it("a member's input replacements keep the fields they leave out", async () => {
      const { readFile } = await import('node:fs/promises');
      const human = JSON.parse(await readFile(HUMAN, 'utf8'));
      const stretched = await write('human-stretch.json', {
        ...human,
        file: join(DEFAULT_MODELS_DIR, 'human-emotion', 'model.onnx'),
        input: { ...human.input, crop: 'stretch' },
      });
      const spec = await loadExpressionModel(
        await write(
          'keep.json',
          duo({
            members: [{ manifest: stretched, weight: 1, input: { size: [48, 48] } }],
            probsFrom: undefined,
          }),
        ),
      );
      expect(spec.members[0]!.model.manifest.input).toMatchObject({
        size: [48, 48],
        crop: 'stretch',
        channels: 'GRAY',
      });
    });

    it('a stated version must be the derived one', async () => {
      const derived = (await loadExpressionModel(join(dir, 'v-base.json'))).manifest.version;
      await expect(
        loadExpressionModel(await write('v-ok.json', duo({ version: derived }))),
      ).resolves.toBeTruthy();
      const err = await loadExpressionModel(
        await write('v-stale.json', duo({ version: 'c.000000000000' })),
      ).catch((e) => e);
      expect(err.code).toBe('MODEL_MANIFEST_INVALID');
      expect(err.message).toContain(
        `version is c.000000000000, but its members, weights and options make ${derived}`,
      );
    });

    it('a single network with align or mirror gets a version that says so', async () => {
      const { readFile } = await import('node:fs/promises');
      const plain = JSON.parse(await readFile(FACE_API_EXPRESSION_MANIFEST, 'utf8'));
      const file = join(DEFAULT_MODELS_DIR, 'face-api-expression', 'model.onnx');
      const mirrored = await loadExpressionModel(
        await write('n-mirror.json', { ...plain, file, mirror: true }),
      );
      const aligned = await loadExpressionModel(
        await write('n-align.json', { ...plain, file, align: 'eyes' }),
      );
      expect(mirrored.manifest.version).toBe(`${plain.version}+mirror`);
      expect(aligned.manifest.version).toMatch(
        new RegExp(`^${plain.version.replace(/\+/g, '\\+')}\\+align\\.eyes\\.[0-9a-f]{8}$`),
      );
      expect((await loadExpressionModel(FACE_API_EXPRESSION_MANIFEST)).manifest.version).toBe(plain.version);
    });
  });

  describe('bad manifests name the field', () => {
    const refuse = async (name: string, manifest: unknown) =>
      loadExpressionModel(await write(name, manifest)).then(
        () => {
          throw new Error(`${name} was accepted`);
        },
        (err) => err,
      );

    it('a missing member', async () => {
      const err = await refuse(
        'missing.json',
        duo({
          members: [
            { manifest: FACE_API_EXPRESSION_MANIFEST, weight: 1 },
            { manifest: 'nope/manifest.json', weight: 1 },
          ],
        }),
      );
      expect(err.code).toBe('MODEL_NOT_FOUND');
      expect(err.message).toContain('members[1].manifest');
      expect(err.message).toContain(join(dir, 'nope', 'manifest.json'));
    });

    it('weights that do not sum to a positive number', async () => {
      const zero = await refuse(
        'zero.json',
        duo({
          members: [
            { manifest: FACE_API_EXPRESSION_MANIFEST, weight: 0 },
            { manifest: HUMAN, weight: 0 },
          ],
        }),
      );
      expect(zero.code).toBe('MODEL_MANIFEST_INVALID');
      expect(zero.message).toContain('members[].weight: the weights sum to 0');
      const negative = await refuse(
        'negative.json',
        duo({
          members: [
            { manifest: FACE_API_EXPRESSION_MANIFEST, weight: 1 },
            { manifest: HUMAN, weight: -0.5 },
          ],
        }),
      );
      expect(negative.code).toBe('MODEL_MANIFEST_INVALID');
      expect(negative.message).toContain('members.1.weight');
    });

    it("member dims that do not match the member's manifest, or a sum that does not match embeddingDims", async () => {
      const member = await refuse(
        'dims.json',
        duo({
          members: [
            { manifest: FACE_API_EXPRESSION_MANIFEST, weight: 1, dims: 128 },
            { manifest: HUMAN, weight: 1 },
          ],
        }),
      );
      expect(member.code).toBe('MODEL_MANIFEST_INVALID');
      expect(member.message).toContain(
        "members[0].dims is 128, but face-api-expression's manifest says embeddingDims 256",
      );
      const total = await refuse('total.json', duo({ embeddingDims: 256 }));
      expect(total.message).toContain("embeddingDims is 256, but the members' dims sum to 512");
    });

    it('a head file that is missing or does not match its sha256', async () => {
      const missing = await refuse(
        'head-missing.json',
        duo({ head: { file: 'nope.onnx', sha256: '0'.repeat(64), dims: 8 } }),
      );
      expect(missing.code).toBe('MODEL_NOT_FOUND');
      expect(missing.message).toContain('head.file');
      await writeFile(join(dir, 'head.onnx'), 'not this');
      const tampered = await refuse(
        'head-tampered.json',
        duo({ head: { file: 'head.onnx', sha256: '0'.repeat(64), dims: 8 } }),
      );
      expect(tampered.code).toBe('MODEL_CHECKSUM_MISMATCH');
      expect(tampered.message).toContain(join(dir, 'head.onnx'));
    });

    it('a member that is not an expression network, an unknown probsFrom, a bad member input', async () => {
      const detector = await refuse(
        'detector.json',
        duo({ members: [{ manifest: DEFAULT_DETECTOR_MANIFEST, weight: 1 }] }),
      );
      expect(detector.message).toContain('members[0].manifest names a face-detector model');
      const probs = await refuse('probs.json', duo({ probsFrom: 'someone-else' }));
      expect(probs.message).toContain('probsFrom names someone-else, which no member is');
      const input = await refuse(
        'input.json',
        duo({ members: [{ manifest: HUMAN, weight: 1, input: { mean: [1, 2] } }] }),
      );
      expect(input.code).toBe('MODEL_MANIFEST_INVALID');
      expect(input.message).toContain('input.mean needs 1 or 1 values, has 2');
      expect(input.message).toContain('members[0]');
    });
  });
});
