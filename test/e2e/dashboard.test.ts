// Fakes nothing: Debian's Chromium (headless, driven by playwright-core) against the real API on a
// real loopback listener, real PostgreSQL, Redis and BullMQ (the dead letter is made by a real Worker).
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { chromium } from 'playwright-core';
import t from 'tap';
import { auditLog } from '@switchboard/db';
import { buildTestApp } from '../helpers/app.js';
import { makeDeadLetters } from '../helpers/dead-letter.js';
import { eventually, ROOT } from '../helpers/processes.js';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = join(ROOT, 'test-artifacts', 'dashboard.png');
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

const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) to run the browser test`;

t.test('the on-call dashboard in a real browser', { skip }, async (t) => {
  const { app, env, resources, prefix, config } = await buildTestApp(t, 'e2e-dashboard');
  const [dead] = await makeDeadLetters(resources, env.REDIS_URL as string, prefix, [
    { queue: 'outbound', pageId: '1000000042', reason: 'graph permanent code=10 subcode=2018278 status=400' },
  ]);
  const address = await app.listen({ port: 0, host: '127.0.0.1' });

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 });
  t.teardown(() => browser.close());
  const context = await browser.newContext({ httpCredentials: { username: env.ADMIN_USER as string, password: env.ADMIN_PASS as string } });
  const page = await context.newPage();
  page.on('dialog', (dialog) => void dialog.accept());

  const res = await page.goto(`${address}/ops/dashboard`);
  t.equal(res?.status(), 200, 'logged in with Basic credentials');
  t.match(await page.textContent('h1'), /Switchboard/);
  t.ok(['ok', 'degraded'].includes((await page.textContent('#health-status')) ?? ''), 'health shown');
  t.equal(await page.textContent('#ai-state'), 'ON');
  t.equal(await page.locator('button.replay').count(), 1, 'the dead letter is listed');

  // Kill switch: off from the browser, seen in Redis and in the API.
  await page.click('#ai-toggle');
  // Locator waits, not waitForFunction: the page's CSP (rightly) forbids the eval that needs.
  await page.locator('#ai-state', { hasText: /^OFF$/ }).waitFor();
  t.equal(await resources.redis.get(`${config.queuePrefix}:ai:enabled`), '0', 'Redis holds the new state');
  const status = await page.evaluate(async () => (await fetch('/ops/ai/status')).json());
  t.equal((status as { enabled: boolean }).enabled, false, '/ops/ai/status agrees');

  // Replay the dead letter.
  await page.click(`button.replay[data-job-id="${dead!.id}"]`);
  await page.locator('button.replay').waitFor({ state: 'detached' });
  const job = await resources.outboundQueue.getJob(dead!.id.split(':')[1] as string);
  await eventually(async () => (await job?.getState()) === 'waiting', 5_000, 'replayed job waiting');
  t.pass('the dead-lettered job is back in the outbound queue');

  const audit = await resources.dbh.db.select().from(auditLog).orderBy(auditLog.id);
  t.same(
    audit.map((a) => a.action),
    ['ai.toggle', 'dlq.retry'],
    'both changes audited',
  );

  await page.reload();
  t.equal(await page.textContent('#ai-state'), 'OFF', 'the state survives a reload');
  mkdirSync(dirname(SCREENSHOT), { recursive: true });
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  t.ok(existsSync(SCREENSHOT), 'screenshot saved');
});
