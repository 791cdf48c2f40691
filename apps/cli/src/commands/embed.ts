import { basename } from 'node:path';
import type { Face, RgbImage } from '@fever/encoder';
import { isFeverError } from '@fever/errors';
import type { Config } from '@fever/schema';
import type { Command } from 'commander';
import { type EncoderFlags, encoderOptions } from '../encoder-options.ts';
import { print, printError } from '../terminal.ts';

interface EmbedFlags extends EncoderFlags {
  json?: boolean;
  crop?: boolean;
  top: string;
}

type ImageResult =
  | { file: string; width: number; height: number; faces: Face[] }
  | { file: string; error: { code: string; message: string } };

// Images decoded and run together; bounds memory however many files are named.
const CHUNK = 8;

export function registerEmbed(program: Command, config: () => Config): void {
  program
    .command('embed')
    .description('detect the faces in images and print their boxes, expressions and (with --json) embeddings')
    .argument('<images...>', 'image files (JPEG, PNG, WebP, GIF, TIFF, AVIF)')
    .option('--json', 'print JSON, embeddings included')
    .option('--crop', 'each image is already a face crop: skip detection')
    .option('--top <n>', 'expressions to show per face', '3')
    .option('--min-score <p>', 'minimum detection score (default 0.5)')
    .option(
      '--input-size <px>',
      "detector input size, a multiple of 32 (default: the detector's, 416 for tiny)",
    )
    .option(
      '--detector <name>',
      'tiny | tiny-608 | ssd | a detector manifest (default: FEVER_DETECTOR or tiny)',
    )
    .option('--device <device>', 'auto | cpu | cuda (default: FEVER_DEVICE or auto)')
    .option('--threads <n>', 'onnxruntime threads, 0 = one per core (default: FEVER_THREADS)')
    .option(
      '--model <manifest>',
      'expression model manifest, one network or a composite (default: FEVER_MODEL or fever-expression)',
    )
    .action(async (files: string[], flags: EmbedFlags) => {
      // Loaded here so `fever --help` and other commands don't pay for onnxruntime and sharp.
      const { decodeImage, Encoder } = await import('@fever/encoder');
      const cfg = config();
      const encoder = await Encoder.create(
        encoderOptions(cfg, flags, (line) => printError(`fever: ${line}`)),
      );
      let failed = 0;
      const results: ImageResult[] = [];
      try {
        for (let start = 0; start < files.length; start += CHUNK) {
          const chunk = files.slice(start, start + CHUNK);
          const decoded = await Promise.all(
            chunk.map((file) =>
              decodeImage(file, { maxPixels: cfg.maxPixels }).then(
                (image): [string, RgbImage] => [file, image],
                (err: unknown) => {
                  if (!isFeverError(err)) throw err;
                  return { file, error: { code: err.code, message: err.message } };
                },
              ),
            ),
          );
          const ok = decoded.filter((d): d is [string, RgbImage] => Array.isArray(d));
          const images = ok.map(([, image]) => image);
          const faces = flags.crop
            ? (await encoder.embedCrops(images)).map((f) => [f])
            : await encoder.encode(images);
          const byFile = new Map(ok.map(([file, image], i) => [file, { image, faces: faces[i]! }]));
          for (const d of decoded) {
            if (!Array.isArray(d)) {
              failed++;
              printError(`fever: ${d.file}: ${d.error.message} [${d.error.code}]`);
              results.push(d);
              continue;
            }
            const { image, faces: found } = byFile.get(d[0])!;
            const result = { file: d[0], width: image.width, height: image.height, faces: found };
            results.push(result);
            if (!flags.json) printHuman(result, encoder.model.labels ?? [], Number(flags.top) || 3);
          }
        }
      } finally {
        await encoder.close();
      }
      if (flags.json) {
        const model = {
          id: encoder.model.id,
          version: encoder.model.version,
          dims: encoder.model.embeddingDims,
        };
        print(JSON.stringify({ model, provider: encoder.provider, images: results.map(toJson) }, null, 2));
      }
      if (failed > 0) {
        printError(`fever: ${failed} of ${files.length} images could not be read`);
        process.exitCode = 1;
      }
    });
}

function printHuman(
  result: { file: string; width: number; height: number; faces: Face[] },
  labels: string[],
  top: number,
) {
  const n = result.faces.length;
  print(`${basename(result.file)}  ${result.width}×${result.height}  ${n} face${n === 1 ? '' : 's'}`);
  result.faces.forEach((face, i) => {
    const { x, y, width, height } = face.box;
    const box = `box ${Math.round(x)},${Math.round(y)} ${Math.round(width)}×${Math.round(height)}`;
    const expressions = face.probs
      ? Array.from(face.probs, (p, k) => [labels[k]!, p] as const)
          .sort((a, b) => b[1] - a[1])
          .slice(0, top)
          .map(([label, p]) => `${label} ${(p * 100).toFixed(1)}%`)
          .join('  ')
      : `embedding ${face.embedding.length}-d`;
    print(`  #${i}  ${box}  score ${face.score.toFixed(2)}  ${expressions}`);
  });
}

function toJson(result: ImageResult) {
  if ('error' in result) return result;
  return {
    ...result,
    faces: result.faces.map((f) => ({
      box: f.box,
      score: f.score,
      label: f.label,
      probs: f.probs ? Array.from(f.probs) : null,
      embedding: Array.from(f.embedding),
    })),
  };
}
