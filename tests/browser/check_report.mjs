// Opens an HTML report in headless Chromium (Debian's chromium) and prints,
// as one JSON line, what rendered: the step sections, each image's natural
// size, how many pixels each chart canvas painted, the page's text and every
// console error. Saves a full-page screenshot.
//   node tests/browser/check_report.mjs REPORT.html SCREENSHOT.png
// Exit status 3 (and a line "cannot start chromium: ...") where Chromium cannot start.
import { chromium } from 'playwright-core';
import { pathToFileURL } from 'node:url';

const [report, screenshot] = process.argv.slice(2);
let browser;
try {
  browser = await chromium.launch({
    executablePath: process.env.FACET_CHROMIUM || '/usr/bin/chromium',
    // As root in a container: no sandbox; no network at all, so nothing to connect to.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync'],
  });
} catch (error) {
  console.log(`cannot start chromium: ${String(error).split('\n')[0]}`);
  process.exit(3);
}
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
const errors = [];
page.on('console', (message) => { if (message.type() === 'error') errors.push(message.text()); });
page.on('pageerror', (error) => errors.push(String(error)));
page.on('requestfailed', (request) => errors.push(`request failed: ${request.url()}`));
await page.goto(pathToFileURL(report).href, { waitUntil: 'load' });
const rendered = await page.evaluate(() => ({
  steps: [...document.querySelectorAll('section.step')].map((s) => s.id),
  images: [...document.images].map((i) => ({ name: i.alt, width: i.naturalWidth, height: i.naturalHeight })),
  charts: [...document.querySelectorAll('canvas')].map((c) => {
    const pixels = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let painted = 0;
    for (let k = 3; k < pixels.length; k += 4) painted += pixels[k] !== 0 ? 1 : 0;
    return { id: c.id, painted };
  }),
  chartLibrary: typeof Chart !== 'undefined',
  text: document.body.innerText,
}));
await page.screenshot({ path: screenshot, fullPage: true });
await browser.close();
console.log(JSON.stringify({ ...rendered, errors }));
