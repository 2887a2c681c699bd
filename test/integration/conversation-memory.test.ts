// Fakes nothing: the conversation memory runs against the real Redis, under a private key prefix.
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { burstKey, ConversationMemory, turnsKey } from '@switchboard/pages';
import { Sealer } from '@switchboard/privacy';
import { testRedis } from '../helpers/redis.js';

const MINUTE = 60_000;

t.test('conversation memory in Redis', async (t) => {
  const { redis, prefix } = await testRedis(t, 'conv-memory');
  const sealer = new Sealer(randomBytes(32));
  const memory = new ConversationMemory(redis, { prefix, sealer, maxTurns: 3, maxAgeMs: 10 * MINUTE });
  const now = Date.now();
  const at = (minutesAgo: number) => new Date(now - minutesAgo * MINUTE);

  await t.test('keeps the newest turns, sealed, oldest first, and expires with the newest', async (t) => {
    const id = 'a'.repeat(32);
    await memory.append(id, [{ at: at(4), from: 'user', text: 'first question' }]);
    await memory.append(id, [{ at: at(3), from: 'bot', text: 'first answer' }]);
    // Written later but earlier in the conversation: read in the order they were written in it.
    await memory.append(id, [{ at: at(1), from: 'user', text: 'second question' }]);
    await memory.append(id, [{ at: at(2), from: 'staff', text: 'a person wrote' }]);
    t.same(
      (await memory.read(id, now)).map((x) => [x.from, x.text]),
      [
        ['bot', 'first answer'],
        ['staff', 'a person wrote'],
        ['user', 'second question'],
      ],
      'three turns at most (AI_HISTORY_TURNS), by time',
    );
    const raw = await redis.lrange(turnsKey(prefix, id), 0, -1);
    t.equal(raw.length, 3, 'trimmed in Redis too');
    t.notOk(raw.join('').includes('answer') || raw.join('').includes('question'), 'no text in clear');
    const ttl = await redis.pttl(turnsKey(prefix, id));
    t.ok(ttl > 9 * MINUTE && ttl <= 10 * MINUTE, 'the list expires AI_HISTORY_MAX_AGE_S after its last write');
  });

  await t.test('turns past the age limit are neither read nor kept', async (t) => {
    const id = 'b'.repeat(32);
    await memory.append(id, [{ at: at(30), from: 'user', text: 'long ago' }], now);
    await memory.append(id, [{ at: at(1), from: 'bot', text: 'recent' }], now);
    t.same(
      (await memory.read(id, now)).map((x) => x.text),
      ['recent'],
    );
    t.equal(await redis.llen(turnsKey(prefix, id)), 1, 'the aged turn was dropped when the next one was kept');
  });

  await t.test('a blob copied to another conversation does not open there', async (t) => {
    const [from, to] = ['c'.repeat(32), 'd'.repeat(32)];
    await memory.append(from, [{ at: at(1), from: 'user', text: 'mine' }]);
    await redis.rpush(turnsKey(prefix, to), ...(await redis.lrange(turnsKey(prefix, from), 0, -1)));
    t.same(await memory.read(to), []);
  });

  await t.test('a dry-run bot turn keeps its flag, its text sealed like any other', async (t) => {
    const id = 'd'.repeat(32);
    await memory.append(id, [
      { at: at(2), from: 'bot', text: 'would be sent', dryRun: true },
      { at: at(1), from: 'bot', text: 'was sent' },
    ]);
    t.same(await memory.read(id, now), [
      { at: at(2), from: 'bot', text: 'would be sent', dryRun: true },
      { at: at(1), from: 'bot', text: 'was sent' },
    ]);
    const raw = await redis.lrange(turnsKey(prefix, id), 0, -1);
    t.notOk(
      raw.some((item) => item.includes('sent')),
      'no text in clear',
    );
  });

  await t.test('erase removes every kept text', async (t) => {
    const id = 'e'.repeat(32);
    await memory.append(id, [{ at: at(1), from: 'user', text: 'erase me' }]);
    // A message held for its burst's reply is a kept text too.
    await redis.hset(burstKey(prefix, id), 'event', 'sealed');
    await memory.erase(id);
    t.equal(await redis.exists(turnsKey(prefix, id)), 0);
    t.equal(await redis.exists(burstKey(prefix, id)), 0, 'the held messages too');
  });

  await t.test('AI_HISTORY_TURNS=0: nothing is kept or read', async (t) => {
    const off = new ConversationMemory(redis, { prefix, sealer, maxTurns: 0, maxAgeMs: 10 * MINUTE });
    const id = 'f'.repeat(32);
    await off.append(id, [{ at: at(1), from: 'user', text: 'not kept' }]);
    t.equal(await redis.exists(turnsKey(prefix, id)), 0);
    t.same(await off.read(id), []);
  });
});
