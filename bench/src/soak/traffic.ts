/** The soak bench's requests to the API: latency and outcome of each. */

const REQUEST_TIMEOUT_MS = 60_000;

export type Kind = 'search by upload' | 'search by face id' | 'start index run' | 'run status';

export interface Outcome {
  kind: Kind;
  atS: number;
  ms: number;
  /** `ok`, or the error code (the API's, an HTTP status, or the socket error). */
  code: string;
}

export class Recorder {
  readonly outcomes: Outcome[] = [];
  constructor(private readonly clock: () => number) {}

  /** Calls the API, recording latency and outcome; returns the JSON body of a 2xx answer. */
  async call<T>(kind: Kind, url: string, init: RequestInit = {}): Promise<T | undefined> {
    const atS = this.clock();
    const t0 = performance.now();
    let code: string;
    let body: T | undefined;
    try {
      const res = await fetch(url, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      const text = await res.text();
      if (res.ok) {
        code = 'ok';
        body = JSON.parse(text) as T;
      } else {
        let parsed: string | undefined;
        try {
          parsed = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
        } catch {
          // not JSON
        }
        code = `${res.status} ${parsed ?? 'NO_ERROR_BODY'}`;
      }
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      code = e.name === 'TimeoutError' ? 'TIMEOUT' : (e.cause?.code ?? e.name);
    }
    this.outcomes.push({ kind, atS, ms: performance.now() - t0, code });
    return body;
  }
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** An index run the soak started through the API, as it last saw it. */
export interface RunRecord {
  id: string;
  source: string;
  files: string[];
  startedAtS: number;
  status: string;
  counts?: {
    imagesSeen: number;
    imagesIndexed: number;
    imagesSkipped: number;
    imagesFailed: number;
    facesIndexed: number;
  };
  error?: { code: string; message: string } | null;
  reposted: number;
}
