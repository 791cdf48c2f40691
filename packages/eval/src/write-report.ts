import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { renderFecHtml } from './fec/report-html.ts';
import type { FecEvalResult } from './fec/result.ts';
import { renderRetrievalHtml } from './retrieval/report-html.ts';
import type { RetrievalEvalResult } from './retrieval/result.ts';

export type EvalResult = FecEvalResult | RetrievalEvalResult;

export function renderReportHtml(result: EvalResult): string {
  return result.kind === 'fec' ? renderFecHtml(result) : renderRetrievalHtml(result);
}

/** Writes `report.json` (the result as it is) and `report.html` into `dir`; returns their paths. */
export async function writeReport(result: EvalResult, dir: string): Promise<{ json: string; html: string }> {
  const out = resolve(dir);
  await mkdir(out, { recursive: true });
  const json = join(out, 'report.json');
  const html = join(out, 'report.html');
  await writeFile(json, `${JSON.stringify(result, null, 2)}\n`);
  await writeFile(html, renderReportHtml(result));
  return { json, html };
}
