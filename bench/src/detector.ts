/**
 * `npm run bench -- detector [--detectors=tiny,tiny-608,ssd] [--limit=N] [--batch=8] [--threads=0]
 * [--min-score=0.5]`: the bundled face detectors on ../shared/data/widerface_val (807 crowded
 * WIDER FACE validation photos, 10 716 annotated faces; see its README).
 *
 * Per detector: face recall at IoU ≥ 0.5 for annotated faces at least 32 px and at least 64 px on
 * their short side (each detection, best score first, claims the unclaimed annotated face it
 * overlaps most); false positives per photo, counting only detections that overlap no annotated
 * face at all (IoU < 0.1 with every box: WIDER leaves many tiny faces unannotated); and detection
 * time per photo (resize + network + decoding, photos in batches as the indexer runs them;
 * decoding the JPEG is not counted). All detectors see the same decoded photos in the same run.
 */

import { readFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { type Box, type Detection, decodeImage, Encoder, iou, type RgbImage } from '@fever/encoder';
import { sharedData } from '@fever/encoder/testing';
import { table, writeResults } from './report.ts';

const quiet = { info() {}, warn() {} };

interface Tally {
  name: string;
  encoder: Encoder;
  seconds: number;
  photos: number;
  detections: number;
  falsePositives: number;
  found32: number;
  found64: number;
  foundAll: number;
}

function flag(args: string[], name: string, fallback: string): string {
  return args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
}

export default async function detectorBench(args: string[]) {
  const root = sharedData('widerface_val');
  if (!root) throw new Error('the WIDER FACE validation photos (../shared/data/widerface_val) are not here');
  const names = flag(args, 'detectors', 'tiny,tiny-608,ssd').split(',');
  const limit = Number(flag(args, 'limit', 'Infinity'));
  const batch = Number(flag(args, 'batch', '8'));
  const threads = Number(flag(args, 'threads', '0'));
  const minScore = Number(flag(args, 'min-score', '0.5'));

  // boxes.csv: path,x,y,width,height, one row per annotated face, photos in path order.
  const truth = new Map<string, Box[]>();
  for (const line of (await readFile(join(root, 'boxes.csv'), 'utf8')).trim().split('\n').slice(1)) {
    const [path, x, y, width, height] = line.split(',');
    const boxes = truth.get(path!) ?? [];
    boxes.push({ x: Number(x), y: Number(y), width: Number(width), height: Number(height) });
    truth.set(path!, boxes);
  }
  const paths = [...truth.keys()].slice(0, limit);
  const faces = paths.flatMap((p) => truth.get(p)!);
  const short = (b: Box) => Math.min(b.width, b.height);
  const total = {
    all: faces.length,
    at32: faces.filter((b) => short(b) >= 32).length,
    at64: faces.filter((b) => short(b) >= 64).length,
  };
  console.log(
    `${paths.length} photos, ${total.all} annotated faces (${total.at32} ≥ 32 px, ${total.at64} ≥ 64 px); ` +
      `detectors ${names.join(', ')}, batches of ${batch}, score > ${minScore}`,
  );

  const tallies: Tally[] = [];
  for (const name of names) {
    const encoder = await Encoder.create({
      device: 'cpu',
      threads,
      detectorModel: name,
      detector: { scoreThreshold: minScore },
      logger: quiet,
    });
    tallies.push({
      name,
      encoder,
      seconds: 0,
      photos: 0,
      detections: 0,
      falsePositives: 0,
      found32: 0,
      found64: 0,
      foundAll: 0,
    });
  }

  let warm = false;
  for (let start = 0; start < paths.length; start += batch) {
    const chunk = paths.slice(start, start + batch);
    const images: RgbImage[] = await Promise.all(chunk.map((p) => decodeImage(join(root, p))));
    for (const t of tallies) {
      if (!warm) await t.encoder.detector.detect(images); // first run: session warm-up, not timed
      const started = performance.now();
      const found = await t.encoder.detector.detect(images);
      t.seconds += (performance.now() - started) / 1000;
      t.photos += images.length;
      for (const [i, detections] of found.entries()) score(t, detections, truth.get(chunk[i]!)!);
    }
    warm = true;
    if ((start / batch) % 20 === 0)
      console.error(`  ${Math.min(start + batch, paths.length)}/${paths.length} photos`);
  }

  const rows = tallies.map((t) => ({
    detector: t.name,
    model: t.encoder.detector.name,
    input: t.encoder.detector.options.inputSize,
    'recall ≥32px': (t.found32 / total.at32).toFixed(3),
    'recall ≥64px': (t.found64 / total.at64).toFixed(3),
    'recall all': (t.foundAll / total.all).toFixed(3),
    'FP/photo': (t.falsePositives / t.photos).toFixed(3),
    'faces/photo': (t.detections / t.photos).toFixed(2),
    'ms/photo': ((t.seconds * 1000) / t.photos).toFixed(1),
    'vs tiny': '',
  }));
  const tiny = tallies.find((t) => t.name === 'tiny');
  if (tiny) {
    for (const [i, t] of tallies.entries())
      rows[i]!['vs tiny'] = `${(t.seconds / tiny.seconds).toFixed(2)}× time`;
  }
  console.log(table(rows));
  console.log(
    `FP: a detection with IoU < 0.1 against every annotated face. ms/photo: detection only, batches of ${batch}, ` +
      `${cpus().length} cores (${cpus()[0]?.model}), CPU provider`,
  );
  const file = await writeResults('detector', {
    date: new Date().toISOString(),
    cpu: cpus()[0]?.model,
    cores: cpus().length,
    threads,
    batch,
    minScore,
    photos: paths.length,
    faces: total,
    rows,
  });
  console.log(`wrote ${file}`);
  await Promise.all(tallies.map((t) => t.encoder.close()));
}

/** Matches one photo's detections to its annotated faces and adds the counts to `t`. */
function score(t: Tally, detections: Detection[], faces: Box[]): void {
  const claimed = new Set<number>();
  const ordered = [...detections].sort((a, b) => b.score - a.score);
  for (const d of ordered) {
    let best = -1;
    let bestIou = 0;
    let anyIou = 0;
    faces.forEach((f, k) => {
      const v = iou(d.box, f);
      anyIou = Math.max(anyIou, v);
      if (!claimed.has(k) && v > bestIou) {
        bestIou = v;
        best = k;
      }
    });
    if (best >= 0 && bestIou >= 0.5) {
      claimed.add(best);
      const s = Math.min(faces[best]!.width, faces[best]!.height);
      t.foundAll++;
      if (s >= 32) t.found32++;
      if (s >= 64) t.found64++;
    } else if (anyIou < 0.1) {
      t.falsePositives++;
    }
  }
  t.detections += detections.length;
}
