// Fakes nothing: Debian's Chromium (headless, driven by playwright-core) against the real API on a
// real loopback listener, real PostgreSQL, Redis and BullMQ (dead letters are made, and made again
// after a replay, by real Workers).
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { UnrecoverableError, Worker } from 'bullmq';
import { chromium, type Page } from 'playwright-core';
import t from 'tap';
import { auditLog } from '@switchboard/db';
import { bullPrefix, createWorkerConnection } from '@switchboard/queue';
import { buildTestApp } from '../helpers/app.js';
import { makeDeadLetters } from '../helpers/dead-letter.js';
import { seedMessages } from '../helpers/seed-messages.js';
import { eventually, ROOT } from '../helpers/processes.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(ROOT, 'test-artifacts');
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const PAGE_ID = '1000000042';

const skip = existsSync(CHROMIUM)
  ? false
  : `${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) to run the browser test`;

/** Clicks "Refresh now" and waits until the sections are redrawn (the button is disabled meanwhile). */
async function refreshNow(page: Page): Promise<void> {
  await page.click('#refresh');
  await page.locator('#refresh:enabled').waitFor();
}

/** Does the page fit its viewport, with nothing to scroll sideways? */
const fitsWidth = (page: Page) => page.evaluate<boolean>('document.documentElement.scrollWidth <= window.innerWidth');

t.test('the ops dashboard in a real browser', { skip }, async (t) => {
  // No app id: the health section has a warning to put in words.
  const { app, env, resources, prefix } = await buildTestApp(t, 'e2e-dashboard', { FACEBOOK_APP_ID: undefined });
  await resources.pages.register(PAGE_ID, 'messenger', 'EAAB-dashboard-test-token');
  const hoursAgo = (h: number) => new Date(Date.now() - h * 3_600_000);
  await seedMessages(resources.dbh.db, [
    ...Array.from({ length: 3 }, () => ({ at: hoursAgo(1), fate: 'ai' as const })),
    ...Array.from({ length: 2 }, () => ({ at: hoursAgo(2), fate: 'fallback' as const })),
    ...Array.from({ length: 2 }, () => ({ at: hoursAgo(3), fate: 'ai_dry_run' as const })),
    { at: hoursAgo(5), fate: 'paused' },
    { at: hoursAgo(1), fate: 'failed_event' },
    ...Array.from({ length: 4 }, () => ({ at: hoursAgo(50), fate: 'ai' as const })),
  ]);
  const [dead] = await makeDeadLetters(resources, env.REDIS_URL as string, prefix, [
    { queue: 'outbound', pageId: PAGE_ID, reason: 'graph permanent code=10 subcode=2018278 status=400' },
  ]);
  const address = await app.listen({ port: 0, host: '127.0.0.1' });

  const root = await app.inject({ url: '/' });
  t.equal(root.statusCode, 302, '/ redirects');
  t.equal(root.headers.location, '/ops/dashboard', '…to the dashboard');
  const icon = await app.inject({ url: '/favicon.ico' });
  t.equal(icon.statusCode, 200, 'the favicon is served');
  t.equal(icon.headers['content-type'], 'image/svg+xml', '…as an SVG');

  // No inline script may run: the page's script is a same-origin file, kept for good under a versioned URL.
  const auth = { authorization: `Basic ${Buffer.from(`${env.ADMIN_USER}:${env.ADMIN_PASS}`).toString('base64')}` };
  const html = await app.inject({ url: '/ops/dashboard', headers: auth });
  t.equal(
    /script-src ([^;]*)/.exec(String(html.headers['content-security-policy']))?.[1],
    "'self'",
    'scripts: same origin only, none inline',
  );
  const scriptUrl = /<script src="([^"]+)"/.exec(html.body)?.[1] as string;
  t.match(scriptUrl, /^\/ops\/dashboard\.js\?v=[0-9a-f]{12}$/);
  const script = await app.inject({ url: scriptUrl, headers: auth });
  t.equal(script.statusCode, 200);
  t.match(script.headers['cache-control'], /max-age=31536000, immutable/);
  t.equal((await app.inject({ url: scriptUrl })).statusCode, 401, 'the script is behind the ops login too');

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 });
  t.teardown(() => browser.close());
  const context = await browser.newContext({
    httpCredentials: { username: env.ADMIN_USER as string, password: env.ADMIN_PASS as string },
    viewport: { width: 1280, height: 900 },
  });
  const page = await context.newPage();
  const consoleErrors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  });
  page.on('pageerror', (err) => consoleErrors.push(err.message));

  const res = await page.goto(address);
  t.equal(res?.status(), 200, 'the bare address lands on the dashboard, logged in with Basic credentials');
  t.equal(new URL(page.url()).pathname, '/ops/dashboard');
  t.match(await page.textContent('h1'), /Switchboard/);

  // Health: the warning in words, with the next step, not its code.
  t.equal(await page.getAttribute('#health-status', 'data-status'), 'degraded');
  const warning = page.locator('li.warning[data-code="facebook_app_id_missing"]');
  t.match(await warning.textContent(), /The Facebook app id is not set.*What to do: Set FACEBOOK_APP_ID/);
  t.notMatch(await page.textContent('#section-health'), /facebook_app_id_missing/, 'the raw code is not shown');

  // The dead letter: its reason from Meta's error table, in words.
  t.equal(await page.textContent('#dlq-count'), '(1)');
  const row = page.locator(`tr[data-job-id="${dead!.id}"]`);
  t.match(
    await row.locator('.reason').textContent(),
    /^Meta refused the reply: outside the 24-hour messaging window \(Meta error 10\)\.$/,
  );
  t.notMatch(await row.textContent(), /code=10/, 'the raw reason is not shown');

  // Charts: one for 24 hours (24 bars), one for 7 days (7 bars), each with its table of numbers.
  t.equal(await page.locator('figure.chart').count(), 2, 'two charts');
  t.equal(await page.locator('figure.chart').nth(0).locator('tbody tr').count(), 24);
  t.equal(await page.locator('figure.chart').nth(1).locator('tbody tr').count(), 7);
  const lastDay = await page.locator('figure.chart').nth(0).locator('tbody td:last-child').allTextContents();
  t.equal(
    lastDay.reduce((sum, n) => sum + Number(n), 0),
    9,
    'the last 24 hours: every seeded message once',
  );
  t.equal((await page.locator('figure.chart').nth(0).locator('rect').count()) > 0, true, 'bars drawn');
  // Dry-run replies are counted, apart from the ones sent.
  t.equal(await page.textContent('#replies-sent'), '9');
  t.equal(await page.textContent('#replies-dry-run'), '2');

  // The kill switch: labelled by what customers get, changed only after a confirmation.
  t.equal(await page.textContent('#ai-state'), 'AI replies: running');
  t.equal(await page.textContent('#ai-ask'), 'Stop AI replies');
  await page.click('#ai-ask');
  t.ok(await page.isVisible('#ai-confirm'), 'a confirmation is asked');
  await page.click('#ai-confirm-no');
  t.notOk(await page.isVisible('#ai-confirm'), 'Cancel closes it');
  await page.click('#ai-ask');
  await page.keyboard.press('Escape');
  t.notOk(await page.isVisible('#ai-confirm'), 'so does Escape');
  t.equal((await resources.killSwitch.setting()) as boolean, true, '…and changes nothing');
  await page.click('#ai-ask');
  // The confirmation survives a refresh that comes while it is open.
  await refreshNow(page);
  t.ok(await page.isVisible('#ai-confirm'), 'a refresh leaves an open confirmation alone');
  await page.click('#ai-confirm-yes');
  // Locator waits, not waitForFunction: the page's CSP (rightly) forbids the eval that needs.
  await page.locator('#ai-state', { hasText: 'AI replies: stopped (fallback text is sent)' }).waitFor();
  t.equal(await page.textContent('#ai-ask'), 'Resume AI replies');
  const status = await page.evaluate(async () => (await fetch('/ops/ai/status')).json());
  t.equal((status as { enabled: boolean }).enabled, false, '/ops/ai/status agrees');

  // Replay: the count and the table follow, and the replay is listed with its result.
  await page.click(`button.replay[data-job-id="${dead!.id}"]`);
  await page.locator('#dlq-empty').waitFor();
  t.equal(await page.textContent('#dlq-count'), '(0)', 'the count follows the replay');
  t.equal(await page.locator('#section-dead-letters table').count(), 0, 'no empty table head');
  const result = page.locator(`li.replay-result[data-job-id="${dead!.id}"]`);
  t.equal(await result.getAttribute('data-result'), 'pending');
  t.match(await result.textContent(), /Waiting to be handled again/);
  const jobId = dead!.id.split(':')[1] as string;
  await eventually(
    async () => (await (await resources.outboundQueue.getJob(jobId))?.getState()) === 'waiting',
    5_000,
    'replayed job waiting',
  );

  // The replayed job fails again (its Page token is now refused): the page says so, and why.
  const connection = createWorkerConnection(env.REDIS_URL as string);
  const worker = new Worker(
    'outbound',
    async () => {
      throw new UnrecoverableError('graph token_invalid code=190 subcode=none status=400');
    },
    { connection, prefix: bullPrefix(prefix) },
  );
  await eventually(
    async () => (await (await resources.outboundQueue.getJob(jobId))?.getState()) === 'failed',
    10_000,
    'replayed job failed again',
  );
  await worker.close();
  connection.disconnect();
  await refreshNow(page);
  await page.locator(`li.replay-result[data-result="failed"]`).waitFor();
  t.match(
    await result.textContent(),
    /Failed again\. Meta refused the reply: access token invalid, expired or revoked \(Meta error 190\)\..*What to do: Register a new token/,
  );
  t.equal(await page.textContent('#dlq-count'), '(1)', 'back in the list');
  t.match(await row.textContent(), /failed again after a replay/);

  // Instructions: typed text survives a refresh, the count follows, and Save stores it.
  const editor = page.locator(`#instructions-${PAGE_ID}`);
  await editor.fill('Answer in French. Opening hours: 9–17.');
  t.equal(await page.textContent(`#instructions-${PAGE_ID}-count`), '38 / 20,000 characters');
  await refreshNow(page);
  t.equal(await editor.inputValue(), 'Answer in French. Opening hours: 9–17.', 'a refresh keeps unsaved text');
  await page.click(`#instructions-${PAGE_ID}-save`);
  await page.locator('#flash', { hasText: `Instructions for Page ${PAGE_ID} saved.` }).waitFor();
  t.same(
    await resources.instructions.resolve(PAGE_ID),
    { instructions: 'Answer in French. Opening hours: 9–17.', source: 'page' },
    'stored',
  );
  await editor.fill('x'.repeat(20_001));
  t.ok(await page.isDisabled(`#instructions-${PAGE_ID}-save`), 'too long: Save is disabled');
  t.match(await page.textContent(`#instructions-${PAGE_ID}-count`), /20,001 \/ 20,000 characters: too long to save/);

  const audit = await resources.dbh.db.select().from(auditLog).orderBy(auditLog.id);
  t.same(
    audit.map((a) => a.action),
    ['ai.toggle', 'dlq.retry', 'page.instructions_set'],
    'every change audited',
  );

  await page.reload();
  t.equal(
    await page.textContent('#ai-state'),
    'AI replies: stopped (fallback text is sent)',
    'the state survives a reload',
  );
  t.ok(await fitsWidth(page), 'no sideways scroll at 1280 px');
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-1280.png'), fullPage: true });

  await page.setViewportSize({ width: 390, height: 844 });
  await page.reload();
  t.ok(await fitsWidth(page), 'no sideways scroll at 390 px');
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-390.png'), fullPage: true });

  // Keyboard: Tab reaches the first button, and it shows where the focus is.
  await page.keyboard.press('Tab');
  t.equal(await page.evaluate<string>('document.activeElement.id'), 'refresh', 'the first stop is a real button');
  const outline = await page.evaluate<string>('getComputedStyle(document.activeElement).outlineStyle');
  t.equal(outline, 'solid', 'with a visible focus ring');

  t.same(consoleErrors, [], 'no console errors');
});
