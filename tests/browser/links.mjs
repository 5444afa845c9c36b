// Browser test of a consultant's link: landing page → passcode → case page → image viewer (scroll a
// CT series, switch to the lung preset) → download of an original. Headless Debian Chromium driven
// by playwright-core, against a running `consilium serve` (see run.sh). The CT slices come from the
// DICOM corpus that .ci/run fetches (scripts/fetch-dicom-corpus). Screenshots go to SCREENSHOT_DIR.
// Exits non-zero on any failure and ends with "N passed, M failed".

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const BASE = process.env.BASE_URL;
const ADMIN_TOKEN = process.env.ADMIN_TOKEN;
const SHOTS = process.env.SCREENSHOT_DIR || join(here, 'screenshots');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const CORPUS = join(here, '../../fixtures/dicom-corpus');
mkdirSync(SHOTS, { recursive: true });

const SLICES = ['17106', '17136', '17166'].map((n) => `dicomdirtests__77654033__CT2__${n}`);
for (const slice of SLICES) {
  assert.ok(existsSync(join(CORPUS, slice)), `${slice} missing: run scripts/fetch-dicom-corpus first`);
}
const LETTER = Buffer.from('%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n', 'latin1');

/** A case in the imaging tier with three CT slices and a letter, sent as the form's script sends
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
  SLICES.forEach((slice, i) => form.append('image', new Blob([readFileSync(join(CORPUS, slice))]), `CT${i + 1}.dcm`));
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

test('a radiologist opens a link with its passcode, scrolls the CT, switches to lung and downloads the letter', async () => {
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

  // Open the series: the middle slice shows; arrow keys scroll; the lung preset re-renders.
  await page.locator('[data-series]').first().click();
  const image = page.locator('#viewer-image');
  await image.waitFor();
  await page.waitForFunction(() => document.getElementById('viewer-image').naturalWidth > 0);
  assert.match(await page.textContent('#viewer-position'), /^2 \/ 3/);
  await image.focus();
  await page.keyboard.press('ArrowDown');
  assert.match(await page.textContent('#viewer-position'), /^3 \/ 3/);
  await page.waitForFunction(() => document.getElementById('viewer-image').complete && document.getElementById('viewer-image').naturalWidth > 0);
  const softSrc = await image.getAttribute('src');
  await page.selectOption('#viewer-preset', 'lung');
  await page.waitForFunction(() => /preset=lung/.test(document.getElementById('viewer-image').src) && document.getElementById('viewer-image').complete && document.getElementById('viewer-image').naturalWidth > 0);
  assert.notEqual(await image.getAttribute('src'), softSrc);
  await page.screenshot({ path: join(SHOTS, 'viewer-lung-1280x800.png'), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: join(SHOTS, 'viewer-lung-390x844.png'), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 800 });

  // The original letter downloads byte for byte.
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.locator('a', { hasText: 'Download' }).first().click(),
  ]);
  const path = await download.path();
  assert.ok(readFileSync(path).length > 0);
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
