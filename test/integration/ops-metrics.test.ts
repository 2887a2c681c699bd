// Fakes nothing: the real API app (Fastify inject), real PostgreSQL and Redis; a signed webhook drives the counters.
import t from 'tap';
import { pages } from '@switchboard/db';
import { buildTestApp } from '../helpers/app.js';
import { makeDeadLetters } from '../helpers/dead-letter.js';
import { messengerText, signedRequest } from '../helpers/sign.js';

const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * A strict reader of the Prometheus text format 0.0.4: every line is a comment (HELP/TYPE) or a
 * sample `name{label="value",...} number`; every sample belongs to a family declared by TYPE once.
 */
function parsePrometheus(text: string): { samples: Sample[]; types: Map<string, string> } {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  // Values as Prometheus parses them (Go ParseFloat: NaN and Inf in any case); prom-client prints `Nan` for an empty gauge.
  const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (-?[0-9.e+-]+|[Nn]a[Nn]|[+-]?[Ii]nf)( -?\d+)?$/;
  const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/gy;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('# HELP ')) continue;
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(' ');
      if (!name || !type || !['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(type))
        throw new Error(`bad TYPE line: ${line}`);
      if (types.has(name)) throw new Error(`TYPE declared twice: ${name}`);
      types.set(name, type);
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    if (m[3]) {
      LABEL.lastIndex = 0;
      let consumed = 0;
      for (let l = LABEL.exec(m[3]); l; l = LABEL.exec(m[3])) {
        labels[l[1] as string] = (l[2] as string).replace(/\\"/g, '"').replace(/\\n/g, '\n').replace(/\\\\/g, '\\');
        consumed = LABEL.lastIndex;
      }
      if (consumed !== m[3].length) throw new Error(`bad labels: ${line}`);
    }
    const name = m[1] as string;
    const family = [name, name.replace(/_(bucket|sum|count|total|created)$/, '')].find((n) => types.has(n));
    if (!family) throw new Error(`sample without a TYPE: ${name}`);
    samples.push({ name, labels, value: m[4] === '+Inf' ? Number.POSITIVE_INFINITY : Number(m[4]) });
  }
  return { samples, types };
}

const value = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
  samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;

t.test('GET /metrics', async (t) => {
  const { app, env, resources, prefix, config } = await buildTestApp(t, 'ops-metrics', {
    AI_DAILY_BUDGET_USD: '3',
    AI_MONTHLY_BUDGET_USD: '50',
  });
  const headers = { authorization: basic(env.ADMIN_USER as string, env.ADMIN_PASS as string) };
  const scrape = async () => {
    const res = await app.inject({ method: 'GET', url: '/metrics', headers });
    t.equal(res.statusCode, 200);
    t.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/);
    return parsePrometheus(res.body);
  };

  await resources.dbh.db.insert(pages).values([
    {
      pageId: '555',
      channel: 'messenger',
      tokenSealed: 'x',
      tokenKeyId: 'k',
      expiresAt: new Date(Date.now() + 10 * 86_400_000),
    },
    { pageId: '556', channel: 'messenger', tokenSealed: 'x', tokenKeyId: 'k', neverExpires: true },
  ]);
  await makeDeadLetters(resources, env.REDIS_URL as string, prefix, [{ queue: 'outbound' }]);
  // Created 90 s ago, so its age stands apart from the moment of the scrape.
  const waitingSince = Date.now() - 90_000;
  await resources.outboundQueue.add('send', { eventId: 'waiting' }, { jobId: 'waiting-1', timestamp: waitingSince });
  await resources.killSwitch.set(false);

  const scrapeStart = Date.now();
  const first = await scrape();
  const scrapeEnd = Date.now();
  const s = first.samples;
  for (const name of [
    'switchboard_ai_calls_total',
    'switchboard_ai_errors_total',
    'switchboard_webhook_signature_failures_total',
    'switchboard_ai_budget_blocked_total',
    'switchboard_webhooks_received_total',
  ]) {
    t.equal(first.types.get(name), 'counter', `${name} is a counter`);
    t.equal(value(s, name), 0, `${name} exported at 0 before any traffic`);
  }
  t.equal(value(s, 'switchboard_dead_lettered_total', { queue: 'outbound' }), 0);
  t.equal(first.types.get('switchboard_health_status'), 'gauge');
  t.equal(
    value(s, 'switchboard_health_status'),
    0,
    'health ok → 0 (real secrets, an app id, no token within 7 days of expiry)',
  );
  t.equal(value(s, 'switchboard_dead_letter_jobs', { queue: 'outbound' }), 1);
  t.equal(value(s, 'switchboard_dead_letter_jobs', { queue: 'inbound' }), 0);
  t.equal(value(s, 'switchboard_queue_depth', { queue: 'outbound', state: 'waiting' }), 1);
  t.equal(value(s, 'switchboard_queue_depth', { queue: 'outbound', state: 'failed' }), 1);
  // The age is taken at some moment of the scrape, rounded to the millisecond.
  const age = value(s, 'switchboard_queue_oldest_age_seconds', { queue: 'outbound' }) as number;
  t.ok(
    age >= (scrapeStart - waitingSince) / 1000 - 0.0005 && age <= (scrapeEnd - waitingSince) / 1000 + 0.0005,
    `the waiting job's age (${age} s) as of the scrape`,
  );
  t.equal(value(s, 'switchboard_queue_oldest_age_seconds', { queue: 'inbound' }), 0);
  t.equal(value(s, 'switchboard_ai_enabled'), 0, 'kill switch off');
  t.equal(value(s, 'switchboard_ai_budget_usd', { period: 'day' }), 3);
  t.equal(value(s, 'switchboard_ai_budget_usd', { period: 'month' }), 50);
  t.equal(value(s, 'switchboard_ai_budget_spend_usd', { period: 'day' }), 0);
  const days = value(s, 'switchboard_token_days_left', { page: '555' }) as number;
  t.ok(days > 9.9 && days <= 10, `token days left ${days}`);
  t.equal(value(s, 'switchboard_token_days_left', { page: '556' }), undefined, 'never-expiring tokens are skipped');
  t.ok(value(s, 'process_cpu_user_seconds_total') !== undefined, 'process metrics of the API');

  // Traffic: one signed webhook, then a scrape (which flushes this process's counters).
  const payload = messengerText({ pageId: '555', senderId: '2400000000000001', mid: 'm_metrics_1', text: 'hello' });
  const { body, headers: signed } = signedRequest(config.meta.appSecret, payload);
  const hook = await app.inject({ method: 'POST', url: '/webhook', headers: signed, payload: body });
  t.equal(hook.statusCode, 200);
  const bad = await app.inject({
    method: 'POST',
    url: '/webhook',
    headers: { ...signed, 'x-hub-signature-256': 'sha256=00' },
    payload: body,
  });
  t.equal(bad.statusCode, 403);

  await resources.pages.markInvalid('556', 'messenger', 'graph error 190');

  const second = await scrape();
  const s2 = second.samples;
  t.equal(value(s2, 'switchboard_health_status'), 1, 'an invalid page token: degraded → 1');
  t.equal(
    value(s2, 'switchboard_webhooks_received_total'),
    1,
    'switchboard_webhooks_received_total moved with traffic',
  );
  t.equal(value(s2, 'switchboard_webhook_signature_failures_total'), 1);
  t.equal(value(s2, 'switchboard_webhooks_rejected_total', { reason: 'invalid_signature' }), 1);
  t.equal(second.types.get('switchboard_webhook_ack_seconds'), 'histogram');
  const buckets = s2.filter((x) => x.name === 'switchboard_webhook_ack_seconds_bucket');
  t.ok(buckets.length >= 2);
  t.equal(buckets[buckets.length - 1]?.labels.le, '+Inf', '+Inf bucket last');
  for (let i = 1; i < buckets.length; i++)
    t.ok((buckets[i]?.value ?? 0) >= (buckets[i - 1]?.value ?? 0), 'buckets are cumulative');
  t.equal(
    value(s2, 'switchboard_webhook_ack_seconds_count'),
    buckets[buckets.length - 1]?.value,
    '_count equals the +Inf bucket',
  );
  t.equal(
    value(s2, 'switchboard_queue_depth', { queue: 'inbound', state: 'waiting' }),
    1,
    'the event is waiting in the inbound queue',
  );
  t.notOk(JSON.stringify(s2).includes('2400000000000001'), 'no user id in any label');
});
