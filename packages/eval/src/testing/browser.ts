import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Whether Chromium is here; absent, the render checks skip and say so (and fail under CI). */
export function chromiumAvailable(): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.CI) throw new Error(`Chromium is missing at ${CHROMIUM}, and CI is set`);
  console.warn(`SKIPPED: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`);
  return false;
}

export interface RenderCheck {
  title: string;
  svgs: number;
  tables: number;
  images: number;
  /** Images whose data did not decode. */
  brokenImages: number;
  /** Requests the page made to anything but itself and data: URIs: a self-contained page makes none. */
  externalRequests: string[];
  pageErrors: string[];
}

/**
 * Opens an HTML file in headless Chromium, screenshots the whole page and reports what rendered.
 * Chromium comes from the system (apt's `chromium`), not from a Playwright download.
 */
export async function renderInChromium(htmlFile: string, screenshot: string): Promise<RenderCheck> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
    ],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const url = pathToFileURL(htmlFile).href;
    const externalRequests: string[] = [];
    const pageErrors: string[] = [];
    page.on('request', (r) => {
      if (r.url() !== url && !r.url().startsWith('data:')) externalRequests.push(r.url());
    });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(url, { waitUntil: 'load' });
    // A string, not a function: this package is type-checked without the DOM library.
    const brokenImages = Number(
      await page.evaluate('[...document.images].filter((i) => !i.complete || i.naturalWidth === 0).length'),
    );
    const counts = {
      title: await page.title(),
      svgs: await page.locator('svg').count(),
      tables: await page.locator('table').count(),
      images: await page.locator('img').count(),
      brokenImages,
    };
    await mkdir(dirname(screenshot), { recursive: true });
    await page.screenshot({ path: screenshot, fullPage: true });
    return { ...counts, externalRequests, pageErrors };
  } finally {
    await browser.close();
  }
}
