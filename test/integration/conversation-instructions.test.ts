// Fakes Meta's Graph API and Google's Gemini API (loopback HTTP servers): neither is reachable from
// tests, and the fake Gemini records each request's system instruction. The API and two workers are
// the real production processes on a real PostgreSQL and Redis.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { SYSTEM_INSTRUCTION } from '@switchboard/ai';
import { type Pipeline, startPipeline } from '../helpers/pipeline.js';
import { eventually, startProcess } from '../helpers/processes.js';
import { messengerText } from '../helpers/sign.js';

const OWN_PAGE = '100000000000031';
const OTHER_PAGE = '100000000000032';
const DEFAULT_TEXT = 'We are Kaffeehaus Quellenstraße. Default facts: open daily 8 to 18.';
const HOURS =
  'Opening hours: Monday to Friday 7:30–19:00, Saturday 9–14, closed on Sunday.\nPrices: espresso 2.40 EUR, flat white 3.90 EUR.\nTone: warm, brief, use "du".';
const NEW_HOURS = 'Opening hours from December: every day 10–16 (winter hours).\nTone: formal.';

let seq = 0;

function ops(p: Pipeline) {
  const auth = `Basic ${Buffer.from(`${p.env.ADMIN_USER}:${p.env.ADMIN_PASS}`).toString('base64')}`;
  return async (method: 'GET' | 'PUT', path: string, body?: unknown, rawBody?: string) => {
    const res = await fetch(`${p.apiUrl}${path}`, {
      method,
      headers: {
        authorization: auth,
        ...(body !== undefined || rawBody !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(rawBody !== undefined ? { body: rawBody } : body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
}

/** Sends one message to `pageId` and returns the system instruction the model got for it. */
async function askModel(
  p: Pipeline,
  pageId: string,
  sender = `9000000003${String(++seq).padStart(5, '0')}`,
): Promise<string> {
  const text = `question ${++seq} for ${pageId}`;
  const res = await p.post(
    messengerText({ pageId, senderId: sender, mid: `m_instructions_${seq}_${Date.now()}`, text }),
  );
  if (res.status !== 200) throw new Error(`webhook answered ${res.status}`);
  const call = await eventually(
    async () => p.gemini.calls.find((c) => c.userText === text),
    15_000,
    `the model call for "${text}"`,
  );
  await eventually(async () => p.graph.sends.some((s) => s.recipientId === sender), 15_000, 'the reply');
  return call.systemInstruction ?? '';
}

/** The business part of a system instruction: what follows the built-in rules, between the tags. */
function businessPart(systemInstruction: string): string | null {
  const match = /<business_instructions>\n([\s\S]*)\n<\/business_instructions>$/.exec(systemInstruction);
  return match?.[1] ?? null;
}

/** A key's whole content as Redis holds it (DUMP would not do: its payload may be compressed). */
async function readKey(p: Pipeline, key: string): Promise<unknown> {
  const type = await p.redis.type(key);
  if (type === 'string') return p.redis.get(key);
  if (type === 'hash') return p.redis.hgetall(key);
  if (type === 'list') return p.redis.lrange(key, 0, -1);
  if (type === 'set') return p.redis.smembers(key);
  if (type === 'zset') return p.redis.zrange(key, 0, -1, 'WITHSCORES');
  if (type === 'stream') return p.redis.xrange(key, '-', '+');
  return null;
}

t.test('the assistant knows the business: per page, by default, changed at run time', async (t) => {
  const p = await startPipeline(t, 'instructions', {
    workers: 2,
    env: {
      AI_INSTRUCTIONS: DEFAULT_TEXT,
      AI_MAX_CALLS_PER_MIN: '1000',
      AI_MAX_CALLS_PER_MIN_PER_PSID: '100',
      LOG_LEVEL: 'debug',
    },
  });
  const call = ops(p);
  p.gemini.setReply('Happy to help.');

  await t.test("a page's own instructions reach the model after the built-in rules", async (t) => {
    const put = await call('PUT', `/ops/pages/${OWN_PAGE}/instructions`, { instructions: HOURS });
    t.equal(put.status, 200);
    t.same(Object.keys(put.body).sort(), ['instructions_chars', 'page_id', 'updated_at']);
    t.match(put.body, { page_id: OWN_PAGE, instructions_chars: [...HOURS].length });
    t.ok(Math.abs(Date.parse(put.body.updated_at as string) - Date.now()) < 60_000, 'updated_at is a time of now');
    t.same((await call('GET', `/ops/pages/${OWN_PAGE}/instructions`)).body, {
      page_id: OWN_PAGE,
      instructions: HOURS,
      source: 'page',
    });

    const system = await askModel(p, OWN_PAGE);
    t.ok(system.startsWith(`${SYSTEM_INSTRUCTION}\n`), 'the built-in rules come first, unchanged');
    t.equal(businessPart(system), HOURS, "then the page's text, whole, between the tags");
    t.notOk(system.includes(DEFAULT_TEXT), 'not the default');
    t.equal(p.gemini.calls.at(-1)?.contents.at(-1)?.role, 'user', "the user's message stays the user's turn");
  });

  await t.test('a page without its own gets AI_INSTRUCTIONS', async (t) => {
    t.same((await call('GET', `/ops/pages/${OTHER_PAGE}/instructions`)).body, {
      page_id: OTHER_PAGE,
      instructions: DEFAULT_TEXT,
      source: 'default',
    });
    const system = await askModel(p, OTHER_PAGE);
    t.ok(system.startsWith(`${SYSTEM_INSTRUCTION}\n`));
    t.equal(businessPart(system), DEFAULT_TEXT);
  });

  await t.test('a change applies to the next reply in every worker, without a restart', async (t) => {
    const decided = (w: number) =>
      (p.workers[w]?.output.join('') ?? '')
        .split('\n')
        .filter((l) => l.includes('"reply decided"') && l.includes('"reason":"ai"')).length;
    // Until both workers have answered this page (so each holds the old text in its cache).
    for (let i = 0; i < 40 && (decided(0) === 0 || decided(1) === 0); i++)
      t.equal(businessPart(await askModel(p, OWN_PAGE)), HOURS);
    t.ok(decided(0) > 0 && decided(1) > 0, 'both workers answered with the old text');
    const before = [decided(0), decided(1)];

    t.equal((await call('PUT', `/ops/pages/${OWN_PAGE}/instructions`, { instructions: NEW_HOURS })).status, 200);
    const seen: string[] = [];
    for (let i = 0; i < 40 && (decided(0) === before[0] || decided(1) === before[1]); i++)
      seen.push(businessPart(await askModel(p, OWN_PAGE)) ?? '');
    t.ok(decided(0) > (before[0] ?? 0) && decided(1) > (before[1] ?? 0), 'both workers answered again');
    t.ok(
      seen.length > 0 && seen.every((s) => s === NEW_HOURS),
      `every reply after the change had the new text (${seen.length} replies)`,
    );
  });

  await t.test('"" removes a page\'s instructions, so the default applies again', async (t) => {
    const put = await call('PUT', `/ops/pages/${OWN_PAGE}/instructions`, { instructions: '' });
    t.equal(put.status, 200);
    t.match(put.body, { page_id: OWN_PAGE, instructions_chars: 0 });
    t.same((await call('GET', `/ops/pages/${OWN_PAGE}/instructions`)).body, {
      page_id: OWN_PAGE,
      instructions: DEFAULT_TEXT,
      source: 'default',
    });
    t.equal(businessPart(await askModel(p, OWN_PAGE)), DEFAULT_TEXT);
    const [row] = await p.sql`select count(*)::int as n from page_instructions where page_id = ${OWN_PAGE}`;
    t.equal(row?.n, 0, 'nothing is kept for the page');
  });

  await t.test('bad input gets a clear 400, and nothing is stored', async (t) => {
    const before = await p.sql`select count(*)::int as n from audit_log`;
    const cases: Array<[string, string, unknown, string?]> = [
      ['missing field', OWN_PAGE, {}],
      ['another field only', OWN_PAGE, { text: 'hello' }],
      ['a number', OWN_PAGE, { instructions: 42 }],
      ['null', OWN_PAGE, { instructions: null }],
      ['an array', OWN_PAGE, { instructions: ['open 9-5'] }],
      ['an object', OWN_PAGE, { instructions: { hours: '9-5' } }],
      ['a boolean', OWN_PAGE, { instructions: true }],
      ['too long', OWN_PAGE, { instructions: 'x'.repeat(20_001) }],
      [
        'too long in characters that take two UTF-16 units',
        OWN_PAGE,
        { instructions: '☕'.repeat(10_000) + '🙂'.repeat(10_001) },
      ],
      ['a page id that is not numeric', 'my-page', { instructions: 'hello' }],
      ['a page id that is too long', '1'.repeat(65), { instructions: 'hello' }],
      ['a body that is not JSON', OWN_PAGE, undefined, '{"instructions": '],
      ['a body that is not an object', OWN_PAGE, 'just text'],
    ];
    for (const [what, page, body, raw] of cases) {
      const res = await call('PUT', `/ops/pages/${encodeURIComponent(page)}/instructions`, body, raw);
      t.equal(res.status, 400, `${what}: 400`);
      t.equal(res.body.error, 'invalid_request', `${what}: invalid_request`);
    }
    t.match(
      (await call('PUT', `/ops/pages/${OWN_PAGE}/instructions`, { instructions: 7 })).body.message,
      /instructions must be a string/,
    );
    t.match(
      (await call('PUT', `/ops/pages/${OWN_PAGE}/instructions`, {})).body.message,
      /required property 'instructions'/,
    );
    t.match(
      (await call('PUT', `/ops/pages/${OWN_PAGE}/instructions`, { instructions: 'x'.repeat(20_001) })).body.message,
      /more than 20000 characters/,
    );
    t.match((await call('PUT', '/ops/pages/abc/instructions', { instructions: 'x' })).body.message, /pageId/);
    t.equal((await call('GET', '/ops/pages/abc/instructions')).status, 400, 'GET with a bad page id: 400');
    const after = await p.sql`select count(*)::int as n from audit_log`;
    t.equal(after[0]?.n, before[0]?.n, 'no audit row for a refused call');
    const [stored] = await p.sql`select count(*)::int as n from page_instructions`;
    t.equal(stored?.n, 0, 'nothing stored');

    // At the limit, counted in characters (code points), not UTF-16 units or bytes.
    const atLimit = '🙂'.repeat(20_000);
    const ok = await call('PUT', `/ops/pages/${OTHER_PAGE}/instructions`, { instructions: atLimit });
    t.equal(ok.status, 200, '20,000 characters are accepted');
    t.equal(ok.body.instructions_chars, 20_000);
    t.equal((await call('GET', `/ops/pages/${OTHER_PAGE}/instructions`)).body.instructions, atLimit);
    t.equal((await call('PUT', `/ops/pages/${OTHER_PAGE}/instructions`, { instructions: '' })).status, 200);
  });

  await t.test('a page with no registered token can have instructions', async (t) => {
    const [registered] = await p.sql`select count(*)::int as n from pages`;
    t.equal(registered?.n, 0, 'no page is registered in this test');
    t.equal(
      (await call('PUT', '/ops/pages/100000000000039/instructions', { instructions: 'Dry-run shop.' })).status,
      200,
    );
    t.same((await call('GET', '/ops/pages/100000000000039/instructions')).body, {
      page_id: '100000000000039',
      instructions: 'Dry-run shop.',
      source: 'page',
    });
  });

  await t.test('every change is in the audit log, with the length and never the text', async (t) => {
    const rows =
      await p.sql`select actor, action, target, ip, request_id, details from audit_log where action like 'page.instructions%' order by id`;
    t.same(
      rows.map((r) => [r.action, r.target, r.details]),
      [
        ['page.instructions_set', OWN_PAGE, { instructions_chars: [...HOURS].length, replaced: false }],
        ['page.instructions_set', OWN_PAGE, { instructions_chars: [...NEW_HOURS].length, replaced: true }],
        ['page.instructions_removed', OWN_PAGE, { instructions_chars: 0, replaced: true }],
        ['page.instructions_set', OTHER_PAGE, { instructions_chars: 20_000, replaced: false }],
        ['page.instructions_removed', OTHER_PAGE, { instructions_chars: 0, replaced: true }],
        ['page.instructions_set', '100000000000039', { instructions_chars: 13, replaced: false }],
      ],
    );
    for (const r of rows) {
      t.equal(r.actor, p.env.ADMIN_USER);
      t.ok(r.ip && r.request_id, 'from where, which request');
    }
  });

  await t.test('instructions no configured key opens get 409 with what to do, never a 500', async (t) => {
    const page = '100000000000041';
    t.equal((await call('PUT', `/ops/pages/${page}/instructions`, { instructions: 'Moved shop.' })).status, 200);
    // A sealed blob is bound to its page: copied under another page id, no key opens it.
    await p.sql`update page_instructions set page_id = '100000000000043' where page_id = ${page}`;
    const res = await call('GET', '/ops/pages/100000000000043/instructions');
    t.equal(res.status, 409);
    t.equal(res.body.error, 'instructions_unreadable');
    t.match(res.body.message, /set them again with PUT/);
    t.equal((await call('PUT', '/ops/pages/100000000000043/instructions', { instructions: '' })).status, 200);
  });

  await t.test('the texts are nowhere in clear: PostgreSQL, Redis, logs', async (t) => {
    t.equal((await call('PUT', `/ops/pages/${OWN_PAGE}/instructions`, { instructions: HOURS })).status, 200);
    await askModel(p, OWN_PAGE);
    const needles = [
      'Monday to Friday',
      'flat white',
      'winter hours',
      'Quellenstraße',
      'Quellenstra\\u00dfe',
      'Dry-run shop',
    ];

    const tables =
      await p.sql`select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'`;
    let rows = 0;
    for (const { table_name: table } of tables) {
      for (const row of await p.sql`select row_to_json(x)::text as j from ${p.sql(table as string)} x`) {
        rows++;
        for (const needle of needles) t.notOk((row.j as string).includes(needle), `${table} holds no "${needle}"`);
      }
    }
    t.ok(rows > 10, `${rows} rows of ${tables.length} tables inspected`);
    const [sealed] = await p.sql`select instructions_sealed from page_instructions where page_id = ${OWN_PAGE}`;
    t.match(sealed?.instructions_sealed, /^v1\./, 'the kept text is a sealed value');

    let keys = 0;
    for (const pattern of [`${p.prefix}*`, `{${p.prefix}}*`]) {
      let cursor = '0';
      do {
        const [next, found] = await p.redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
        cursor = next;
        for (const key of found) {
          keys++;
          const content = JSON.stringify(await readKey(p, key));
          for (const needle of needles)
            t.notOk(key.includes(needle) || content.includes(needle), `${key} holds no "${needle}"`);
        }
      } while (cursor !== '0');
    }
    t.ok(keys > 5, `${keys} Redis keys inspected`);

    const logs = p.logs();
    t.ok(logs.includes('page instructions set'), 'the change is logged');
    for (const needle of needles) t.notOk(logs.includes(needle), `no log line holds "${needle}"`);
  });
});

t.test('AI_INSTRUCTIONS_FILE: the default read from a file reaches the model', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-instructions-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'business.txt');
  const text = 'Bäckerei Sonnenblume — Brot ab 6 Uhr.\nWir sprechen Deutsch und Englisch.';
  writeFileSync(file, `${text}\n`, 'utf8');
  const p = await startPipeline(t, 'instructions_file', {
    env: { AI_INSTRUCTIONS_FILE: file, AI_MAX_CALLS_PER_MIN_PER_PSID: '100' },
  });
  p.gemini.setReply('Gern.');
  const system = await askModel(p, OTHER_PAGE);
  t.ok(system.startsWith(`${SYSTEM_INSTRUCTION}\n`));
  t.equal(businessPart(system), text, "the file's UTF-8 text, trimmed");
  t.same((await ops(p)('GET', `/ops/pages/${OTHER_PAGE}/instructions`)).body, {
    page_id: OTHER_PAGE,
    instructions: text,
    source: 'default',
  });

  // A file that cannot be read stops the process at start, listed with the other problems.
  const missing = join(dir, 'moved-away.txt');
  const worker = startProcess(t, 'worker', { ...p.env, AI_INSTRUCTIONS_FILE: missing, AI_TIMEOUT_MS: 'soon' });
  t.equal((await worker.exited).code, 78, 'the worker refuses to start (EX_CONFIG)');
  const output = worker.output.join('');
  t.match(output, `AI_INSTRUCTIONS_FILE: cannot read ${missing} (ENOENT)`);
  t.match(output, /AI_TIMEOUT_MS: must be a whole number/);
});

t.test('without any instructions the model gets the built-in rules alone', async (t) => {
  const p = await startPipeline(t, 'instructions_none', { env: { AI_MAX_CALLS_PER_MIN_PER_PSID: '100' } });
  t.equal(await askModel(p, OTHER_PAGE), SYSTEM_INSTRUCTION);
  t.same((await ops(p)('GET', `/ops/pages/${OTHER_PAGE}/instructions`)).body, {
    page_id: OTHER_PAGE,
    instructions: '',
    source: 'none',
  });
});
