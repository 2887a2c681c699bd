// Fakes Meta's Graph API and Google's Gemini API (loopback HTTP servers). The API and worker are the
// real production processes on a real PostgreSQL and a redis-server of the test's own, whose MONITOR
// shows every command a client sent (a script's own commands come with the source `lua`).
import { createHash, createHmac } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import t from 'tap';
import { ConversationMemory, conversationId } from '@switchboard/pages';
import { Sealer } from '@switchboard/privacy';
import { startPipeline } from '../helpers/pipeline.js';
import { ROOT } from '../helpers/processes.js';
import { messengerText } from '../helpers/sign.js';

const PAGE = '100000000000083';

const sha1 = (text: string) => createHash('sha1').update(text).digest('hex');
const shaOf = (file: string) => sha1(readFileSync(`${ROOT}/${file}`, 'utf8'));

/** The SHA1 of one of BullMQ's own scripts, as EVALSHA names it. */
async function bullShaOf(name: string): Promise<string> {
  const dir = join(dirname(createRequire(join(ROOT, 'apps/worker/package.json')).resolve('bullmq')), 'scripts');
  const file = readdirSync(dir).find((f) => f.startsWith(`${name}-`) && f.endsWith('.js')) as string;
  const mod = (await import(pathToFileURL(join(dir, file)).href)) as Record<string, { content: string }>;
  return sha1((mod[name] as { content: string }).content);
}

t.test('an answered message of a burst, with memory on, spends no top-level command it can spare', async (t) => {
  const p = await startPipeline(t, 'message_cost', {
    aof: true,
    env: { REPLY_DEBOUNCE_MS: '300', AI_HISTORY_TURNS: '12', AI_MAX_CALLS_PER_MIN: '1000' },
  });
  p.gemini.setReply('one answer');
  // Once the worker is up, so its start-up commands are not counted.
  await p.post(messengerText({ pageId: PAGE, senderId: '900000008300001', mid: 'm_cost_warm', text: 'warm up' }));
  await p.graph.waitForSends(1, 20_000);
  await new Promise((r) => setTimeout(r, 500));

  const client = new Redis(p.env.REDIS_URL as string);
  t.teardown(() => client.disconnect());
  const monitor = await client.monitor();
  const seen: string[][] = [];
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (source !== 'lua') seen.push(args.map(String));
  });
  t.teardown(() => monitor.disconnect());

  await p.post(messengerText({ pageId: PAGE, senderId: '900000008300002', mid: 'm_cost_1', text: 'a question' }));
  await p.graph.waitForSends(2, 20_000);
  await new Promise((r) => setTimeout(r, 500));

  const named = (name: string) => seen.filter((a) => a[0]?.toLowerCase() === name);
  const calls = (file: string) => named('evalsha').filter((a) => a[1] === shaOf(file)).length;
  t.equal(calls('packages/pages/src/scripts/append-turns.lua'), 1, "the user's and the bot's turns: one append");
  t.equal(named('multi').length, 0, 'holding the message is a script, not a MULTI');
  t.equal(calls('apps/worker/src/scripts/burst-hold.lua'), 1, 'held once');
  t.equal(named('zrangebyscore').length + named('hgetall').length, 0, "the burst's check and read: one script");
  t.equal(calls('apps/worker/src/scripts/burst-read.lua'), 1, 'read once');
  t.equal(named('exists').length, 0, 'a held message without a decided reply looks for no handed-over send');
  t.equal(calls('apps/worker/src/scripts/conversation-enter.lua'), 1, "held without taking the conversation's turn");
  t.equal(calls('apps/worker/src/scripts/conversation-leave.lua'), 1, 'given back once, after the reply');
  const bullCalls = async (name: string) => {
    const sha = await bullShaOf(name);
    return named('evalsha').filter((a) => a[1] === sha).length;
  };
  t.equal(await bullCalls('moveToDelayed'), 0, 'a held message waits in its run: its job is not delayed');
  t.equal(await bullCalls('updateData'), 1, "the job's data is written once: the decided reply");
});

t.test("a reply handed over to its send job still keeps the user's turn, then the bot's once sent", async (t) => {
  const p = await startPipeline(t, 'message_cost_handover', {
    aof: true,
    env: { REPLY_DEBOUNCE_MS: '0', AI_HISTORY_TURNS: '12', AI_MAX_CALLS_PER_MIN: '1000' },
  });
  p.gemini.setReply('the answer');
  // The inline attempt meets a Graph error: the send job takes over and sends it on its retry.
  p.graph.failNextSends({ status: 500, code: 2 });
  const sender = '900000008300003';
  await p.post(messengerText({ pageId: PAGE, senderId: sender, mid: 'm_cost_2', text: 'my question' }));
  await p.graph.waitForSends(1, 30_000);
  const memory = new ConversationMemory(p.redis as Redis, {
    prefix: p.prefix,
    sealer: new Sealer(Buffer.from(p.env.ENCRYPTION_KEY as string, 'base64')),
    maxTurns: 12,
    maxAgeMs: 86_400_000,
  });
  const userHash = createHmac('sha256', p.env.PSID_HASH_SECRET as string)
    .update(sender)
    .digest('hex');
  const id = conversationId('messenger', PAGE, userHash);
  let turns: Array<[string, string]> = [];
  for (let i = 0; i < 50 && turns.length < 2; i++) {
    turns = (await memory.read(id)).map((x) => [x.from, x.text]);
    if (turns.length < 2) await new Promise((r) => setTimeout(r, 100));
  }
  t.same(turns, [
    ['user', 'my question'],
    ['bot', 'the answer'],
  ]);
});
