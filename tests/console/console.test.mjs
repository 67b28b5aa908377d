// The ops console in a real browser: Debian's Chromium, headless, driven
// by playwright-core (from infra/cloudflare's npm packages) against a
// local runtime started by `cargo xtask test --only e2e-workers`
// (infra/xtask/src/console.rs). Everything is done on the page as an
// operator would, by clicking; the API is read directly only to check
// what the page claims.
//
//   node console.test.mjs <healthy|faulty>
//
// healthy: sign in, take a phone order, see it reach waybill_signed,
//          reassign it to a named rider, cancel it with a reason;
// faulty:  (signing fails every message) take a phone order, see it fail
//          as a dead letter, replay the dead letter.
//
// Environment: GASLINE_URL, GASLINE_OPS_TOKEN, GASLINE_CHROMIUM (the
// browser), GASLINE_NODE_PACKAGES (infra/cloudflare/package.json),
// GASLINE_CONSOLE_SHOTS (a folder for the screenshots), and for the
// faulty part GASLINE_E2E_CRON_URL (the harness's cron trigger: the
// faulty run loses intake's publishes, so only the sweeper moves orders).

import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const need = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

const part = process.argv[2];
if (part !== 'healthy' && part !== 'faulty') throw new Error('usage: console.test.mjs <healthy|faulty>');
const base = need('GASLINE_URL');
const ops = need('GASLINE_OPS_TOKEN');
const shots = need('GASLINE_CONSOLE_SHOTS');
mkdirSync(shots, { recursive: true });
const { chromium } = createRequire(need('GASLINE_NODE_PACKAGES'))('playwright-core');

/** The API as the test checks it (never to drive the page). */
async function api(method, path, body) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${ops}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: response.status, body: await response.json().catch(() => null) };
}

function check(condition, what) {
  if (!condition) throw new Error(`check failed: ${what}`);
  console.log(`  ok  ${what}`);
}

/** Polls `probe` (clicking "Refresh now" first) until it gives a truthy value. */
async function until(page, what, probe, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await page.click('#refresh');
    await page.waitForTimeout(400);
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) {
      await page.screenshot({ path: join(shots, `${part}-timeout.png`), fullPage: true });
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
  }
}

async function shot(page, name) {
  const path = join(shots, `${part}-${name}.png`);
  await page.screenshot({ path, fullPage: true });
  console.log(`  screenshot ${path}`);
}

async function signIn(page) {
  await page.goto(`${base}/console`);
  await shot(page, '1-sign-in');
  await page.fill('#token', 'ops-forged.not-a-secret');
  await page.click('#signin-form button[type=submit]');
  await page.waitForSelector('#signin-error:text("not an ops token")');
  check(await page.isHidden('#desk'), 'a forged token does not open the desk');
  await page.fill('#token', ops);
  await page.click('#signin-form button[type=submit]');
  await page.waitForSelector('#desk', { state: 'visible' });
  await page.waitForSelector('#refreshed[data-at]');
  check(await page.locator('#states .card').count() === 10, 'the desk shows orders by state (10 states)');
  check(await page.locator('#stations tr[data-station]').count() > 0, 'the desk lists stations');
  check(await page.locator('#map circle.rider').count() > 0, 'the map shows riders');
}

async function placePhoneOrder(page, name) {
  await page.fill('#order-form [name=name]', name);
  await page.fill('#order-form [name=phone]', '13800138000');
  await page.fill('#order-form [name=address]', '上海市黄浦区人民大道200号');
  await page.fill('#order-form [name=lat]', '31.2304');
  await page.fill('#order-form [name=lon]', '121.4737');
  await page.selectOption('#order-form [name=spec]', 'YSP35.5');
  await page.fill('#order-form [name=quantity]', '1');
  await page.click('#order-form button[type=submit]');
  await page.waitForSelector('#message:text("taken")');
  const id = (await page.textContent('#message')).match(/^Order (\S+) taken/)[1];
  await page.waitForSelector(`#tracked-id:text("${id}")`);
  check(/^[A-Za-z0-9_-]+$/.test(id), `the phone order was taken: ${id}`);
  return id;
}

async function healthy(page) {
  const id = await placePhoneOrder(page, '控制台测试');
  await until(page, 'the order to reach waybill_signed', () =>
    page.locator('#tracked-timeline li[data-state=waybill_signed]').count(), 30_000);
  check(true, 'the page shows the order reach waybill_signed');
  const signed = await api('GET', `/v1/orders/${id}`);
  check(signed.body.timeline.some((t) => t.state === 'waybill_signed'), 'the API agrees it was signed');
  await shot(page, '2-signed');

  // Reassign it from the live orders table to a named rider. (The healthy
  // run's riders do not accept: the order may have moved to another rider
  // or back to matching by now; it is reassignable in all of those.)
  const row = page.locator(`#orders tr[data-order="${id}"]`);
  await row.locator('button.reassign').click();
  const form = page.locator('#orders tr.form-row');
  const riders = await form.locator('select.rider-choice option').evaluateAll((options) =>
    options.map((o) => o.value).filter(Boolean));
  check(riders.length > 0, `the reassign menu offers available riders (${riders.length})`);
  const to = riders[0];
  await form.locator('select.rider-choice').selectOption(to);
  await shot(page, '3-reassign');
  await form.locator('button.confirm-reassign').click();
  await page.waitForSelector(`#message:text("reassigned to ${to}")`, { timeout: 10_000 });
  const reassigned = await api('GET', `/v1/orders/${id}`);
  const timeline = reassigned.body.timeline;
  check(timeline.some((t) => t.detail === to) && timeline.some((t) => (t.by || '').startsWith('ops:')),
    `the API records the desk giving the order to ${to} (now ${reassigned.body.state})`);
  await until(page, `the order's timeline to show ${to}`, () =>
    page.locator(`#tracked-timeline li:text("${to}")`).count(), 15_000);
  await shot(page, '4-reassigned');

  // Cancel it from the page: a reason is required and recorded.
  await page.locator(`#orders tr[data-order="${id}"] button.cancel`).click();
  const cancelForm = page.locator('#orders tr.form-row');
  await cancelForm.locator('button.confirm-cancel').click();
  await page.waitForSelector('#message:text("needs a reason")');
  await cancelForm.locator('input.cancel-reason').fill('客户电话取消');
  await cancelForm.locator('button.confirm-cancel').click();
  await page.waitForSelector(`#message:text("${id} cancelled")`, { timeout: 10_000 });
  const cancelled = await api('GET', `/v1/orders/${id}`);
  check(cancelled.body.state === 'cancelled' &&
    cancelled.body.timeline.some((t) => t.state === 'cancelled' && (t.by || '').startsWith('ops:')),
  `the order was cancelled by the desk (${cancelled.body.state})`);
  await until(page, 'the cancelled order to leave the live orders', async () =>
    (await page.locator(`#orders tr[data-order="${id}"]`).count()) === 0, 10_000);
  check(true, 'it left the live orders');
  await shot(page, '5-cancelled');
}

async function faulty(page) {
  const id = await placePhoneOrder(page, '死信测试');
  // The faulty run loses intake's publishes: the sweeper (the cron) sends
  // the order on, and signing then fails every delivery of it.
  await page.waitForTimeout(1_200);
  const cron = await fetch(need('GASLINE_E2E_CRON_URL'), { method: 'POST' });
  check(cron.ok, `the cron fired (${cron.status})`);
  await until(page, 'the order to fail as a dead letter', async () =>
    (await page.textContent('#tracked-state')) === 'failed' &&
    page.locator(`#dead-letters tr[data-order="${id}"]`).count(), 60_000);
  check(true, 'the page shows the order failed and its dead letter');
  await shot(page, '2-dead-letter');

  const letter = page.locator(`#dead-letters tr[data-order="${id}"]`).first();
  const event = await letter.getAttribute('data-event');
  await letter.locator('button.replay').click();
  await page.waitForSelector(`#message:text("${event}")`);
  const message = await page.textContent('#message');
  check(message.includes('replayed'), `the page says the event was replayed: ${message}`);
  const again = await api('POST', '/v1/ops/dead-letters/replay', { event_id: event });
  check(again.status === 200 && again.body.replayed === false,
    `the replay happened once: a second one sends nothing (${again.body.status})`);
  await shot(page, '3-replayed');
}

const browser = await chromium.launch({
  executablePath: need('GASLINE_CHROMIUM'),
  headless: true,
  args: ['--no-sandbox', '--disable-dev-shm-usage'],
});
const failures = [];
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.on('pageerror', (error) => failures.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' && !message.text().includes('401')) failures.push(`console error: ${message.text()}`);
  });
  console.log(`console (${part}) against ${base}`);
  await signIn(page);
  await (part === 'healthy' ? healthy(page) : faulty(page));
  check(failures.length === 0, `no script errors on the page${failures.length ? `: ${failures.join('; ')}` : ''}`);
} finally {
  await browser.close();
}
