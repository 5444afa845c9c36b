// Browser tests of the patient request form: headless Debian Chromium driven by playwright-core
// (no downloaded browser), against a running `consilium serve` (see run.sh). Each test says what a
// patient would check; axe-core runs inside the page. Screenshots of the empty form, the form with
// errors and the receipt, at 390×844 and 1280×800, go to SCREENSHOT_DIR.
// Exits non-zero on any failure and ends with "N passed, M failed".

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
if (!BASE || !ADMIN_TOKEN) {
  console.error('BASE_URL and ADMIN_TOKEN are needed (run through tests/browser/run.sh)');
  process.exit(2);
}
mkdirSync(SHOTS, { recursive: true });

// ---- Files a patient would send ----

/** A small, valid one-page PDF (a clinic letter), with a correct cross-reference table. */
function clinicLetterPdf() {
  const text = 'BT /F1 14 Tf 72 720 Td (Clinic letter: MRI of the left knee, 12 October 2026.) Tj ET';
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    `<< /Length ${text.length} >>\nstream\n${text}\nendstream`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ];
  let out = '%PDF-1.4\n';
  const offsets = [];
  objects.forEach((body, i) => {
    offsets.push(out.length);
    out += `${i + 1} 0 obj\n${body}\nendobj\n`;
  });
  const xref = out.length;
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const offset of offsets) out += `${String(offset).padStart(10, '0')} 00000 n \n`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}

/** Bytes that start like a Windows executable, named .pdf. */
function executableNamedPdf() {
  const bytes = Buffer.alloc(4096, 0);
  bytes.write('MZ', 0, 'latin1');
  bytes.writeUInt32LE(0x80, 0x3c);
  bytes.write('PE\0\0', 0x80, 'latin1');
  bytes.write('This program cannot be run in DOS mode.', 0x4e, 'latin1');
  return bytes;
}

const FUNDUS = { name: 'fundus-photo.jpg', mimeType: 'image/jpeg', buffer: readFileSync(join(here, 'fixtures/fundus-photo.jpg')) };
const LAUNCH = { name: 'launch-photo.jpg', mimeType: 'image/jpeg', buffer: readFileSync(join(here, 'fixtures/launch-photo.jpg')) };
const LETTER = { name: 'clinic-letter.pdf', mimeType: 'application/pdf', buffer: clinicLetterPdf() };
const FAKE_PDF = { name: 'discharge-summary.pdf', mimeType: 'application/pdf', buffer: executableNamedPdf() };
const NINE_MB = { name: 'scan-report.pdf', mimeType: 'application/pdf', buffer: Buffer.concat([clinicLetterPdf(), Buffer.alloc(9 * 1024 * 1024, 0x20)]) };
/** A different photo for each name: the launch photo with the name in a JPEG comment segment. */
function photo(name) {
  const text = Buffer.from(name, 'utf8');
  const comment = Buffer.alloc(4);
  comment.writeUInt16BE(0xfffe, 0);
  comment.writeUInt16BE(text.length + 2, 2);
  const buffer = Buffer.concat([LAUNCH.buffer.subarray(0, 2), comment, text, LAUNCH.buffer.subarray(2)]);
  return { name, mimeType: 'image/jpeg', buffer };
}
/** A hospital CD's CT export, zipped: extension-less DICOM files under DICOM/. */
const CT_ZIP = { name: 'CT-chest-CD.zip', mimeType: 'application/zip', buffer: ctSeriesZip(3) };
const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

const PATIENT = {
  full_name: 'Amelia Zanzibar-Quint',
  email: 'amelia.quint@example.org',
  phone: '+44 20 7946 0958',
  condition: 'Torn meniscus suspected after an MRI; surgery has been offered. Is surgery the right choice, or would physiotherapy do?',
};

// ---- A tiny test runner ----

const tests = [];
const test = (name, fn) => tests.push({ name, fn });

let browser;
async function newPage(options = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...options });
  const page = await context.newPage();
  page.problems = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') page.problems.push(`console: ${msg.text()}`);
  });
  page.on('pageerror', (error) => page.problems.push(`page error: ${error.message}`));
  page.on('requestfailed', (request) => {
    const failure = request.failure();
    if (!request.url().startsWith(BASE) && failure) page.problems.push(`third-party request: ${request.url()}`);
  });
  page.on('request', (request) => {
    if (!request.url().startsWith(BASE) && !request.url().startsWith('data:') && !request.url().startsWith('blob:')) {
      page.problems.push(`request to another host: ${request.url()}`);
    }
  });
  return page;
}

/** No script errors, no CSP violations, nothing fetched from another host. */
function assertClean(page) {
  const problems = page.problems.filter((p) => !/Failed to load resource: the server responded with a status of (4\d\d|5\d\d)/.test(p));
  assert.deepEqual(problems, [], 'no console errors, CSP violations or third-party requests');
}

async function screenshots(page, name) {
  for (const [width, height] of [[390, 844], [1280, 800]]) {
    await page.setViewportSize({ width, height });
    await page.waitForTimeout(100);
    await page.screenshot({ path: join(SHOTS, `${name}-${width}x${height}.png`), fullPage: true });
  }
  await page.setViewportSize({ width: 1280, height: 800 });
}

async function fillAnswers(page, { service = 'records_review' } = {}) {
  await page.fill('#full_name', PATIENT.full_name);
  await page.fill('#email', PATIENT.email);
  await page.fill('#phone', PATIENT.phone);
  await page.check('#contact_preference-phone');
  await page.check(`#service-${service}`);
  await page.fill('#condition', PATIENT.condition);
  await page.check('#terms_accepted');
}

async function answersOf(page) {
  return page.evaluate(() => ({
    full_name: document.getElementById('full_name').value,
    email: document.getElementById('email').value,
    phone: document.getElementById('phone').value,
    condition: document.getElementById('condition').value,
    contact: (document.querySelector('input[name=contact_preference]:checked') || {}).value,
    service: (document.querySelector('input[name=service]:checked') || {}).value,
    terms: document.getElementById('terms_accepted').checked,
  }));
}

async function admin(path) {
  const response = await fetch(`${BASE}${path}`, { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
  assert.equal(response.status, 200, `admin GET ${path}`);
  return response.json();
}

async function findCase(reference) {
  const listed = await admin('/api/v1/cases');
  const found = listed.cases.find((c) => c.reference === reference);
  assert.ok(found, `the admin API lists ${reference}`);
  return admin(`/api/v1/cases/${found.case_id}`);
}

function countSubmissions(page) {
  const counter = { posts: 0 };
  page.on('request', (request) => {
    if (request.method() === 'POST' && request.url().includes('/api/v1/requests')) counter.posts += 1;
  });
  return counter;
}

// ---- The tests ----

/** Waits (bounded) until `count` files matching `selector` are listed: a chosen file is listed
 * once it has been read and hashed (the page keeps one of two identical files), not at once. */
async function chosen(page, selector, count) {
  await page.waitForFunction(
    ([sel, n]) => document.querySelectorAll(sel).length === n,
    [selector, count],
    { timeout: 10000 },
  ).catch(() => {});
}

test('the empty form: labelled, readable at 360 px and at 200 % zoom, no axe violation, screenshots', async () => {
  const page = await newPage();
  const response = await page.goto(BASE + '/');
  assert.equal(response.status(), 200);
  const headers = response.headers();
  assert.match(headers['content-security-policy'], /script-src 'self'/);
  const cookie = (await page.context().cookies()).find((c) => c.name === 'consilium-csrf');
  assert.ok(cookie, 'the CSRF cookie is set');
  assert.equal(cookie.sameSite, 'Strict');
  assert.equal(cookie.httpOnly, true);
  for (const id of ['full_name', 'email', 'phone', 'condition', 'sponsor_reference', 'terms_accepted']) {
    const label = await page.locator(`label[for="${id}"]`).count();
    assert.equal(label, 1, `#${id} has a label`);
  }
  assert.match(await page.textContent('#service-field'), /Medical Records Review\s+from £495/);
  assert.match(await page.textContent('#service-field'), /Medical Records and Images Review\s+from £650/);
  assert.match(await page.textContent('#report-hint'), /under 8 MB/);
  await axe(page, 'empty form');
  await screenshots(page, 'form-empty');
  // 360 px wide, and 1280×800 at 200 % zoom (a 640×400 CSS viewport): nothing scrolls sideways.
  for (const [width, height, scale] of [[360, 740, 1], [640, 400, 2]]) {
    const zoomed = await newPage({ viewport: { width, height }, deviceScaleFactor: scale });
    await zoomed.goto(BASE + '/');
    const overflow = await zoomed.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `no horizontal scrolling at ${width}px (overflow ${overflow}px)`);
    if (scale === 2) await zoomed.screenshot({ path: join(SHOTS, 'form-zoom200-1280x800.png') });
    await zoomed.context().close();
  }
  assertClean(page);
  await page.context().close();
});

test('choosing a fourth image or a 9 MB file shows the message beside it before any upload', async () => {
  const page = await newPage();
  const submissions = countSubmissions(page);
  await page.goto(BASE + '/');
  await page.setInputFiles('#image', [photo('knee-1.jpg'), photo('knee-2.jpg'), photo('knee-3.jpg'), photo('knee-4.jpg')]);
  const fourth = page.locator('#image-files li', { hasText: 'knee-4.jpg' });
  assert.match(await fourth.getAttribute('class'), /file--error/);
  assert.match(await fourth.textContent(), /up to 3 images/);
  for (const ok of ['knee-1.jpg', 'knee-2.jpg', 'knee-3.jpg']) {
    assert.match(await page.locator('#image-files li', { hasText: ok }).getAttribute('class'), /file--ok/);
  }
  await page.setInputFiles('#report', [NINE_MB]);
  const big = page.locator('#report-files li', { hasText: 'scan-report.pdf' });
  assert.match(await big.textContent(), /9\.0 MB, which is too large: each file must be under 8 MB/);
  await page.setInputFiles('#report', [{ name: 'setup.exe', mimeType: 'application/octet-stream', buffer: Buffer.from('MZ') }]);
  assert.match(await page.locator('#report-files li', { hasText: 'setup.exe' }).textContent(), /kind of file we cannot accept/);
  // Sending with nothing else filled in: every problem listed, nothing uploaded.
  await page.click('#submit-button');
  await page.waitForSelector('#error-summary:not([hidden])');
  const summary = await page.textContent('#error-summary');
  for (const expected of ['full name', 'email address', 'service', 'condition', 'knee-4.jpg', 'terms of service']) {
    assert.ok(summary.includes(expected), `the summary mentions ${expected}: ${summary}`);
  }
  assert.equal(await page.evaluate(() => document.activeElement.id), 'error-summary', 'focus moves to the summary');
  assert.equal(await page.getAttribute('#full_name', 'aria-invalid'), 'true');
  await page.click('#error-summary a[href="#full_name"]');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'full_name', 'a summary link focuses its field');
  assert.equal(submissions.posts, 0, 'nothing was sent');
  await axe(page, 'form with errors');
  await page.evaluate(() => window.scrollTo(0, 0));
  await screenshots(page, 'form-errors');
  // Removing the extra image makes the rest sendable.
  await page.click('#image-files li:has-text("knee-4.jpg") button');
  assert.equal(await page.locator('#image-files li.file--error').count(), 0);
  assert.equal(await page.evaluate(() => document.activeElement.id), 'image-choose', 'focus returns to the add button');
  assertClean(page);
  await page.context().close();
});

test('a complete request with a PDF and two real photos shows progress, then the receipt the admin API confirms', async () => {
  const page = await newPage();
  await page.goto(BASE + '/');
  await fillAnswers(page);
  await page.setInputFiles('#report', [LETTER]);
  await page.setInputFiles('#image', [FUNDUS, LAUNCH]);
  await chosen(page, '#image-files li.file--ok', 2);
  assert.equal(await page.locator('#image-files li.file--ok').count(), 2);
  // A slow upload (CDP throttling) so that the progress bar can be seen moving.
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 40, downloadThroughput: -1, uploadThroughput: 200 * 1024 });
  const seen = new Set();
  const watcher = setInterval(() => {
    page.evaluate(() => document.getElementById('upload-progress').value).then((v) => seen.add(v), () => {});
  }, 40);
  await page.click('#submit-button');
  await page.waitForSelector('#receipt:not([hidden])', { timeout: 30000 });
  clearInterval(watcher);
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  const between = [...seen].filter((v) => v > 0 && v < 100);
  console.log(`    progress values seen while sending: ${[...seen].sort((a, b) => a - b).join(', ')}`);
  assert.ok(between.length > 0, 'the progress bar showed a value between 0 and 100 %');
  const reference = (await page.textContent('[data-slot="reference"]')).trim();
  assert.match(reference, /^SMO-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/);
  const receiptText = await page.textContent('#receipt');
  assert.match(receiptText, /clinic-letter\.pdf/);
  assert.match(receiptText, /fundus-photo\.jpg\s+264 KB/);
  assert.match(receiptText, /launch-photo\.jpg/);
  assert.match(receiptText, /An administrator will contact you by telephone no later than (the end of )?\w+day \d+ \w+ 20\d\d/);
  assert.match(receiptText, /within five working days of payment/);
  assert.ok(!receiptText.includes(PATIENT.full_name) && !receiptText.includes(PATIENT.email), 'nothing personal on the receipt');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'receipt-title', 'focus moves to the receipt');
  assert.ok(await page.isVisible('[data-action="print"]'), 'a print button');
  const found = await findCase(reference);
  assert.equal(found.documents.length, 3);
  assert.deepEqual(found.documents.map((d) => d.filename).sort(), ['clinic-letter.pdf', 'fundus-photo.jpg', 'launch-photo.jpg']);
  const photoDoc = found.documents.find((d) => d.filename === 'fundus-photo.jpg');
  assert.equal(photoDoc.size, FUNDUS.buffer.length);
  await axe(page, 'receipt');
  await screenshots(page, 'receipt');
  assertClean(page);
  await page.context().close();
});

test('a .pdf that is really an executable is refused by the server beside that file, with the answers kept', async () => {
  const page = await newPage();
  await page.goto(BASE + '/');
  await fillAnswers(page);
  await page.setInputFiles('#report', [FAKE_PDF, LETTER]);
  await page.setInputFiles('#image', [FUNDUS]);
  assert.equal(await page.locator('#report-files li.file--error').count(), 0, 'the name looks fine before upload');
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url().includes('/api/v1/requests')),
    page.click('#submit-button'),
  ]);
  assert.equal(response.status(), 415);
  await page.waitForSelector('#error-summary:not([hidden])');
  const refused = page.locator('#report-files li', { hasText: 'discharge-summary.pdf' });
  assert.match(await refused.getAttribute('class'), /file--error/);
  assert.match(await refused.textContent(), /does not contain what its name says/);
  assert.match(await page.textContent('#error-summary'), /discharge-summary\.pdf/);
  assert.deepEqual(await answersOf(page), {
    full_name: PATIENT.full_name, email: PATIENT.email, phone: PATIENT.phone, condition: PATIENT.condition,
    contact: 'phone', service: 'records_review', terms: true,
  }, 'every answer is still there');
  await chosen(page, '#report-files li.file--ok, #image-files li.file--ok', 2);
  assert.equal(await page.locator('#report-files li.file--ok, #image-files li.file--ok').count(), 2, 'the other files are still chosen');
  assert.ok(await page.isHidden('#receipt'));
  await axe(page, 'server refusal');
  await page.screenshot({ path: join(SHOTS, 'form-server-refusal-1280x800.png'), fullPage: true });
  // Remove the bad file and send again: no retyping.
  await refused.locator('button').click();
  await page.click('#submit-button');
  await page.waitForSelector('#receipt:not([hidden])');
  const reference = (await page.textContent('[data-slot="reference"]')).trim();
  const found = await findCase(reference);
  assert.equal(found.documents.length, 2);
  assertClean(page);
  await page.context().close();
});

test('a patient using only the keyboard can complete and send the form', async () => {
  const page = await newPage();
  // Listening from the start turns on Playwright's file chooser interception before any key is
  // pressed (turned on later, it can race the key press and miss the dialog).
  const choosers = [];
  page.on('filechooser', (chooser) => choosers.push(chooser));
  await page.goto(BASE + '/');
  const focused = () => page.evaluate(() => document.activeElement && document.activeElement.id);
  async function tabTo(id) {
    for (let i = 0; i < 80; i++) {
      if ((await focused()) === id) return;
      await page.keyboard.press('Tab');
    }
    throw new Error(`Tab never reached #${id} (at #${await focused()})`);
  }
  // The skip link comes first and jumps to the content.
  await page.keyboard.press('Tab');
  assert.match(await page.evaluate(() => document.activeElement.textContent), /Skip to main content/);
  await tabTo('full_name');
  await page.keyboard.type(PATIENT.full_name);
  await page.keyboard.press('Tab');
  assert.equal(await focused(), 'email');
  await page.keyboard.type(PATIENT.email);
  await page.keyboard.press('Tab');
  assert.equal(await focused(), 'phone');
  await page.keyboard.type(PATIENT.phone);
  await page.keyboard.press('Tab');
  assert.equal(await focused(), 'contact_preference-email');
  await page.keyboard.press('ArrowRight');
  assert.equal(await page.isChecked('#contact_preference-phone'), true);
  await page.keyboard.press('Tab');
  assert.equal(await focused(), 'service-records_review');
  await page.keyboard.press('ArrowDown');
  assert.equal(await page.isChecked('#service-records_and_images_review'), true);
  await tabTo('condition');
  await page.keyboard.type(PATIENT.condition);
  await tabTo('image-choose');
  await page.keyboard.press('Enter');
  for (let i = 0; i < 100 && choosers.length === 0; i++) await page.waitForTimeout(50);
  assert.equal(choosers.length, 1, 'Enter on "Add scans or images" opens the file chooser');
  await choosers[0].setFiles([FUNDUS]);
  await chosen(page, '#image-files li.file--ok', 1);
  assert.equal(await page.locator('#image-files li.file--ok').count(), 1);
  await tabTo('terms_accepted');
  await page.keyboard.press('Space');
  assert.equal(await page.isChecked('#terms_accepted'), true);
  await tabTo('submit-button');
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert.notEqual(outline, 'none', 'the focused button shows where focus is');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#receipt:not([hidden])');
  assert.equal(await focused(), 'receipt-title');
  const reference = (await page.textContent('[data-slot="reference"]')).trim();
  const found = await findCase(reference);
  assert.equal(found.service, 'records_and_images_review');
  assertClean(page);
  await page.context().close();
});

test('when the connection drops, the page says so and "Try again" sends it', async () => {
  const page = await newPage();
  await page.goto(BASE + '/');
  await fillAnswers(page);
  await page.setInputFiles('#image', [LAUNCH]);
  let attempts = 0;
  await page.route('**/api/v1/requests', (route) => {
    attempts += 1;
    return attempts === 1 ? route.abort('connectionreset') : route.continue();
  });
  await page.click('#submit-button');
  await page.waitForSelector('#connection-error:not([hidden])');
  assert.match(await page.textContent('#connection-error'), /nothing has been saved/);
  assert.equal(await page.evaluate(() => document.activeElement.id), 'connection-error');
  assert.equal((await answersOf(page)).full_name, PATIENT.full_name);
  await page.click('#retry');
  await page.waitForSelector('#receipt:not([hidden])');
  assert.equal(attempts, 2);
  const reference = (await page.textContent('[data-slot="reference"]')).trim();
  await findCase(reference);
  page.problems = page.problems.filter((p) => !p.includes('ERR_CONNECTION_RESET'));
  assertClean(page);
  await page.context().close();
});

test('without script, a refused post returns the form with the answers and the error beside the file', async () => {
  const page = await newPage({ javaScriptEnabled: false });
  await page.goto(BASE + '/');
  await page.fill('#full_name', PATIENT.full_name);
  await page.fill('#email', PATIENT.email);
  await page.check('#service-records_review');
  await page.fill('#condition', PATIENT.condition);
  await page.check('#terms_accepted');
  await page.setInputFiles('#report', [LETTER, FAKE_PDF]);
  await page.setInputFiles('#image', [FUNDUS]);
  const [response] = await Promise.all([page.waitForNavigation(), page.click('#submit-button')]);
  assert.equal(response.status(), 415);
  assert.match(await page.textContent('#report-error'), /discharge-summary\.pdf.*does not contain what its name says/);
  assert.match(await page.textContent('#error-summary'), /choose.*again|chosen again/i);
  assert.match(await page.textContent('#report-field'), /You had chosen: clinic-letter\.pdf, discharge-summary\.pdf/);
  assert.equal(await page.inputValue('#full_name'), PATIENT.full_name);
  assert.equal(await page.inputValue('#condition'), PATIENT.condition);
  assert.equal(await page.isChecked('#terms_accepted'), true);
  assert.equal(await page.isChecked('#service-records_review'), true);
  // (axe runs inside the page, so it cannot run where script is off; the scripted refusal above is checked.)
  await screenshots(page, 'form-noscript-refusal');
  await page.setInputFiles('#report', [LETTER]);
  await page.setInputFiles('#image', [FUNDUS]);
  const [done] = await Promise.all([page.waitForNavigation(), page.click('#submit-button')]);
  assert.equal(done.status(), 201);
  const reference = (await page.textContent('.reference')).trim();
  await findCase(reference);
  assert.match(await page.textContent('main'), /An administrator will contact you by email no later than/);
  await page.context().close();
});

test('the terms and the problem pages are plain words, in the same style, with no axe violation', async () => {
  const page = await newPage();
  const terms = await page.goto(BASE + '/terms');
  assert.equal(terms.status(), 200);
  assert.match(await page.textContent('h1'), /Terms of service/);
  assert.match(await page.textContent('main'), /five working days of payment/);
  await axe(page, 'terms');
  for (const code of ['file-too-large', 'content-mismatch', 'rate-limited', 'not-found']) {
    const res = await page.goto(`${BASE}/problems/${code}`);
    assert.equal(res.status(), 200);
    await axe(page, `problem ${code}`);
  }
  await screenshots(page, 'problem-page');
  await page.goto(BASE + '/terms');
  await screenshots(page, 'terms');
  assertClean(page);
  await page.context().close();
});

test('phone: a CT zip with the records review is caught when chosen, and choosing the images review clears it', async () => {
  const page = await newPage(PHONE);
  const submissions = countSubmissions(page);
  await page.goto(BASE + '/');
  await fillAnswers(page, { service: 'records_review' });
  await page.setInputFiles('#image', [CT_ZIP]);
  const zip = page.locator('#image-files li', { hasText: 'CT-chest-CD.zip' });
  await zip.locator('.file-message').waitFor();
  assert.equal(
    (await zip.locator('.file-message').textContent()).trim(),
    '“CT-chest-CD.zip” contains DICOM scans. DICOM scans need the Medical Records and Images Review: choose it above.',
  );
  assert.doesNotMatch(await zip.textContent(), /member type|Make a new zip/);
  // Sending now lists it, and its link goes to the service to choose; nothing is uploaded.
  await page.click('#submit-button');
  await page.waitForSelector('#error-summary:not([hidden])');
  const link = page.locator('#error-summary a', { hasText: 'contains DICOM scans' });
  assert.equal(await link.getAttribute('href'), '#service-records_and_images_review');
  assert.equal(submissions.posts, 0, 'nothing was sent');
  await axe(page, 'DICOM with the records review');
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(SHOTS, 'form-dicom-records-review-390x844.png'), fullPage: true });
  await link.click();
  assert.equal(await page.evaluate(() => document.activeElement.id), 'service-records_and_images_review');
  // Choosing the images review: the zip is judged again and the old errors go, with no other step.
  await page.keyboard.press('Space');
  assert.equal(await page.isChecked('#service-records_and_images_review'), true);
  assert.match(await zip.getAttribute('class'), /file--ok/);
  assert.equal(await page.locator('#image-files .file-message').count(), 0);
  assert.ok(await page.isHidden('#error-summary'), 'the summary goes once nothing is wrong');
  assert.ok(await page.isHidden('#image-error'));
  assert.doesNotMatch(await page.textContent('#request-form'), /needs at least one image/);
  await page.screenshot({ path: join(SHOTS, 'form-dicom-images-review-390x844.png'), fullPage: true });
  await page.click('#submit-button');
  await page.waitForSelector('#receipt:not([hidden])', { timeout: 30000 });
  const reference = (await page.textContent('[data-slot="reference"]')).trim();
  const found = await findCase(reference);
  assert.equal(found.service, 'records_and_images_review');
  assert.ok(found.documents.some((d) => d.filename === 'CT-chest-CD.zip'));
  assertClean(page);
  await page.context().close();
});

test('phone: the server\'s DICOM refusal shows beside the zip, and a change of service sets it aside', async () => {
  const page = await newPage(PHONE);
  await page.goto(BASE + '/');
  await fillAnswers(page, { service: 'records_and_images_review' });
  await page.setInputFiles('#image', [CT_ZIP]);
  await page.locator('#image-files li.file--ok').waitFor();
  // As if the page's own check had missed it: the first post reaches the server as a records review,
  // and the server's real answer comes back.
  let rewritten = 0;
  await page.route('**/api/v1/requests', (route) => {
    if (rewritten > 0) return route.continue();
    rewritten += 1;
    const body = route.request().postDataBuffer();
    const from = Buffer.from('records_and_images_review');
    const at = body.indexOf(from);
    assert.ok(at >= 0, 'the service is in the body');
    const postData = Buffer.concat([body.subarray(0, at), Buffer.from('records_review'), body.subarray(at + from.length)]);
    return route.continue({ postData });
  });
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url().includes('/api/v1/requests')),
    page.click('#submit-button'),
  ]);
  assert.equal(response.status(), 422);
  assert.equal((await response.json()).requires_service, 'records_and_images_review');
  const zip = page.locator('#image-files li', { hasText: 'CT-chest-CD.zip' });
  await zip.locator('.file-message').waitFor();
  assert.match(await zip.locator('.file-message').textContent(), /contains DICOM scans\. DICOM scans need the Medical Records and Images Review: choose it above\./);
  assert.equal(await page.getAttribute('#error-summary a', 'href'), '#service-records_and_images_review');
  // The service is changed and changed back: the zip is judged again, the server's answer set aside.
  await page.check('#service-records_review');
  await page.check('#service-records_and_images_review');
  assert.match(await zip.getAttribute('class'), /file--ok/);
  assert.ok(await page.isHidden('#error-summary'));
  await page.click('#submit-button');
  await page.waitForSelector('#receipt:not([hidden])', { timeout: 30000 });
  assert.equal(rewritten, 1);
  assertClean(page);
  await page.context().close();
});

test('phone: "needs at least one image" goes as soon as an image is added, and a switch back re-checks', async () => {
  const page = await newPage(PHONE);
  await page.goto(BASE + '/');
  await fillAnswers(page, { service: 'records_and_images_review' });
  await page.click('#submit-button');
  await page.waitForSelector('#error-summary:not([hidden])');
  assert.match(await page.textContent('#error-summary'), /needs at least one image/);
  await page.setInputFiles('#image', [CT_ZIP]);
  await page.locator('#image-files li.file--ok').waitFor();
  assert.ok(await page.isHidden('#error-summary'), 'the summary is brought up to date');
  assert.ok(await page.isHidden('#image-error'));
  // Back to the records review: the zip is refused again, beside it and in the summary.
  await page.check('#service-records_review');
  await page.locator('#image-files li.file--error').waitFor();
  await page.click('#submit-button');
  await page.waitForSelector('#error-summary:not([hidden])');
  assert.match(await page.textContent('#error-summary'), /contains DICOM scans/);
  assertClean(page);
  await page.context().close();
});

test('phone, without script: the server says which service DICOM needs, beside the file', async () => {
  const page = await newPage({ ...PHONE, javaScriptEnabled: false });
  await page.goto(BASE + '/');
  await page.fill('#full_name', PATIENT.full_name);
  await page.fill('#email', PATIENT.email);
  await page.check('#service-records_review');
  await page.fill('#condition', PATIENT.condition);
  await page.check('#terms_accepted');
  await page.setInputFiles('#image', [CT_ZIP]);
  const [response] = await Promise.all([page.waitForNavigation(), page.click('#submit-button')]);
  assert.equal(response.status(), 422);
  assert.equal(
    (await page.textContent('#image-error')).trim(),
    '“CT-chest-CD.zip” contains DICOM scans. DICOM scans need the Medical Records and Images Review: choose it above.',
  );
  assert.equal(await page.getAttribute('#error-summary a', 'href'), '#service-records_and_images_review');
  assert.doesNotMatch(await page.textContent('main'), /member type not allowed/);
  await page.screenshot({ path: join(SHOTS, 'form-noscript-dicom-390x844.png'), fullPage: true });
  await page.context().close();
});

test('phone: the receipt survives a reload, with the reference, the files and how to reach us', async () => {
  const page = await newPage(PHONE);
  await page.goto(BASE + '/');
  await fillAnswers(page);
  await page.setInputFiles('#report', [LETTER]);
  await page.setInputFiles('#image', [FUNDUS]);
  await page.click('#submit-button');
  await page.waitForSelector('#receipt:not([hidden])');
  const reference = (await page.textContent('[data-slot="reference"]')).trim();
  assert.equal(page.url(), BASE + '/receipt', 'the address names no person');
  await page.reload();
  assert.equal(page.url(), BASE + '/receipt');
  assert.equal((await page.textContent('.reference')).trim(), reference);
  const main = await page.textContent('main');
  assert.match(main, /clinic-letter\.pdf/);
  assert.match(main, /fundus-photo\.jpg\s+264 KB/);
  assert.match(main, /An administrator will contact you by telephone no later than/);
  assert.match(main, /Keep this reference; quote it when you contact us/);
  assert.match(main, /\+44 20 7946 0321/);
  assert.match(main, /help@consilium\.example\.org/);
  assert.ok(!main.includes(PATIENT.full_name) && !main.includes(PATIENT.email), 'nothing personal');
  assert.ok(await page.isVisible('[data-action="print"]'), 'print still works');
  await axe(page, 'reloaded receipt');
  await page.screenshot({ path: join(SHOTS, 'receipt-reloaded-390x844.png'), fullPage: true });
  // Another browser has no receipt to show, only how to reach us.
  const stranger = await newPage(PHONE);
  const missing = await stranger.goto(BASE + '/receipt');
  assert.equal(missing.status(), 404);
  assert.doesNotMatch(await stranger.textContent('main'), new RegExp(reference));
  assert.match(await stranger.textContent('main'), /\+44 20 7946 0321/);
  await axe(stranger, 'no receipt');
  await stranger.screenshot({ path: join(SHOTS, 'receipt-missing-390x844.png'), fullPage: true });
  assertClean(page);
  await stranger.context().close();
  await page.context().close();
});

test('phone, without script: a reload of the receipt shows it again instead of sending the files twice', async () => {
  const page = await newPage({ ...PHONE, javaScriptEnabled: false });
  const submissions = countSubmissions(page);
  await page.goto(BASE + '/');
  await page.fill('#full_name', PATIENT.full_name);
  await page.fill('#email', PATIENT.email);
  await page.check('#service-records_review');
  await page.fill('#condition', PATIENT.condition);
  await page.check('#terms_accepted');
  await page.setInputFiles('#report', [LETTER]);
  await Promise.all([page.waitForURL(BASE + '/receipt'), page.click('#submit-button')]);
  const reference = (await page.textContent('.reference')).trim();
  await page.reload();
  assert.equal((await page.textContent('.reference')).trim(), reference);
  assert.match(await page.textContent('main'), /clinic-letter\.pdf/);
  assert.equal(submissions.posts, 1, 'the request was sent once');
  await page.context().close();
});

test('phone: the same photo chosen twice is listed once, and the page says so', async () => {
  const page = await newPage(PHONE);
  await page.goto(BASE + '/');
  await fillAnswers(page);
  const knee = photo('knee.jpg');
  await page.setInputFiles('#image', [knee]);
  await page.locator('#image-files li.file--ok').waitFor();
  await page.setInputFiles('#image', [knee]);
  await page.waitForSelector('#image-note:not([hidden])');
  assert.equal(await page.locator('#image-files li').count(), 1);
  assert.equal((await page.textContent('#image-note')).trim(), '“knee.jpg” was already chosen, so it is listed once.');
  // The same bytes under another name (a copy the phone made) are the same photo.
  await page.setInputFiles('#image', [{ ...knee, name: 'knee (1).jpg' }]);
  await page.waitForFunction(() => /knee \(1\)\.jpg/.test(document.getElementById('image-note').textContent));
  assert.equal(await page.locator('#image-files li').count(), 1);
  // A different photo is added.
  await page.setInputFiles('#image', [photo('ankle.jpg')]);
  await page.waitForFunction(() => document.querySelectorAll('#image-files li').length === 2);
  assert.ok(await page.isHidden('#image-note'), 'the note goes with the next file');
  await page.setInputFiles('#image', [knee]);
  await page.waitForSelector('#image-note:not([hidden])');
  await axe(page, 'duplicate photo');
  await page.locator('#image-field').screenshot({ path: join(SHOTS, 'form-duplicate-photo-390x844.png') });
  await page.click('#submit-button');
  await page.waitForSelector('#receipt:not([hidden])');
  const found = await findCase((await page.textContent('[data-slot="reference"]')).trim());
  assert.deepEqual(found.documents.map((d) => d.filename).sort(), ['ankle.jpg', 'knee.jpg']);
  assertClean(page);
  await page.context().close();
});

test('the terms, the form and the receipt show the service\'s contact details', async () => {
  const page = await newPage(PHONE);
  await page.goto(BASE + '/terms');
  const contact = page.locator('section[aria-labelledby="contact-title"]');
  const text = await contact.textContent();
  for (const expected of ['Consilium Second Opinions', '20 Example Street', '+44 20 7946 0321', 'help@consilium.example.org']) {
    assert.ok(text.includes(expected), `the terms' Contact section shows ${expected}`);
  }
  assert.equal(await contact.locator('a[href^="tel:"]').getAttribute('href'), 'tel:+442079460321');
  await axe(page, 'terms with contact');
  await page.screenshot({ path: join(SHOTS, 'terms-contact-390x844.png'), fullPage: true });
  await page.goto(BASE + '/');
  assert.match(await page.textContent('.form-contact'), /help@consilium\.example\.org/);
  await page.locator('.form-contact').screenshot({ path: join(SHOTS, 'form-contact-390x844.png') });
  assertClean(page);
  await page.context().close();
});

// ---- Run ----

browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
  ],
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
console.log(`screenshots: ${SHOTS}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
