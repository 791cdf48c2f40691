/**
 * The search page in headless Chromium (Debian's, driven by playwright-core) against a real
 * server on a loopback port: upload a photo, click a face, see results, search from a result,
 * filter, and a phone-sized viewport. Screenshots go to test-artifacts/ at the repository root.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type RunningServer, startServer } from './server.ts';
import { type Fixture, openFixture } from './testing.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('../../../test-artifacts/', import.meta.url));
const available = existsSync(CHROMIUM);
if (!available) {
  if (process.env.CI) throw new Error(`${CHROMIUM} is missing, and CI is set (.ci/run installs chromium)`);
  console.warn(`SKIPPED: the browser test needs Chromium at ${CHROMIUM} (apt-get install -y chromium)`);
}

let fx: Fixture;
let server: RunningServer;
let browser: Browser;

beforeAll(async () => {
  if (!available) return;
  fx = await openFixture({ template: inject('fixtureTemplate') });
  server = await startServer(fx.runtime, { host: '127.0.0.1', port: 0 });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
    ],
  });
  await mkdir(ARTIFACTS, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  await server?.close(1000);
  await fx?.close();
});

/** Records what would betray a broken page: script errors, CSP reports, requests elsewhere. */
function watch(page: Page) {
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
  });
  page.on('request', (req) => {
    const url = req.url();
    if (!url.startsWith(server.url) && !url.startsWith('blob:') && !url.startsWith('data:')) {
      problems.push(`request to another origin: ${url}`);
    }
  });
  return problems;
}

async function thumbnailsLoaded(page: Page) {
  await page.waitForFunction(() => {
    const imgs = [...document.querySelectorAll<HTMLImageElement>('.result img')];
    return imgs.length > 0 && imgs.slice(0, 6).every((img) => img.complete && img.naturalWidth > 0);
  });
}

describe.skipIf(!available)('the search page in headless Chromium', () => {
  it('uploads a photo, outlines its faces, shows similar faces, and searches from a result', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems = watch(page);
    await page.goto(server.url);
    await expect(page.title()).resolves.toContain('fever');
    // Filters come from the API.
    await page.waitForSelector('#collections .chip', { state: 'attached' });

    await page.setInputFiles('#file', fx.photos[0]!);
    await page.waitForSelector('.face-box');
    const boxes = page.locator('.face-box');
    const faceCount = await boxes.count();
    expect(faceCount).toBeGreaterThan(1);
    await page.waitForSelector('.result');
    // The largest face is chosen first; click another one.
    const pressed = await boxes.evaluateAll((els) =>
      els.findIndex((e) => e.getAttribute('aria-pressed') === 'true'),
    );
    const other = (pressed + 1) % faceCount;
    await boxes.nth(other).click();
    await expect(boxes.nth(other).getAttribute('aria-pressed')).resolves.toBe('true');
    const results = page.locator('.result');
    expect(await results.count()).toBeGreaterThan(3);
    await expect(page.locator('#status').textContent()).resolves.toMatch(/similar faces? · \d+ ms/);
    const cardText = await results.first().textContent();
    expect(cardText).toMatch(/\d\.\d{3}/); // the similarity score
    expect(cardText).toMatch(/neutral|happy|sad|angry|fearful|disgusted|surprised/);
    await expect(page.locator('#selected').isVisible()).resolves.toBe(true);
    // The photo is indexed itself: none of its own faces come back.
    const own = new Set(fx.faces.filter((f) => f.photo === fx.photos[0]).map((f) => f.id));
    const shown = await results.evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.faceId));
    expect(shown.filter((id) => own.has(id!))).toEqual([]);
    await expect(page.locator('#more').isVisible()).resolves.toBe(false);
    await thumbnailsLoaded(page);
    await page.screenshot({ path: `${ARTIFACTS}query-page.png`, fullPage: true });

    // Click a result: search from that face (kept in the URL).
    const target = (await results.first().getAttribute('data-face-id'))!;
    await results.first().click();
    await page.waitForFunction((id) => location.hash === `#face=${id}`, target);
    await page.waitForFunction(
      (id) =>
        document.querySelector('#status')?.textContent?.includes('similar') &&
        ![...document.querySelectorAll('.result')].some((el) => (el as HTMLElement).dataset.faceId === id) &&
        document.querySelectorAll('.face-box').length > 0,
      target,
    );
    await page.waitForFunction(() => (document.querySelector('#photo') as HTMLImageElement).naturalWidth > 0);
    await thumbnailsLoaded(page);
    await page.screenshot({ path: `${ARTIFACTS}query-page-from-result.png`, fullPage: true });

    // Filter by expression: every result carries that label.
    await page.click('#filters summary');
    await page.locator('#labels .chip', { hasText: 'happy' }).click();
    await page.waitForFunction(() => {
      const cards = [...document.querySelectorAll('.result .label')];
      return cards.length > 0 && cards.every((c) => c.textContent?.startsWith('happy'));
    });
    expect(problems).toEqual([]);
    await page.close();
  });

  it('is usable on a phone-sized screen', async () => {
    const context = await browser.newContext({
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 2,
      isMobile: true,
      hasTouch: true,
    });
    const page = await context.newPage();
    const problems = watch(page);
    await page.goto(`${server.url}/#face=${fx.faces[0]!.id}`);
    await page.waitForSelector('.result');
    await thumbnailsLoaded(page);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    // Three thumbnails a row, each big enough to tap.
    const box = await page.locator('.result').first().boundingBox();
    expect(box!.width).toBeGreaterThanOrEqual(90);
    const next = await page.locator('.result').first().getAttribute('data-face-id');
    await page.locator('.result').first().tap();
    await page.waitForFunction((id) => location.hash === `#face=${id}`, next);
    await page.waitForFunction(() =>
      /in this photo/.test(document.querySelector('#caption')?.textContent ?? ''),
    );
    await page.waitForFunction(() => (document.querySelector('#photo') as HTMLImageElement).naturalWidth > 0);
    await thumbnailsLoaded(page);
    await page.screenshot({ path: `${ARTIFACTS}query-page-mobile.png`, fullPage: false });
    expect(problems).toEqual([]);
    await context.close();
  });

  it('asks for the token when the server requires one', async () => {
    const guarded = await startServer(fx.runtime, { host: '127.0.0.1', port: 0 }, { apiToken: 'page-token' });
    try {
      const page = await browser.newPage();
      await page.goto(guarded.url);
      await page.waitForSelector('#token-dialog[open]');
      await page.fill('#token', 'page-token');
      await page.click('#token-dialog button[value="ok"]');
      await page.waitForSelector('#collections .chip', { state: 'attached' });
      await page.setInputFiles('#file', fx.photos[5]!);
      await page.waitForSelector('.result img');
      await page.waitForFunction(() => {
        const img = document.querySelector<HTMLImageElement>('.result img');
        return img?.complete && img.naturalWidth > 0;
      });
      await page.close();
    } finally {
      await guarded.close(1000);
    }
  });

  it('renders the API reference from /openapi.json', async () => {
    const page = await browser.newPage();
    const problems = watch(page);
    await page.goto(`${server.url}/docs`);
    await page.waitForSelector('.op');
    expect(await page.locator('.op').count()).toBeGreaterThan(20);
    // Try an operation from the page.
    const op = page.locator('#op-getHealthz');
    await op.locator('summary').click();
    await op.locator('button[type=submit]').click();
    await expect(op.locator('pre').textContent()).resolves.toContain('"status": "ok"');
    await page.screenshot({ path: `${ARTIFACTS}api-reference.png` });
    expect(problems).toEqual([]);
    await page.close();
  });
});
