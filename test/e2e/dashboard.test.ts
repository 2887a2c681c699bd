// Fakes Meta's Graph API and Google's Gemini API (loopback HTTP servers): neither is reachable from
// tests. Everything else is real: Debian's Chromium (headless, driven by playwright-core) against the
// compiled API and worker processes, on a real PostgreSQL and Redis. The messages, replies, pauses and
// dead letters the page shows are made by those processes from signed webhooks, as in production.
import type { Page } from 'playwright-core';
import t from 'tap';
import { conversationId } from '@switchboard/pages';
import { artifactPath, browserSkip, hashOf, launchChromium } from '../helpers/browser.js';
import { type Pipeline, startPipeline } from '../helpers/pipeline.js';
import { eventually } from '../helpers/processes.js';
import { messengerText } from '../helpers/sign.js';

const PAGE = '100000000000094';
const PAGE_TOKEN = 'EAAB-dashboard-test-token';
const AI_REPLY = 'Happy to help. Our shop opens at nine. da1x';
const FALLBACK = 'Thanks for your message: a colleague will answer soon. fb2y';
/** Meta's answer to a reply sent after the 24-hour window: a permanent error, dead-lettered at once. */
const OUTSIDE_WINDOW = {
  status: 400,
  code: 10,
  subcode: 2018278,
  message: '(#10) This message is sent outside of allowed window.',
};
/** Meta's answer when the person cannot be reached: the replay's second failure, with another cause. */
const UNAVAILABLE = { status: 400, code: 551, message: 'This person isn’t available right now.' };

const skip = browserSkip((m) => t.fail(m));

let seq = 0;
const idOf = (p: Pipeline, user: string) => conversationId('messenger', PAGE, hashOf(p, user));

/** Posts a user's message; resolves with its mid's hash, the key its event row is found by. */
async function write(p: Pipeline, user: string, text: string): Promise<string> {
  const mid = `m_dash_${++seq}_${Date.now()}`;
  const res = await p.post(messengerText({ pageId: PAGE, senderId: user, mid, text, timestamp: Date.now() }));
  if (res.status !== 200) throw new Error(`webhook answered ${res.status}`);
  return hashOf(p, mid);
}

/** The outcome the worker recorded for a message, once it has finished with it. */
async function outcomeOf(p: Pipeline, midHash: string, what: string): Promise<string> {
  return eventually(
    async () =>
      (
        await p.sql<Array<{ outcome: string }>>`
          select outcome from events where mid_hash = ${midHash} and status = 'processed' and outcome is not null`
      )[0]?.outcome,
    15_000,
    what,
  );
}

/** Clicks "Refresh now" and waits until the sections are redrawn (the button is disabled meanwhile). */
async function refreshNow(page: Page): Promise<void> {
  await page.click('#refresh');
  await page.locator('#refresh:enabled').waitFor();
}

/** Does the page fit its viewport, with nothing to scroll sideways? */
const fitsWidth = (page: Page) => page.evaluate<boolean>('document.documentElement.scrollWidth <= window.innerWidth');
const focusedId = (page: Page) => page.evaluate<string>('document.activeElement.id');

t.test('the ops dashboard in a real browser, against the real API and worker processes', { skip }, async (t) => {
  // No app id: the health section has a warning to put in words.
  const p = await startPipeline(t, 'e2e-dashboard', {
    env: { FACEBOOK_APP_ID: '', FALLBACK_REPLY: FALLBACK, HANDOFF_PAUSE_S: '1800' },
  });
  const auth = `Basic ${Buffer.from(`${p.env.ADMIN_USER}:${p.env.ADMIN_PASS}`).toString('base64')}`;
  const api = async <T>(path: string, init: RequestInit = {}): Promise<T> => {
    const res = await fetch(`${p.apiUrl}${path}`, {
      ...init,
      headers: { authorization: auth, ...(init.body ? { 'content-type': 'application/json' } : {}) },
    });
    if (res.status >= 300) throw new Error(`${path} answered ${res.status}`);
    return (await res.json()) as T;
  };
  const aiEnabled = async () => (await api<{ enabled: boolean }>('/ops/ai/status')).enabled;
  const deadLetters = async () => (await api<{ jobs: Array<{ id: string; reason: string }> }>('/ops/dlq')).jobs;
  await api(`/ops/pages/${PAGE}`, {
    method: 'PUT',
    body: JSON.stringify({ access_token: PAGE_TOKEN, channel: 'messenger' }),
  });

  await t.test('the bare address, the icon and the page script, as the API serves them', async (t) => {
    const root = await fetch(`${p.apiUrl}/`, { redirect: 'manual' });
    t.equal(root.status, 302, '/ redirects');
    t.equal(root.headers.get('location'), '/ops/dashboard', '…to the dashboard');
    const icon = await fetch(`${p.apiUrl}/favicon.ico`);
    t.equal(icon.status, 200, 'the favicon is served');
    t.equal(icon.headers.get('content-type'), 'image/svg+xml', '…as an SVG');
    // No inline script may run: the page's script is a same-origin file, kept for good under a versioned URL.
    const html = await fetch(`${p.apiUrl}/ops/dashboard`, { headers: { authorization: auth } });
    t.equal(
      /script-src ([^;]*)/.exec(String(html.headers.get('content-security-policy')))?.[1],
      "'self'",
      'scripts: same origin only, none inline',
    );
    const scriptUrl = /<script src="([^"]+)"/.exec(await html.text())?.[1] as string;
    t.match(scriptUrl, /^\/ops\/dashboard\.js\?v=[0-9a-f]{12}$/);
    const script = await fetch(`${p.apiUrl}${scriptUrl}`, { headers: { authorization: auth } });
    await script.arrayBuffer();
    t.equal(script.status, 200);
    t.match(script.headers.get('cache-control'), /max-age=31536000, immutable/);
    const anonymous = await fetch(`${p.apiUrl}${scriptUrl}`);
    await anonymous.arrayBuffer();
    t.equal(anonymous.status, 401, 'the script is behind the ops login too');
  });

  // What the page shows is made by the worker: one AI reply sent, and one reply Meta refuses.
  const [answered, late, later] = ['9000000094001', '9000000094002', '9000000094003'];
  p.gemini.setReply(AI_REPLY);
  t.equal(await outcomeOf(p, await write(p, answered, 'When do you open? q1'), 'the AI reply'), 'replied');
  p.graph.failNextSends(OUTSIDE_WINDOW);
  await write(p, late, 'Still there? q2');
  const [dead] = await eventually(
    async () => {
      const jobs = await deadLetters();
      return jobs.length > 0 && jobs;
    },
    20_000,
    "the worker's dead letter",
  );
  t.match(dead!.reason, /^graph 10\/2018278 \(status 400\): /, 'the worker recorded the cause Meta gave');

  const browser = await launchChromium();
  t.teardown(() => browser.close());
  const context = await browser.newContext({
    httpCredentials: { username: p.env.ADMIN_USER as string, password: p.env.ADMIN_PASS as string },
    viewport: { width: 1280, height: 900 },
  });
  const page = await context.newPage();
  const consoleErrors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  });
  page.on('pageerror', (err) => consoleErrors.push(err.message));

  await t.test('the bare address lands on the dashboard, logged in with Basic credentials', async (t) => {
    const res = await page.goto(p.apiUrl);
    t.equal(res?.status(), 200);
    t.equal(new URL(page.url()).pathname, '/ops/dashboard');
    t.match(await page.textContent('h1'), /Switchboard/);
  });

  await t.test('warnings and dead-letter reasons in words, with what to do next', async (t) => {
    t.equal(await page.getAttribute('#health-status', 'data-status'), 'degraded');
    const warning = page.locator('li.warning[data-code="facebook_app_id_missing"]');
    t.match(await warning.textContent(), /The Facebook app id is not set.*What to do: Set FACEBOOK_APP_ID/);
    t.notMatch(await page.textContent('#section-health'), /facebook_app_id_missing/, 'the raw code is not shown');

    t.equal(await page.textContent('#dlq-count'), '(1)');
    const row = page.locator(`tr[data-job-id="${dead!.id}"]`);
    t.equal(
      await row.locator('.reason').textContent(),
      'Meta refused the reply: outside the 24-hour messaging window (Meta error 10).',
      "the worker's reason, from Meta's error table",
    );
    t.match(await row.locator('.next').textContent(), /^What to do: A replay will most likely fail the same way/);
    t.notMatch(await row.textContent(), /2018278|status 400|allowed window/, 'the raw reason is not shown');
  });

  await t.test('page tokens: the state says why, and the check is a button, not an API call to type', async (t) => {
    const tokens = page.locator('#section-tokens');
    t.match(await tokens.textContent(), /Needs attention soon \(cannot be checked: FACEBOOK_APP_ID is not set/);
    t.notMatch(await tokens.textContent(), /POST \/ops\/tokens\/check/, 'no route to type by hand');
    t.match(await tokens.textContent(), /Press “Check tokens now” below/);
    await page.click('button[data-action="tokens-check"]');
    await page.locator('#flash', { hasText: 'No token could be checked: see “What to do” above.' }).waitFor();
    t.pass('without FACEBOOK_APP_ID the check says it could not check, pointing at the step');
  });

  await t.test(
    'the kill switch: reached with Tab, worked with Enter and Space, labelled by what customers get',
    async (t) => {
      t.equal(await page.textContent('#ai-state'), 'AI replies: running');
      t.equal(await page.getAttribute('#ai-state', 'class'), 'big ok');
      t.equal(await page.textContent('#ai-ask'), 'Stop AI replies');
      await page.focus('h1');
      let tabs = 0;
      while ((await focusedId(page)) !== 'ai-ask' && tabs < 80) {
        await page.keyboard.press('Tab');
        tabs++;
      }
      t.equal(await focusedId(page), 'ai-ask', `Tab reaches the switch (${tabs} presses)`);
      t.equal(
        await page.evaluate<string>('getComputedStyle(document.activeElement).outlineStyle'),
        'solid',
        'with a visible focus ring',
      );
      await page.keyboard.press('Enter');
      t.ok(await page.isVisible('#ai-confirm'), 'Enter asks for a confirmation');
      t.equal(await page.getAttribute('#ai-ask', 'aria-expanded'), 'true');
      t.equal(await focusedId(page), 'ai-confirm-yes', 'the focus moves to the answer');
      await page.keyboard.press('Escape');
      t.notOk(await page.isVisible('#ai-confirm'), 'Escape cancels');
      t.equal(await focusedId(page), 'ai-ask', '…and the focus goes back to the switch');
      await page.keyboard.press('Space');
      t.ok(await page.isVisible('#ai-confirm'), 'Space asks too');
      await page.click('#ai-confirm-no');
      t.notOk(await page.isVisible('#ai-confirm'), 'Cancel closes it');
      t.equal(await aiEnabled(), true, '…and nothing changed');

      await page.click('#ai-ask');
      // The confirmation survives a refresh that comes while it is open.
      await refreshNow(page);
      t.ok(await page.isVisible('#ai-confirm'), 'a refresh leaves an open confirmation alone');
      t.match(await page.textContent('#ai-question'), /Customers get the fallback text until you resume/);
      await page.focus('#ai-confirm-yes');
      await page.keyboard.press('Enter');
      // Locator waits, not waitForFunction: the page's CSP (rightly) forbids the eval that needs.
      await page.locator('#ai-state', { hasText: 'AI replies: stopped (fallback text is sent)' }).waitFor();
      t.equal(await aiEnabled(), false, '/ops/ai/status agrees: the AI is off');
      t.equal(await page.getAttribute('#ai-state', 'class'), 'big bad', 'shown as a problem, not in green');
      t.equal(await page.textContent('#ai-ask'), 'Resume AI replies', 'the button offers the way back');
      t.notMatch(await page.textContent('#section-ai'), /\b(ON|OFF)\b/, 'no switch position to misread');
      await page.locator('#flash', { hasText: 'AI replies are stopped: customers get the fallback text.' }).waitFor();

      // The worker reads the switch again at most every 500 ms (packages/ai/src/kill-switch.ts).
      await new Promise((resolve) => setTimeout(resolve, 600));
      const calls = p.gemini.calls.length;
      const sends = p.graph.sends.length;
      t.equal(await outcomeOf(p, await write(p, later, 'Anyone? q3'), 'the fallback reply'), 'replied');
      const fallback = (await p.graph.waitForSends(sends + 1)).at(-1);
      t.equal(fallback?.text, FALLBACK, 'the worker sends the fallback text');
      t.equal(p.gemini.calls.length, calls, 'without asking the AI');
    },
  );

  const answeredId = idOf(p, answered);
  await t.test('a conversation paused and resumed from the page', async (t) => {
    await page.click(`#pause-ask-${answeredId}`);
    await page.fill(`#pause-minutes-${answeredId}`, '15');
    await page.click(`#pause-yes-${answeredId}`);
    await page.locator(`li.conv[data-conversation-id="${answeredId}"][data-status="paused"]`).waitFor();
    t.match(await api(`/ops/conversations/${answeredId}`), { status: 'paused', pause_reason: 'operator' });
    t.match(
      await page.textContent(`li.conv[data-conversation-id="${answeredId}"]`),
      /Paused · paused by an operator · the bot is silent until /,
    );
    const sends = p.graph.sends.length;
    t.equal(
      await outcomeOf(p, await write(p, answered, 'One more thing q4'), 'the paused message'),
      'paused',
      'the worker keeps quiet',
    );
    t.equal(p.graph.sends.length, sends, 'nothing sent');
    await page.click(`#resume-${answeredId}`);
    await page.locator(`li.conv[data-conversation-id="${answeredId}"][data-status="active"]`).waitFor();
    t.match(await api(`/ops/conversations/${answeredId}`), { status: 'active', paused_until: null });
  });

  await t.test('charts of the last 24 hours and 7 days, split into AI, fallback, paused and failed', async (t) => {
    await refreshNow(page);
    const charts = page.locator('figure.chart');
    t.equal(await charts.count(), 2, 'two charts');
    t.equal(await charts.nth(0).locator('tbody tr').count(), 24);
    t.equal(await charts.nth(1).locator('tbody tr').count(), 7);
    t.ok((await charts.nth(0).locator('rect').count()) > 0, 'bars drawn');
    const headers = await charts.nth(0).locator('thead th').allTextContents();
    t.same(headers, ['When (UTC)', 'AI reply', 'Fallback text', 'Paused (person handling)', 'Failed', 'All']);
    // Summed over the hours, so a message near the turn of an hour counts wherever it fell.
    const rows = await charts
      .nth(0)
      .locator('tbody tr')
      .evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => Number(td.textContent))));
    const sums = rows.reduce((acc, r) => acc.map((n, i) => n + (r[i] ?? 0)), [0, 0, 0, 0, 0]);
    t.same(sums, [1, 1, 1, 1, 4], 'one message each: the AI reply, the fallback, the paused one and the refused one');
    t.equal(await page.textContent('#replies-sent'), '2', 'replies sent: the AI reply and the fallback');
    const ai = await page.textContent('#section-ai');
    // The worker's counters reach Redis a moment later: whatever the count, the noun agrees with it.
    for (const [, n, noun] of (ai ?? '').matchAll(/(\d+) (AI calls?|errors?|fallbacks?)\b/g))
      t.equal(noun?.endsWith('s'), n !== '1', `"${n} ${noun}"`);
    t.match(ai, /today \$0\.00 \(no limit\)/, 'spend without a budget: no "of no limit"');
  });

  const result = page.locator(`li.replay-result[data-job-id="${dead!.id}"]`);
  const row = page.locator(`tr[data-job-id="${dead!.id}"]`);
  /** Refreshes until the replay shows this result: the worker takes it up within moments. */
  const replayShows = (kind: string) =>
    eventually(
      async () => {
        await refreshNow(page);
        return (await result.getAttribute('data-result')) === kind;
      },
      30_000,
      `the replay's result "${kind}"`,
    ).catch((err: Error) => {
      // What the workers did meanwhile is what explains a wait that ran out.
      const outbound = p
        .logs()
        .split('\n')
        .filter((l) => l.includes('"queue":"outbound"') || l.includes('"worker started"'));
      throw new Error(`${err.message}; the workers' outbound lines:\n${outbound.slice(-15).join('\n')}`);
    });

  await t.test('a replay: the count and the table follow at once, and the result waits for a worker', async (t) => {
    // With no worker running, the replayed message waits where the page can show it waiting.
    await p.workers[0]!.stop();
    await page.click(`button.replay[data-job-id="${dead!.id}"]`);
    await page.locator('#flash', { hasText: 'Queued again; its result appears under' }).waitFor();
    t.equal(await page.textContent('#dlq-count'), '(0)', 'the count follows the replay');
    t.ok(await page.isVisible('#dlq-empty'), 'nothing left to replay');
    t.equal(await page.locator('#section-dead-letters table').count(), 0, 'no empty table head');
    t.equal(await result.getAttribute('data-result'), 'pending');
    t.match(await result.textContent(), new RegExp(`, a reply on Page ${PAGE}: Waiting to be handled again$`));
  });

  await t.test('a replay that fails again says so, and why', async (t) => {
    p.graph.failNextSends(UNAVAILABLE);
    const worker = p.startWorker();
    await eventually(async () => worker.output.join('').includes('"worker started"'), 20_000, 'the worker');
    await replayShows('failed');
    t.match(
      await result.textContent(),
      new RegExp(
        `, a reply on Page ${PAGE}: Failed again\\. Meta refused the reply: person not available or blocked the Page \\(Meta error 551\\)\\..*What to do:`,
      ),
    );
    t.notOk((await result.textContent())?.includes(dead!.id), 'named in words, not by its job id');
    t.equal(await page.textContent('#dlq-count'), '(1)', 'back in the list');
    t.match(await row.textContent(), /failed again after a replay/);
    t.match(await row.locator('.reason').textContent(), /person not available/, 'with its new reason');
  });

  await t.test('a replay that goes through: the count and the table follow', async (t) => {
    const sends = p.graph.sends.length;
    await page.click(`button.replay[data-job-id="${dead!.id}"]`);
    await replayShows('done');
    t.match(await result.textContent(), new RegExp(`, a reply on Page ${PAGE}: Handled$`));
    t.equal(await page.textContent('#dlq-count'), '(0)', 'the count follows the replay');
    t.ok(await page.isVisible('#dlq-empty'));
    t.equal(await page.locator('#section-dead-letters table').count(), 0, 'no empty table head');
    const sent = await p.graph.waitForSends(sends + 1);
    t.equal(sent.at(-1)?.text, AI_REPLY, 'the reply Meta refused went out on replay');
    t.same(await deadLetters(), []);
  });

  await t.test(
    'the instructions editor: typed text survives a refresh, the count follows, Save stores it',
    async (t) => {
      const editor = page.locator(`#instructions-${PAGE}`);
      await editor.fill('Answer in French. Opening hours: 9–17.');
      t.equal(await page.textContent(`#instructions-${PAGE}-count`), '38 / 20,000 characters');
      await refreshNow(page);
      t.equal(await editor.inputValue(), 'Answer in French. Opening hours: 9–17.', 'a refresh keeps unsaved text');
      await page.click(`#instructions-${PAGE}-save`);
      await page.locator('#flash', { hasText: `Instructions for Page ${PAGE} saved.` }).waitFor();
      t.match(
        await api(`/ops/pages/${PAGE}/instructions`),
        { instructions: 'Answer in French. Opening hours: 9–17.' },
        'stored',
      );
      await editor.fill('x'.repeat(20_001));
      t.ok(await page.isDisabled(`#instructions-${PAGE}-save`), 'too long: Save is disabled');
      t.match(await page.textContent(`#instructions-${PAGE}-count`), /20,001 \/ 20,000 characters: too long to save/);
    },
  );

  t.same(
    (await p.sql<Array<{ action: string }>>`select action from audit_log order by id`)
      .map((a) => a.action)
      .filter((a) => a !== 'conversation.read'),
    [
      'page.token_set',
      'tokens.check',
      'ai.toggle',
      'conversation.pause',
      'conversation.resume',
      'dlq.retry',
      'dlq.retry',
      'page.instructions_set',
    ],
    'every change audited',
  );

  await t.test('the state survives a reload; desktop and phone widths, screenshots', async (t) => {
    await page.reload();
    t.equal(await page.textContent('#ai-state'), 'AI replies: stopped (fallback text is sent)');
    t.ok(await fitsWidth(page), 'no sideways scroll at 1280 px');
    await page.screenshot({ path: artifactPath('dashboard-1280.png'), fullPage: true });

    await page.setViewportSize({ width: 390, height: 844 });
    await page.reload();
    t.ok(await fitsWidth(page), 'no sideways scroll at 390 px');
    await page.screenshot({ path: artifactPath('dashboard-390.png'), fullPage: true });

    // Keyboard: Tab reaches the first button, and it shows where the focus is.
    await page.keyboard.press('Tab');
    t.equal(await focusedId(page), 'refresh', 'the first stop is a real button');
    t.equal(
      await page.evaluate<string>('getComputedStyle(document.activeElement).outlineStyle'),
      'solid',
      'with a visible focus ring',
    );
  });

  await t.test('the page refreshes itself every 20 seconds', async (t) => {
    const watcher = await context.newPage();
    watcher.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
    watcher.on('pageerror', (err) => consoleErrors.push(err.message));
    // The page's own clock, run forward by the test: the 20 seconds pass without being waited for.
    await watcher.clock.install();
    await watcher.goto(`${p.apiUrl}/ops/dashboard`);
    t.equal(await watcher.textContent('#ai-state'), 'AI replies: stopped (fallback text is sent)');
    await api('/ops/ai/toggle', { method: 'POST', body: JSON.stringify({ enabled: true }) });
    await watcher.clock.runFor(19_000);
    t.equal(
      await watcher.textContent('#ai-state'),
      'AI replies: stopped (fallback text is sent)',
      'not before its time',
    );
    await watcher.clock.runFor(1_000);
    await watcher.locator('#ai-state', { hasText: 'AI replies: running' }).waitFor({ timeout: 10_000 });
    t.pass('a change made elsewhere shows without a click');
    await watcher.close();
  });

  t.same(consoleErrors, [], 'no console errors');
});
