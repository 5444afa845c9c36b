// Browser test of a radiologist's link: landing page → passcode → case page → image viewer (scroll a
// CT series with the mouse wheel and the keyboard, switch to the lung preset, drag and type a
// window, all keyboard-reachable, axe-checked) → download of an original. Headless Debian Chromium
// driven by playwright-core, against a running `consilium serve` (see run.sh) with watermarked
// previews. The CT series is a synthetic phantom made by phantom.mjs. Screenshots go to
// SCREENSHOT_DIR. Exits non-zero on any failure and ends with "N passed, M failed".

import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

import { axe } from './axe.mjs';

import { ctSeriesZip } from './phantom.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const BASE = process.env.BASE_URL;
const ADMIN_TOKEN = process.env.ADMIN_TOKEN;
const SHOTS = process.env.SCREENSHOT_DIR || join(here, 'screenshots');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SLICES = 12;
mkdirSync(SHOTS, { recursive: true });

const LETTER = Buffer.from('%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n', 'latin1');

/** A case in the imaging tier with a zipped CT series and a letter, sent as the form's script sends
 * it (Node's fetch announces itself with Sec-Fetch-Mode, so it must carry the form's CSRF token and
 * cookie like a browser); returns its id. */
async function ctCase() {
  const formPage = await fetch(`${BASE}/`);
  const cookie = formPage.headers.get('set-cookie').split(';')[0];
  const token = (await formPage.text()).match(/data-csrf-token="([^"]+)"/)[1];
  const form = new FormData();
  for (const [k, v] of Object.entries({
    full_name: 'Amelia Zanzibar-Quint', email: 'amelia.quint@example.org', service: 'records_and_images_review',
    condition: 'Persistent cough; CT chest done in October. Second opinion on the nodules, please.', terms_accepted: 'true',
  })) form.append(k, v);
  form.append('image', new Blob([ctSeriesZip(SLICES)]), 'CD-export.zip');
  form.append('report', new Blob([LETTER]), 'radiology-report.pdf');
  const response = await fetch(`${BASE}/api/v1/requests`, { method: 'POST', body: form, headers: { accept: 'application/json', cookie, 'x-csrf-token': token } });
  assert.equal(response.status, 201, await response.clone().text());
  return (await response.json()).case_id;
}

async function issueLink(caseId) {
  const response = await fetch(`${BASE}/api/v1/cases/${caseId}/links`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ recipient: 'Dr A Khan', role: 'radiologist', scopes: ['view', 'download'], expires_in_seconds: 86400, max_uses: 3, passcode: true }),
  });
  assert.equal(response.status, 201, await response.clone().text());
  return response.json();
}

const tests = [];
const test = (name, fn) => tests.push({ name, fn });
let browser;

test('a radiologist opens a link with its passcode, scrolls the CT by keyboard and wheel, windows it by preset, drag and typing, and downloads the letter', async () => {
  const link = await issueLink(await ctCase());
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('request', (r) => { if (!r.url().startsWith(BASE)) problems.push(`request to another host: ${r.url()}`); });

  await page.goto(link.url);
  await page.getByText('Dr A Khan').waitFor();
  await page.screenshot({ path: join(SHOTS, 'link-landing-1280x800.png'), fullPage: true });

  // A wrong passcode is refused on the page; the right one opens the case.
  await page.fill('#passcode', '00000000');
  await page.click('button[type=submit]');
  await page.waitForLoadState();
  if (!(await page.content()).includes('That passcode is not right')) {
    console.log((await page.content()).slice(0, 3000));
  }
  await page.getByText('That passcode is not right').waitFor();
  await page.fill('#passcode', link.passcode);
  await page.click('button[type=submit]');
  await page.waitForURL(/\/case$/);
  await page.getByRole('heading', { name: 'Imaging' }).waitFor();
  await page.screenshot({ path: join(SHOTS, 'link-case-1280x800.png'), fullPage: true });

  await axe(page, 'case page');

  // Keyboard only: Tab to the series, Enter opens it on the middle slice with focus on the image.
  const image = page.locator('#viewer-image');
  const loaded = () => page.waitForFunction(() => {
    const img = document.getElementById('viewer-image');
    return img.complete && img.naturalWidth > 0;
  });
  for (let i = 0; i < 40 && !(await page.evaluate(() => document.activeElement.hasAttribute('data-series'))); i += 1) {
    await page.keyboard.press('Tab');
  }
  assert.ok(await page.evaluate(() => document.activeElement.hasAttribute('data-series')), 'the series button is reachable with Tab');
  await page.keyboard.press('Enter');
  await loaded();
  assert.equal(await page.evaluate(() => document.activeElement.id), 'viewer-image');
  assert.match(await page.textContent('#viewer-position'), new RegExp(`^7 / ${SLICES}`));
  // The file's own window (40/400) is where the viewer starts.
  assert.equal(await page.inputValue('#viewer-wc'), '40');
  assert.equal(await page.inputValue('#viewer-ww'), '400');
  await page.keyboard.press('ArrowDown');
  assert.match(await page.textContent('#viewer-position'), new RegExp(`^8 / ${SLICES}`));
  await page.keyboard.press('End');
  assert.match(await page.textContent('#viewer-position'), new RegExp(`^${SLICES} / ${SLICES}`));
  await page.keyboard.press('Home');
  assert.match(await page.textContent('#viewer-position'), new RegExp(`^1 / ${SLICES}`));
  await page.keyboard.press('PageDown');
  assert.match(await page.textContent('#viewer-position'), new RegExp(`^6 / ${SLICES}`));

  // The mouse wheel scrolls the stack too.
  await image.hover();
  await page.mouse.wheel(0, 120);
  await page.waitForFunction((n) => document.getElementById('viewer-position').textContent.startsWith(`7 / ${n}`), SLICES);
  await loaded();
  await page.screenshot({ path: join(SHOTS, 'viewer-soft-tissue-1280x800.png'), fullPage: true });

  // The lung preset re-renders the same slice.
  const fileWindowSrc = await image.getAttribute('src');
  await page.selectOption('#viewer-preset', 'lung');
  await page.waitForFunction(() => /preset=lung/.test(document.getElementById('viewer-image').src));
  await loaded();
  assert.notEqual(await image.getAttribute('src'), fileWindowSrc);
  assert.equal(await page.inputValue('#viewer-wc'), '-600');
  await page.screenshot({ path: join(SHOTS, 'viewer-lung-1280x800.png'), fullPage: true });
  await axe(page, 'viewer open');
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: join(SHOTS, 'viewer-lung-390x844.png'), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 800 });

  // Dragging on the image changes the window as it moves (sideways: width; up and down: centre).
  await image.scrollIntoViewIfNeeded();
  const box = await image.boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width / 2 + 50, box.y + box.height / 2 + 25, { steps: 5 });
  await page.mouse.up();
  await page.waitForFunction(() => /wc=-550&ww=1700/.test(document.getElementById('viewer-image').src), null, { timeout: 10000 })
    .catch(async (e) => { throw new Error(`${e.message}; src is ${await image.getAttribute('src')}`); });
  assert.equal(await page.inputValue('#viewer-ww'), '1700');

  // A window typed in (keyboard users' way to window) applies on Enter.
  await page.fill('#viewer-wc', '400');
  await page.fill('#viewer-ww', '1800');
  await page.press('#viewer-ww', 'Enter');
  await page.waitForFunction(() => /wc=400&ww=1800/.test(document.getElementById('viewer-image').src));
  await loaded();
  await page.screenshot({ path: join(SHOTS, 'viewer-bone-window-1280x800.png'), fullPage: true });

  // Escape closes the viewer and gives focus back to the series button.
  await image.focus();
  await page.keyboard.press('Escape');
  assert.ok(await page.locator('#viewer').isHidden());
  assert.ok(await page.evaluate(() => document.activeElement.hasAttribute('data-series')));

  // The CD export's members are listed inside its row; the original letter downloads byte for byte.
  await page.locator('details.members summary').click();
  assert.equal(await page.locator('details.members li').count(), SLICES);
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.locator('tr', { hasText: 'radiology-report.pdf' }).getByRole('link', { name: 'Download' }).click(),
  ]);
  assert.deepEqual(readFileSync(await download.path()), LETTER);
  assert.deepEqual(problems, [], 'no script errors or requests to other hosts');
  await context.close();
});

browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
});
let passed = 0;
let failed = 0;
for (const { name, fn } of tests) {
  const started = Date.now();
  try {
    await fn();
    passed += 1;
    console.log(`ok - ${name} (${Date.now() - started} ms)`);
  } catch (error) {
    failed += 1;
    console.log(`not ok - ${name}\n    ${String(error && error.stack ? error.stack : error).split('\n').join('\n    ')}`);
  }
}
await browser.close();
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
