/** The soak's report: tables on stdout and bench/results/soak.json. */
import { cpus, loadavg, totalmem } from 'node:os';
import { FINISHED_RUN_STATUSES } from '@fever/schema';
import type { Scrape } from '@fever/test/harness';
import { table, writeResults } from '../report.ts';
import type { Death } from './supervised.ts';
import { type Kind, type Outcome, percentile, type RunRecord } from './traffic.ts';

export type Outages = Record<'Redis' | 'Postgres', [number, number] | undefined>;

export interface SoakOutcome {
  args: string[];
  settings: Record<string, number>;
  loadAtStart: number[];
  /** Load averages sampled during the traffic. */
  load: number[];
  setup: { postgres: string; photos: string; warmupS: number };
  trafficS: number;
  drainS: number;
  outcomes: readonly Outcome[];
  outages: Outages;
  runs: readonly RunRecord[];
  processes: readonly { name: string; deaths: readonly Death[] }[];
  exits: Record<string, { code: number | null; signal: string | null; clean: boolean }>;
  /** Each worker incarnation's last scrape. */
  workerScrapes: ReadonlyMap<string, Scrape>;
  events: readonly { atS: number; event: string }[];
  check: Record<string, number | string>;
  unsearchable: readonly string[];
}

const KINDS: Kind[] = ['search by upload', 'search by face id', 'start index run', 'run status'];

const isFinished = (status: string) => (FINISHED_RUN_STATUSES as readonly string[]).includes(status);

/** Prints the tables and writes the JSON; returns the file written. */
export async function reportSoak(o: SoakOutcome): Promise<string> {
  const during = o.outcomes.filter((x) => x.atS <= o.trafficS);
  const requestRows = KINDS.map((kind) => {
    const all = during.filter((x) => x.kind === kind);
    const ok = all
      .filter((x) => x.code === 'ok')
      .map((x) => x.ms)
      .sort((a, b) => a - b);
    const codes = new Map<string, number>();
    for (const x of all) if (x.code !== 'ok') codes.set(x.code, (codes.get(x.code) ?? 0) + 1);
    return {
      kind,
      requests: all.length,
      'req/s': (all.length / o.trafficS).toFixed(2),
      errors: all.length - ok.length,
      'error codes': [...codes].map(([c, n]) => `${c} ×${n}`).join(', ') || '-',
      p50_ms: ok.length ? percentile(ok, 50).toFixed(0) : '-',
      p99_ms: ok.length ? percentile(ok, 99).toFixed(0) : '-',
    };
  });
  // Which outage an error belongs to: from the stop until 30 s after the server is back.
  const errorsBy: Record<string, number> = { 'Redis restart': 0, 'Postgres restart': 0, otherwise: 0 };
  for (const x of during) {
    if (x.code === 'ok') continue;
    // The latest outage that had begun (short runs overlap the windows).
    const near = (['Postgres', 'Redis'] as const).find((name) => {
      const w = o.outages[name];
      return w !== undefined && x.atS >= w[0] && x.atS <= w[1] + 30;
    });
    errorsBy[near ? `${near} restart` : 'otherwise']!++;
  }
  const runRows = {
    started: o.runs.length,
    succeeded: o.runs.filter((r) => r.status === 'succeeded').length,
    failed: o.runs.filter((r) => r.status === 'failed').length,
    unfinished: o.runs.filter((r) => !isFinished(r.status)).length,
    'requests sent again': o.runs.reduce((n, r) => n + r.reposted, 0),
    'images indexed': o.runs.reduce((n, r) => n + (r.counts?.imagesIndexed ?? 0), 0),
    'faces indexed': o.runs.reduce((n, r) => n + (r.counts?.facesIndexed ?? 0), 0),
  };
  const workerJobs = { discover: 0, embed: 0, retried: 0, failures: new Map<string, number>() };
  for (const s of o.workerScrapes.values()) {
    workerJobs.discover += s.sum('fever_index_jobs_total', { stage: 'discover', outcome: 'completed' });
    workerJobs.embed += s.sum('fever_index_jobs_total', { stage: 'embed', outcome: 'completed' });
    workerJobs.retried += s.sum('fever_index_jobs_total', { outcome: 'retried' });
    for (const f of s.all('fever_index_job_failures_total')) {
      const key = `${f.labels.stage} ${f.labels.code}`;
      workerJobs.failures.set(key, (workerJobs.failures.get(key) ?? 0) + f.value);
    }
  }

  console.log('');
  console.log(table(requestRows));
  console.log(
    `errors within 30 s of the Redis restart: ${errorsBy['Redis restart']}, of the Postgres restart: ` +
      `${errorsBy['Postgres restart']}, at other times: ${errorsBy.otherwise}`,
  );
  console.log('');
  console.log(table([runRows]));
  console.log('');
  console.log(
    table(
      o.processes.map((p) => ({
        process: p.name,
        restarts: p.deaths.length,
        reasons: [...new Set(p.deaths.map((d) => d.reason))].join('; ') || '-',
        'exit at the end': o.exits[p.name]!.clean
          ? 'clean (0)'
          : `${o.exits[p.name]!.code ?? o.exits[p.name]!.signal}`,
      })),
    ),
  );
  console.log('');
  console.log(table(Object.entries(o.check).map(([what, value]) => ({ 'exactly-once check': what, value }))));
  if (o.unsearchable.length > 0) console.log(`not searchable: ${o.unsearchable.slice(0, 5).join('; ')}`);
  console.log(
    `\nworker /metrics (summed over incarnations): ${workerJobs.discover} discover and ${workerJobs.embed} embed jobs completed, ` +
      `${workerJobs.retried} attempts retried; failures by stage and code: ${[...workerJobs.failures].map(([k, n]) => `${k} ×${n}`).join(', ') || 'none'}`,
  );
  const loadAtEnd = loadavg().map((l) => Number(l.toFixed(2)));
  console.log(
    `${cpus().length} cores (${cpus()[0]?.model}), ${(totalmem() / 2 ** 30).toFixed(0)} GB; load ${o.loadAtStart.join(' ')} at the start, ` +
      `${loadAtEnd.join(' ')} at the end; traffic ${o.trafficS.toFixed(0)} s, drain ${o.drainS.toFixed(0)} s; ` +
      'vectors: the embedded store, held by the API (which serves the write stage); workers: discover + embed',
  );
  return writeResults('soak', {
    date: new Date().toISOString(),
    cpu: cpus()[0]?.model,
    cores: cpus().length,
    loadAtStart: o.loadAtStart,
    loadAtEnd,
    loadDuringMean: o.load.length
      ? Number((o.load.reduce((a, b) => a + b, 0) / o.load.length).toFixed(2))
      : null,
    command: `npm run bench -- soak ${o.args.join(' ')}`.trim(),
    settings: o.settings,
    setup: {
      postgres: `private, ${o.setup.postgres}`,
      redis: 'private, no persistence (a restart comes back empty)',
      vectors:
        'embedded store, held by the API (the write stage runs there); workers serve discover and embed',
      photos: o.setup.photos,
      warmupS: o.setup.warmupS,
    },
    trafficS: Number(o.trafficS.toFixed(1)),
    drainS: Number(o.drainS.toFixed(1)),
    requests: requestRows,
    runs: runRows,
    runList: o.runs.map((r) => ({
      id: r.id,
      photos: r.files.length,
      status: r.status,
      counts: r.counts,
      error: r.error,
      reposted: r.reposted,
    })),
    restarts: o.processes.flatMap((p) => p.deaths),
    exitsAtEnd: o.exits,
    workerMetrics: { ...workerJobs, failures: Object.fromEntries(workerJobs.failures) },
    events: o.events,
    errorsBy,
    outages: o.outages,
    slowest: KINDS.map((kind) => ({
      kind,
      requests: during
        .filter((x) => x.kind === kind)
        .sort((a, b) => b.ms - a.ms)
        .slice(0, 5)
        .map((x) => ({ atS: Number(x.atS.toFixed(1)), ms: Math.round(x.ms), code: x.code })),
    })),
    errorsAfterTraffic: o.outcomes.filter((x) => x.atS > o.trafficS && x.code !== 'ok').length,
    exactlyOnce: { ...o.check, unsearchable: o.unsearchable.slice(0, 20) },
  });
}
