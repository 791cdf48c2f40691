import { cpus } from 'node:os';
import { decodeImage, Encoder } from '@fever/encoder';
import { samplePhotos } from '@fever/encoder/testing';
import sharp from 'sharp';
import { table, writeResults } from './report.ts';

function arg(args: string[], name: string, fallback: string): string {
  return args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
}

export default async function workerCpu(args: string[]): Promise<void> {
  const rounds = Number(arg(args, 'rounds', '5'));
  const threads = Number(arg(args, 'threads', '1'));
  // One core for everything, so the figures are per core.
  sharp.concurrency(threads);
  const photos = samplePhotos();
  const encoder = await Encoder.create({ device: 'cpu', threads, logger: { info() {}, warn() {} } });
  try {
    // The stages of each photo are timed back to back, so load from other processes on the
    // machine affects them alike and the shares stay meaningful.
    const spent = { decode: 0, detect: 0, embed: 0 };
    let faces = 0;
    const once = async (count: boolean) => {
      for (const p of photos) {
        const t0 = performance.now();
        const image = await decodeImage(p);
        const t1 = performance.now();
        const [found] = await encoder.detector.detect([image]);
        const t2 = performance.now();
        await encoder.embedBoxes(
          image,
          found!.map((d) => d.box),
        );
        const t3 = performance.now();
        if (count) {
          spent.decode += t1 - t0;
          spent.detect += t2 - t1;
          spent.embed += t3 - t2;
          faces += found!.length;
        }
      }
    };
    await once(false); // warm-up
    for (let r = 0; r < rounds; r++) await once(true);
    const decodeS = spent.decode / 1000 / rounds;
    const detectS = spent.detect / 1000 / rounds;
    const embedS = spent.embed / 1000 / rounds;
    const pipelineS = decodeS + detectS + embedS;
    faces /= rounds;
    const n = photos.length;
    const rows = [
      { stage: 'decode', seconds_per_photo: decodeS / n },
      { stage: 'detect', seconds_per_photo: detectS / n },
      { stage: 'crop + embed', seconds_per_photo: embedS / n },
      { stage: 'all three', seconds_per_photo: pipelineS / n },
    ].map((r) => ({
      ...r,
      photos_per_s: 1 / r.seconds_per_photo,
      share: r.seconds_per_photo / (pipelineS / n),
    }));
    console.log(
      table(
        rows.map((r) => ({
          stage: r.stage,
          'ms/photo': (r.seconds_per_photo * 1000).toFixed(1),
          'photos/s/core': r.photos_per_s.toFixed(1),
          'share of pipeline': `${(r.share * 100).toFixed(0)}%`,
        })),
      ),
    );
    console.log(`${n} photos, ${faces} faces (${(faces / n).toFixed(2)} per photo), ${threads} thread(s)`);
    const file = await writeResults('worker-cpu', {
      bench: 'worker-cpu',
      machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', node: process.version },
      date: new Date().toISOString(),
      args,
      threads,
      photos: n,
      facesPerPhoto: faces / n,
      rows,
    });
    console.error(`wrote ${file}`);
  } finally {
    await encoder.close();
  }
}
