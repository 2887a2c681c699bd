import { parseArgs } from 'node:util';
import { loadConfigOrExit } from '@switchboard/config';
import { metaJson, signPayload } from '@switchboard/meta';

/**
 * `npm run simulate -- [--count N] [--url URL] [--channel messenger|instagram|whatsapp]`: sends
 * correctly signed sample webhooks — by default a Messenger text, a postback, an Instagram text and
 * a duplicate of the first; with `--channel`, that channel's samples (WhatsApp: a text and a button
 * reply) and a duplicate of its text — to a running ingress, signed with the configured
 * FACEBOOK_APP_SECRET, and prints what went and what came back. The sample ids and numbers are
 * obviously fake; without a token the worker answers in dry-run mode.
 */
const USAGE =
  'usage: npm run simulate -- [--count N] [--url http://127.0.0.1:3000/webhook] [--channel messenger|instagram|whatsapp]\n';
const CHANNELS = ['messenger', 'instagram', 'whatsapp'] as const;
type SampleChannel = (typeof CHANNELS)[number];

/** A mistyped command line gets what was wrong and the usage, not a stack trace. */
function usageError(message: string): never {
  process.stderr.write(`simulate: ${message}\n${USAGE}`);
  process.exit(2);
}

let values: { count: string; url?: string; channel?: string; help: boolean };
try {
  ({ values } = parseArgs({
    options: {
      count: { type: 'string', default: '1' },
      url: { type: 'string' },
      channel: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  }));
} catch (err) {
  usageError((err as Error).message);
}
if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const count = Number(values.count);
if (!/^\d+$/.test(values.count) || count < 1 || count > 10_000)
  usageError('--count must be a whole number from 1 to 10000');
if (
  values.url !== undefined &&
  !(URL.canParse(values.url) && ['http:', 'https:'].includes(new URL(values.url).protocol))
) {
  usageError('--url must be an http or https URL, e.g. http://127.0.0.1:3000/webhook');
}
if (values.channel !== undefined && !CHANNELS.includes(values.channel as SampleChannel))
  usageError(`--channel must be one of ${CHANNELS.join(', ')}`);
const channel = values.channel as SampleChannel | undefined;
const config = loadConfigOrExit();
const url = values.url ?? `http://127.0.0.1:${config.port}/webhook`;
const PAGE_ID = '100000000000001';
const IG_ACCOUNT_ID = '178410000000001';
const WHATSAPP_PHONE_NUMBER_ID = '400000000000001';
const WHATSAPP_ACCOUNT_ID = '500000000000001';
const run = Date.now().toString(36);

interface Sample {
  label: string;
  body: unknown;
}

/** A Cloud API webhook: one change of the `messages` field carrying one user message. */
function whatsappMessage(i: number, suffix: string, message: Record<string, unknown>) {
  // 1555 01xx xxxx: a made-up number in the range North America keeps for fiction.
  const waId = `1555${String(1_000_000 + i).padStart(7, '0')}`;
  const value = {
    messaging_product: 'whatsapp',
    metadata: { display_phone_number: '15550000000', phone_number_id: WHATSAPP_PHONE_NUMBER_ID },
    contacts: [{ profile: { name: 'Sample User' }, wa_id: waId }],
    messages: [
      { from: waId, id: `wamid.SIM${run}${i}${suffix}`, timestamp: String(Math.floor(Date.now() / 1000)), ...message },
    ],
  };
  return {
    object: 'whatsapp_business_account',
    entry: [{ id: WHATSAPP_ACCOUNT_ID, changes: [{ field: 'messages', value }] }],
  };
}

function samples(i: number): Sample[] {
  const ts = Date.now();
  const user = `9${String(i).padStart(14, '0')}`;
  const text = {
    object: 'page',
    entry: [
      {
        id: PAGE_ID,
        time: ts,
        messaging: [
          {
            sender: { id: user },
            recipient: { id: PAGE_ID },
            timestamp: ts,
            message: { mid: `m_sim_${run}_${i}_text`, text: 'Hallo! Habt ihr heute geöffnet? 🙂' },
          },
        ],
      },
    ],
  };
  const postback = {
    label: 'messenger postback',
    body: {
      object: 'page',
      entry: [
        {
          id: PAGE_ID,
          time: ts,
          messaging: [
            {
              sender: { id: user },
              recipient: { id: PAGE_ID },
              timestamp: ts + 1,
              postback: { mid: `m_sim_${run}_${i}_pb`, title: 'Opening hours', payload: 'OPENING_HOURS' },
            },
          ],
        },
      ],
    },
  };
  const instagram = {
    object: 'instagram',
    entry: [
      {
        id: IG_ACCOUNT_ID,
        time: ts,
        messaging: [
          {
            sender: { id: `8${String(i).padStart(15, '0')}` },
            recipient: { id: IG_ACCOUNT_ID },
            timestamp: ts + 2,
            message: { mid: `ig_sim_${run}_${i}`, text: 'Do you ship to Vienna?' },
          },
        ],
      },
    ],
  };
  if (channel === 'messenger')
    return [
      { label: 'messenger text', body: text },
      postback,
      { label: 'duplicate of the messenger text', body: text },
    ];
  if (channel === 'instagram')
    return [
      { label: 'instagram text', body: instagram },
      { label: 'duplicate of the instagram text', body: instagram },
    ];
  if (channel === 'whatsapp') {
    const waText = whatsappMessage(i, 't', { type: 'text', text: { body: 'Hola, ¿abren el domingo?' } });
    const button = whatsappMessage(i, 'b', {
      type: 'interactive',
      interactive: { type: 'button_reply', button_reply: { id: 'OPENING_HOURS', title: 'Opening hours' } },
    });
    return [
      { label: 'whatsapp text', body: waText },
      { label: 'whatsapp button reply', body: button },
      { label: 'duplicate of the whatsapp text', body: waText },
    ];
  }
  return [
    { label: 'messenger text', body: text },
    postback,
    { label: 'instagram text', body: instagram },
    { label: 'duplicate of the messenger text', body: text },
  ];
}

/** What to look at next, per kind of refusal: the settings that decide it, by name. */
const NEXT_STEPS: Record<string, string> = {
  '403 invalid_signature':
    'the API checks signatures with another FACEBOOK_APP_SECRET than the one simulate signs with: run both with the same environment and .env',
  '403 https_required':
    "the API requires HTTPS (REQUIRE_HTTPS, on by default in production): send to its proxy's https:// URL with --url; behind a proxy, TRUST_PROXY must name the proxy; REQUIRE_HTTPS=false for a local trial only",
  '503 unavailable': "the API cannot store events: is Redis running at REDIS_URL? (curl the API's /health)",
  '404': 'nothing answers that path: the webhook path is /webhook',
  'connection refused': 'nothing listens there: is the API running (npm run start:api) on that host and PORT?',
};

/** The outcome of one request, as a short key: "200", "403 invalid_signature", "connection refused". */
function outcomeOf(status: number, answer: string): string {
  if (status === 200) return '200';
  try {
    const error = (JSON.parse(answer) as { error?: unknown }).error;
    if (typeof error === 'string') return `${status} ${error}`;
  } catch {
    // not JSON: the status alone
  }
  return String(status);
}

function networkOutcome(err: Error): string {
  const code = (err.cause as { code?: string } | undefined)?.code;
  if (code === 'ECONNREFUSED') return 'connection refused';
  return `network error (${code ?? err.message})`;
}

const outcomes = new Map<string, number>();
let total = 0;
const tally = (key: string) => outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
for (let i = 0; i < count; i++) {
  for (const sample of samples(i)) {
    total++;
    const body = metaJson(sample.body);
    const started = performance.now();
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-hub-signature-256': signPayload(config.meta.appSecret, body),
        },
        body,
      });
      const answer = (await res.text()).slice(0, 200);
      tally(outcomeOf(res.status, answer));
      process.stdout.write(
        `→ ${sample.label.padEnd(32)} ${String(body.length).padStart(5)} bytes   ← ${res.status} ${answer}  (${(performance.now() - started).toFixed(1)} ms)\n`,
      );
    } catch (err) {
      const outcome = networkOutcome(err as Error);
      tally(outcome);
      process.stdout.write(`→ ${sample.label.padEnd(32)} ✗ ${outcome}\n`);
    }
  }
}

const accepted = outcomes.get('200') ?? 0;
const summary = [...outcomes].map(([key, n]) => `${n} × ${key}`).join(', ');
process.stdout.write(`\n${accepted} of ${total} accepted (${summary}) at ${url}\n`);
for (const key of outcomes.keys()) {
  if (key === '200') continue;
  const step =
    NEXT_STEPS[key] ??
    NEXT_STEPS[key.split(' ')[0] as string] ??
    "see the API's log for this request, and docs/setup.md (troubleshooting)";
  process.stdout.write(`  ${key}: ${step}\n`);
}
if (accepted > 0)
  process.stdout.write(`Next: watch the worker's log for "reply sent" (or "dry run" without a Page token).\n`);
process.exit(accepted === total ? 0 : 1);
