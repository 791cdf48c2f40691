import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { depthwiseBackward, depthwiseForward, padPlane, sameGeometry } from './depthwise.ts';

/**
 * The depthwise convolutions of a fine-tuned block on two cores: this thread takes the first half
 * of the channels, one worker thread the second. Channel-major (CNHW) maps make each half one
 * contiguous slice and the kernels run unchanged on it, so the results are bitwise those of one
 * thread. The depthwise loops are about half of a training step and JS is single-threaded;
 * onnxruntime's threads (the matrix products) are idle while they run.
 *
 * The worker runs the very kernel functions of depthwise.ts, passed as source text: no second
 * module loader (tsx, vitest) has to start inside it.
 */
export class DepthwisePool {
  private readonly worker: Worker;
  private next = 0;
  private readonly waiting = new Map<
    number,
    { resolve: (r: WorkerReply) => void; reject: (e: Error) => void }
  >();

  private constructor() {
    const source = `
      const { parentPort } = require('node:worker_threads');
      const __name = (f) => f;
      const sameGeometry = ${sameGeometry.toString()};
      const padPlane = ${padPlane.toString()};
      const depthwiseForward = ${depthwiseForward.toString()};
      const depthwiseBackward = ${depthwiseBackward.toString()};
      parentPort.on('message', (m) => {
        try {
          if (m.op === 'forward') {
            const y = depthwiseForward(m.x, m.n, m.side, m.channels, m.filter, m.stride);
            parentPort.postMessage({ id: m.id, y }, [y.buffer]);
          } else {
            const gradFilter = m.gradFilter;
            const dx = depthwiseBackward(m.x, m.dy, m.n, m.side, m.channels, m.filter, m.stride, gradFilter, m.needInputGrad);
            parentPort.postMessage({ id: m.id, gradFilter, dx }, dx ? [gradFilter.buffer, dx.buffer] : [gradFilter.buffer]);
          }
        } catch (err) {
          parentPort.postMessage({ id: m.id, error: String(err && err.stack || err) });
        }
      });`;
    this.worker = new Worker(source, { eval: true });
    this.worker.unref();
    this.worker.on('message', (reply: WorkerReply) => {
      const w = this.waiting.get(reply.id);
      this.waiting.delete(reply.id);
      if (reply.error) w?.reject(new Error(`depthwise worker: ${reply.error}`));
      else w?.resolve(reply);
    });
    this.worker.on('error', (err) => {
      for (const w of this.waiting.values()) w.reject(err);
      this.waiting.clear();
    });
  }

  /** A pool when this machine has a second core to give it, else null (run on this thread). */
  static create(): DepthwisePool | null {
    return availableParallelism() > 1 ? new DepthwisePool() : null;
  }

  async forward(
    x: Float32Array,
    n: number,
    side: number,
    channels: number,
    filter: Float32Array,
    stride: number,
  ): Promise<Float32Array> {
    const h = Math.floor(channels / 2);
    const outPlane = sameGeometry(side, stride).outSide ** 2;
    const inPlane = side * side;
    const reply = this.post({
      op: 'forward',
      x: x.slice(h * n * inPlane, channels * n * inPlane),
      n,
      side,
      channels: channels - h,
      filter: columns(filter, channels, h, channels),
      stride,
    });
    const mine = depthwiseForward(
      x.subarray(0, h * n * inPlane),
      n,
      side,
      h,
      columns(filter, channels, 0, h),
      stride,
    );
    const y = new Float32Array(channels * n * outPlane);
    y.set(mine, 0);
    y.set((await reply).y!, h * n * outPlane);
    return y;
  }

  async backward(
    x: Float32Array,
    dy: Float32Array,
    n: number,
    side: number,
    channels: number,
    filter: Float32Array,
    stride: number,
    gradFilter: Float32Array,
    needInputGrad: boolean,
  ): Promise<Float32Array | null> {
    const h = Math.floor(channels / 2);
    const outPlane = sameGeometry(side, stride).outSide ** 2;
    const inPlane = side * side;
    const reply = this.post({
      op: 'backward',
      x: x.slice(h * n * inPlane, channels * n * inPlane),
      dy: dy.slice(h * n * outPlane, channels * n * outPlane),
      n,
      side,
      channels: channels - h,
      filter: columns(filter, channels, h, channels),
      gradFilter: columns(gradFilter, channels, h, channels),
      stride,
      needInputGrad,
    });
    const myGrad = columns(gradFilter, channels, 0, h);
    const mine = depthwiseBackward(
      x.subarray(0, h * n * inPlane),
      dy.subarray(0, h * n * outPlane),
      n,
      side,
      h,
      columns(filter, channels, 0, h),
      stride,
      myGrad,
      needInputGrad,
    );
    const theirs = await reply;
    setColumns(gradFilter, channels, 0, h, myGrad);
    setColumns(gradFilter, channels, h, channels, theirs.gradFilter!);
    if (!needInputGrad) return null;
    const dx = new Float32Array(x.length);
    dx.set(mine!, 0);
    dx.set(theirs.dx!, h * n * inPlane);
    return dx;
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }

  private post(message: Record<string, unknown>): Promise<WorkerReply> {
    const id = this.next++;
    const buffers = [message.x, message.dy, message.filter, message.gradFilter]
      .filter((b): b is Float32Array => b instanceof Float32Array)
      .map((b) => b.buffer as ArrayBuffer);
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ ...message, id }, buffers);
    });
  }
}

interface WorkerReply {
  id: number;
  y?: Float32Array;
  dx?: Float32Array | null;
  gradFilter?: Float32Array;
  error?: string;
}

/** Channels [from, to) of a tap-major [9, channels] filter, as a [9, to − from] one. */
function columns(filter: Float32Array, channels: number, from: number, to: number): Float32Array {
  const out = new Float32Array(9 * (to - from));
  for (let t = 0; t < 9; t++)
    out.set(filter.subarray(t * channels + from, t * channels + to), t * (to - from));
  return out;
}

/** Writes a [9, to − from] part back into channels [from, to) of a [9, channels] filter. */
function setColumns(
  target: Float32Array,
  channels: number,
  from: number,
  to: number,
  part: Float32Array,
): void {
  const w = to - from;
  for (let t = 0; t < 9; t++) target.set(part.subarray(t * w, (t + 1) * w), t * channels + from);
}
