/**
 * The page's people in headless Chromium against a real server: a selected face shows its person
 * (name, one face per expression), and the person's page shows one row per expression.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createLogger,
  openRuntime,
  PeopleService,
  type ServingRuntime,
  startIndexRun,
  waitForRun,
} from '@fever/core';
import { writePeoplePhotos } from '@fever/core/testing';
import { samplePhotos } from '@fever/encoder/testing';
import { parseConfig } from '@fever/schema';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, startServer } from './server.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
if (!available) {
  if (process.env.CI) throw new Error(`${CHROMIUM} is missing, and CI is set`);
  console.warn(`SKIPPED: the people page test needs Chromium at ${CHROMIUM}`);
}

let root: string;
let runtime: ServingRuntime;
let server: RunningServer;
let browser: Browser;

beforeAll(async () => {
  if (!available) return;
  root = await mkdtemp(join(tmpdir(), 'fever-people-page-'));
  await mkdir(join(root, 'photos'));
  await writePeoplePhotos(join(root, 'photos'), samplePhotos().slice(0, 2));
  runtime = await openRuntime(
    parseConfig({ FEVER_DATA_DIR: join(root, 'data'), FEVER_DEVICE: 'cpu', FEVER_LOG_LEVEL: 'silent' }),
    { logger: createLogger('silent') },
  );
  const { runId } = await startIndexRun(runtime, { source: join(root, 'photos'), collection: 'family' });
  await waitForRun(runtime, runId, { intervalMs: 100 });
  await new PeopleService(runtime).cluster('family');
  server = await startServer(runtime, { host: '127.0.0.1', port: 0 });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu'],
  });
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await server?.close(1000);
  await runtime?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

describe.skipIf(!available)('people on the search page', () => {
  it('shows a person strip under a selected face, and the person page one row per expression', async () => {
    const people = new PeopleService(runtime);
    const [top] = (await people.list('family')).people;
    await people.rename(top!.id, 'Grandma');
    const detail = await people.show(top!.id);
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    await page.goto(`${server.url}/#face=${top!.coverFaceId}`);
    const strip = page.locator('.person-strip');
    await strip.waitFor({ timeout: 30_000 });
    expect(await strip.locator('.person-name').textContent()).toBe(`Grandma · ${top!.faceCount} faces`);
    expect(await strip.locator('.person-face').count()).toBe(detail.expressions.length);

    await strip.locator('.person-name').click();
    await page.locator('.expression-row').first().waitFor({ timeout: 30_000 });
    expect(await page.locator('#selected h2').textContent()).toBe('Grandma in family');
    expect(await page.locator('.expression-row').count()).toBe(detail.expressions.length);
    expect(await page.locator('.expression-row .person-face').count()).toBe(top!.faceCount);
    // A face on the person page searches from it.
    await page.locator('.expression-row .person-face').first().click();
    await page.locator('.result').first().waitFor({ timeout: 30_000 });
    expect(errors).toEqual([]);
    await page.close();
  }, 120_000);

  it("searches other people only, or only the selected face's person, from the People filter", async () => {
    const [top] = (await new PeopleService(runtime).list('family')).people;
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    type Similar = { results: { personId?: number | null }[] };
    const similar = (match: RegExp) =>
      page
        .waitForResponse((r) => r.url().includes('/similar?') && match.test(r.url()))
        .then(async (r) => (await r.json()) as Similar);

    const everyone = similar(/^(?!.*person=)/);
    await page.goto(`${server.url}/#face=${top!.coverFaceId}`);
    const own = (await everyone).results.filter((r) => r.personId === top!.id).length;
    expect(own).toBeGreaterThan(0); // the person's other faces are among the nearest

    await page.locator('#filters summary').click();
    const others = similar(/person=other/);
    await page.locator('#person').selectOption('other');
    const otherResults = (await others).results;
    expect(otherResults.length).toBeGreaterThan(0);
    expect(otherResults.filter((r) => r.personId === top!.id)).toEqual([]);

    const only = similar(new RegExp(`person=${top!.id}(&|$)`));
    await page.locator('.person-only').click();
    const onlyResults = (await only).results;
    expect(onlyResults.length).toBeGreaterThan(0);
    expect(onlyResults.every((r) => r.personId === top!.id)).toBe(true);
    expect(await page.locator('#person').inputValue()).toBe(String(top!.id));
    expect(errors).toEqual([]);
    await page.close();
  }, 120_000);
});
