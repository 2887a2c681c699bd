// Fakes Meta's Graph API and Google's Gemini API (loopback HTTP servers): neither is reachable from
// tests. Conversations are made by the real API and worker processes from signed webhooks, on a
// real PostgreSQL and Redis, with no page token (dry run); the page is driven in Debian's Chromium.
import type { Page } from 'playwright-core';
import t from 'tap';
import { conversationId } from '@switchboard/pages';
import { artifactPath, browserSkip, hashOf, launchChromium } from '../helpers/browser.js';
import { type Pipeline, startPipeline } from '../helpers/pipeline.js';
import { eventually } from '../helpers/processes.js';
import { messengerEcho, messengerText } from '../helpers/sign.js';

const PAGE = '100000000000093';
const INBOX_APP = '263902037430900';
const DRY_RUN_LOG = 'dry run: no page token known; reply recorded, not sent';

const skip = browserSkip((m) => t.fail(m));

let seq = 0;
const idOf = (p: Pipeline, user: string) => conversationId('messenger', PAGE, hashOf(p, user));

/** A user's message; resolves with its event's id once the worker finished it. */
async function say(p: Pipeline, user: string, text: string): Promise<string> {
  const mid = `m_dash_conv_${++seq}_${Date.now()}`;
  const res = await p.post(messengerText({ pageId: PAGE, senderId: user, mid, text, timestamp: Date.now() }));
  if (res.status !== 200) throw new Error(`webhook answered ${res.status}`);
  const midHash = hashOf(p, mid);
  return eventually(
    async () =>
      (
        await p.sql<Array<{ id: string }>>`select id from events where mid_hash = ${midHash} and status = 'processed'`
      )[0]?.id,
    15_000,
    `the event of "${text}"`,
  );
}

async function staffWrites(p: Pipeline, user: string, text: string): Promise<void> {
  const mid = `m_dash_staff_${++seq}`;
  const res = await p.post(
    messengerEcho({ pageId: PAGE, recipientId: user, mid, text, appId: INBOX_APP, timestamp: Date.now() }),
  );
  if (res.status !== 200) throw new Error(`webhook answered ${res.status}`);
  const midHash = hashOf(p, mid);
  await eventually(
    async () => (await p.sql`select 1 from events where mid_hash = ${midHash} and outcome = 'echo_human'`).length > 0,
    15_000,
    'the staff echo',
  );
}

const reads = async (p: Pipeline, id: string) =>
  (await p.sql`select 1 from audit_log where action = 'conversation.read' and target = ${id}`).length;

async function refreshNow(page: Page): Promise<void> {
  await page.click('#refresh');
  await page.locator('#refresh:enabled').waitFor();
}

/** A text as a regular expression that matches it literally. */
const literally = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const fitsWidth = (page: Page) => page.evaluate<boolean>('document.documentElement.scrollWidth <= window.innerWidth');

t.test('conversations on the ops dashboard, and dry-run replies shown as such', { skip }, async (t) => {
  const p = await startPipeline(t, 'e2e-dash-conv', {
    env: {
      FACEBOOK_PAGE_ACCESS_TOKEN: '',
      HANDOFF_KEYWORDS: 'human',
      HANDOFF_REPLY: 'A colleague will write to you shortly.',
      HANDOFF_PAUSE_S: '1800',
      AI_HISTORY_TURNS: '12',
    },
  });
  const auth = `Basic ${Buffer.from(`${p.env.ADMIN_USER}:${p.env.ADMIN_PASS}`).toString('base64')}`;
  const get = async (id: string) =>
    (await (await fetch(`${p.apiUrl}/ops/conversations/${id}`, { headers: { authorization: auth } })).json()) as Record<
      string,
      unknown
    >;

  const [answered, waiting, staffed] = ['9000000093001', '9000000093002', '9000000093003'];
  const question = 'Do you open on Sundays? qz7x';
  const answer = 'Yes, from ten to four. wq8y';
  p.gemini.setReply(answer);
  const answeredEvent = await say(p, answered, question);
  p.gemini.setReply('Hello there. kx9v');
  await say(p, waiting, 'hello kx9u');
  await say(p, waiting, 'human');
  await say(p, staffed, 'my parcel is late pw3t');
  await staffWrites(p, staffed, 'I am looking into it now. pw3s');
  const texts = [
    question,
    answer,
    'hello kx9u',
    'Hello there. kx9v',
    'my parcel is late pw3t',
    'I am looking into it now. pw3s',
  ];

  await t.test(
    'the dry-run log line names the event, the path and reason, the parts and characters, never the text',
    async (t) => {
      const line = await eventually(
        async () =>
          p
            .logs()
            .split('\n')
            .find((l) => l.includes(DRY_RUN_LOG) && l.includes(answeredEvent)),
        5_000,
        'the dry-run line',
      );
      const entry = JSON.parse(line) as Record<string, unknown>;
      t.match(entry, { answered: answeredEvent, path: 'ai', parts: 1, chars: [...answer].length });
      t.type(entry.reason, 'string');
      for (const text of texts) t.notOk(p.logs().includes(text), `no log carries "${text}"`);
    },
  );

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
  await page.goto(`${p.apiUrl}/ops/dashboard`);

  const answeredId = idOf(p, answered);
  const row = (user: string) => page.locator(`li.conv[data-conversation-id="${idOf(p, user)}"]`);

  await t.test(
    'listed after Health: waiting first, then paused, then active, reasons in words, no text in the page',
    async (t) => {
      const sections = await page
        .locator('section[data-section]')
        .evaluateAll((els) => els.map((el) => el.getAttribute('data-section')));
      t.same(sections.slice(0, 2), ['health', 'conversations']);
      const order = await page
        .locator('li.conv')
        .evaluateAll((els) =>
          els.map((el) => [el.getAttribute('data-conversation-id'), el.getAttribute('data-status')]),
        );
      t.same(order, [
        [idOf(p, waiting), 'waiting_for_human'],
        [idOf(p, staffed), 'paused'],
        [answeredId, 'active'],
      ]);
      t.match(
        await row(waiting).textContent(),
        /^Waiting for a person · asked for a person · the bot is silent until \d{4}-\d\d-\d\d \d\d:\d\d UTC$/m,
      );
      t.match(
        await row(staffed).textContent(),
        /^Paused · a person from your team replied · the bot is silent until /m,
      );
      t.match(
        await row(answered).textContent(),
        new RegExp(`Messenger, Page ${PAGE}, user ${hashOf(p, answered).slice(0, 8)}, last message`),
      );
      t.equal(await page.textContent('#conversations-waiting'), '(1 waiting for a person)');
      const html = await page.content();
      t.notOk(html.includes(hashOf(p, answered)), 'the user is shown as a prefix of the hash only');
      for (const text of texts) t.notOk(html.includes(text), `"${text}" is not in the page at load`);
      t.equal(await reads(p, answeredId), 0, 'nothing read yet');
    },
  );

  await t.test('dry run: replies worked out but not sent are counted apart from the ones sent', async (t) => {
    const [dry] = await p.sql<Array<{ n: number }>>`select count(*)::int as n from replies where status = 'dry_run'`;
    t.ok(dry!.n > 0, `the worker recorded ${dry!.n} dry-run replies`);
    t.equal(await page.textContent('#replies-dry-run'), String(dry!.n), 'all of them shown as not sent');
    t.equal(await page.textContent('#replies-sent'), '0', 'none counted as sent');
    t.match(await page.textContent('#section-activity'), /Dry run: no Page token is configured/);
  });

  await t.test(
    'a transcript is fetched when asked for, audit-logged then, and the dry-run reply is labelled',
    async (t) => {
      await page.click(`#transcript-ask-${answeredId}`);
      const transcript = page.locator(`#transcript-${answeredId}`);
      await transcript.locator('li.turn').first().waitFor();
      t.equal(await reads(p, answeredId), 1, 'the read is audit-logged when the transcript is opened');
      const turns = await transcript
        .locator('li.turn')
        .evaluateAll((els) => els.map((el) => [el.className, el.textContent]));
      t.equal(turns.length, 2);
      t.match(turns[0], ['turn turn-user', new RegExp(`^Customer, .* UTC${literally(question)}$`)]);
      t.match(turns[1], [
        'turn turn-bot',
        new RegExp(`^Bot, .* UTC: would have been sent \\(dry run\\)${literally(answer)}$`),
      ]);
      t.equal(await page.getAttribute(`#transcript-ask-${answeredId}`, 'aria-expanded'), 'true');
      await refreshNow(page);
      t.ok(await transcript.isVisible(), 'a refresh leaves the transcript open');
      t.equal(await page.textContent(`#transcript-ask-${answeredId}`), 'Hide transcript');
      t.equal(await reads(p, answeredId), 1, '…without reading it again');
      const api = (await get(answeredId)) as { turns: Array<Record<string, unknown>> };
      t.same(
        api.turns.map((turn) => turn.dry_run ?? false),
        [false, true],
        'the API flags the dry-run turn only',
      );
    },
  );

  await t.test('pause with minutes and resume from the page', async (t) => {
    await page.click(`#pause-ask-${answeredId}`);
    t.equal(
      await page.evaluate<string>('document.activeElement.id'),
      `pause-minutes-${answeredId}`,
      'the focus goes to the minutes',
    );
    t.equal(await page.inputValue(`#pause-minutes-${answeredId}`), '30', 'HANDOFF_PAUSE_S by default');
    await page.fill(`#pause-minutes-${answeredId}`, '15');
    await refreshNow(page);
    t.equal(await page.inputValue(`#pause-minutes-${answeredId}`), '15', 'a refresh leaves the form in progress alone');
    const before = Date.now();
    await page.focus(`#pause-minutes-${answeredId}`);
    await page.keyboard.press('Enter');
    await page.locator(`li.conv[data-conversation-id="${answeredId}"][data-status="paused"]`).waitFor();
    const paused = (await get(answeredId)) as { status: string; pause_reason: string; paused_until: string };
    t.match(paused, { status: 'paused', pause_reason: 'operator' });
    const minutes = (Date.parse(paused.paused_until) - before) / 60_000;
    t.ok(minutes > 14 && minutes <= 15.1, `paused for the 15 minutes typed (${minutes})`);
    t.match(await row(answered).textContent(), /^Paused · paused by an operator · the bot is silent until /m);
    t.equal(
      await page.evaluate<string>('document.activeElement.id'),
      `resume-${answeredId}`,
      'the focus lands on Resume',
    );
    await page.keyboard.press('Enter');
    await page.locator(`li.conv[data-conversation-id="${answeredId}"][data-status="active"]`).waitFor();
    t.match(await get(answeredId), { status: 'active', paused_until: null, pause_reason: null });
  });

  t.ok(await fitsWidth(page), 'no sideways scroll at 1280 px');
  await page.click(`#transcript-ask-${idOf(p, staffed)}`);
  await page.locator(`#transcript-${idOf(p, staffed)} li.turn-staff`).waitFor();
  await page.screenshot({ path: artifactPath('dashboard-conversations-1280.png'), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  t.ok(await fitsWidth(page), 'no sideways scroll at 390 px, transcripts open');
  await page.locator('#section-conversations').screenshot({ path: artifactPath('dashboard-conversations-390.png') });
  t.same(consoleErrors, [], 'no console errors');
});
