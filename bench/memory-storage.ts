/**
 * Where the conversation memory lives: the same workload kept in Redis (ConversationMemory, a list
 * per conversation) and in a PostgreSQL table with a retention delete, counting what each costs per
 * turn — round trips (Redis commands, PostgreSQL statements), bytes sent, bytes stored — by
 * construction of the calls made, not by timing, so the numbers do not depend on the machine.
 *
 *   node --import=tsx --conditions=@switchboard/source bench/memory-storage.ts
 *
 * Workload: CONVERSATIONS conversations of TURNS_EACH turns, alternating user and bot; before each
 * user turn the reply reads the history (as the worker does for an AI reply), then the turn is
 * kept. Both stores keep HISTORY turns of SEALED_TEXT-sized sealed texts.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { ConversationMemory, turnsKey } from '@switchboard/pages';
import { Sealer } from '@switchboard/privacy';
import { testDatabase } from '../test/helpers/db.js';
import { deletePrefix, REDIS_URL, uniquePrefix } from '../test/helpers/redis.js';

const CONVERSATIONS = 200;
const TURNS_EACH = 20;
const HISTORY = 12;
const MAX_AGE_MS = 86_400_000;
const TEXT = 'Do you have the blue one in size 42, and can I pick it up tomorrow afternoon?';

interface Cost {
  roundTrips: number;
  bytesSent: number;
}

async function main(): Promise<void> {
  const cleanups: Array<() => unknown> = [];
  const sealer = new Sealer(randomBytes(32));
  const turns = CONVERSATIONS * TURNS_EACH;
  try {
    // --- Redis -------------------------------------------------------------------------------
    const redis = new Redis(REDIS_URL);
    const prefix = uniquePrefix('memory-bench');
    cleanups.push(async () => {
      await deletePrefix(redis, prefix);
      redis.disconnect();
    });
    const redisCost: Cost = { roundTrips: 0, bytesSent: 0 };
    const send = redis.sendCommand.bind(redis);
    redis.sendCommand = ((command: { name: string; args: Array<string | Buffer | number> }) => {
      redisCost.roundTrips += 1;
      redisCost.bytesSent += command.args.reduce<number>(
        (n, a) => n + Buffer.byteLength(String(a)),
        command.name.length,
      );
      return send(command as never);
    }) as typeof redis.sendCommand;
    const memory = new ConversationMemory(redis, { prefix, sealer, maxTurns: HISTORY, maxAgeMs: MAX_AGE_MS });
    // Load the script once, outside the count (ioredis sends EVALSHA, then EVAL once on NOSCRIPT).
    await memory.append('0'.repeat(32), [{ at: new Date(), from: 'user', text: 'warm-up' }]);
    redisCost.roundTrips = 0;
    redisCost.bytesSent = 0;
    for (let c = 0; c < CONVERSATIONS; c++) {
      const id = c.toString(16).padStart(32, '0');
      for (let i = 0; i < TURNS_EACH; i++) {
        const user = i % 2 === 0;
        if (user) await memory.read(id);
        await memory.append(id, [{ at: new Date(Date.now() + i), from: user ? 'user' : 'bot', text: TEXT }]);
      }
    }
    const redisCounted = { ...redisCost };
    let redisBytes = 0;
    for (let c = 0; c < CONVERSATIONS; c++)
      redisBytes += (await redis.memory('USAGE', turnsKey(prefix, c.toString(16).padStart(32, '0')))) ?? 0;

    // --- PostgreSQL --------------------------------------------------------------------------
    const url = await testDatabase({ teardown: (fn) => cleanups.push(fn) }, 'memory_bench');
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    cleanups.push(() => sql.end({ timeout: 5 }));
    await sql`create table turns (conversation_id text not null, at timestamptz not null, sender text not null, sealed text not null)`;
    await sql`create index turns_conversation_at on turns (conversation_id, at)`;
    const pgCost: Cost = { roundTrips: 0, bytesSent: 0 };
    const run = async (text: string, params: Array<string | number>) => {
      pgCost.roundTrips += 1;
      pgCost.bytesSent +=
        Buffer.byteLength(text) + params.reduce<number>((n, p) => n + Buffer.byteLength(String(p)), 0);
      return sql.unsafe(text, params);
    };
    const walBefore = (await sql<Array<{ lsn: string }>>`select pg_current_wal_lsn()::text as lsn`)[0]?.lsn as string;
    for (let c = 0; c < CONVERSATIONS; c++) {
      const id = c.toString(16).padStart(32, '0');
      for (let i = 0; i < TURNS_EACH; i++) {
        const user = i % 2 === 0;
        if (user)
          await run(
            'select at, sender, sealed from turns where conversation_id = $1 and at > now() - make_interval(secs => $2) order by at desc limit $3',
            [id, MAX_AGE_MS / 1000, HISTORY],
          );
        const sealed = sealer.seal(TEXT, `conversation-turn:${id}`);
        // Keeping the last HISTORY turns needs a delete too: in one statement with the insert.
        await run(
          `with ins as (insert into turns values ($1, now() + make_interval(secs => $2), $3, $4))
           delete from turns where conversation_id = $1 and at < (select at from turns where conversation_id = $1 order by at desc offset $5 limit 1)`,
          [id, i / 1000, user ? 'u' : 'b', sealed, HISTORY - 1],
        );
      }
    }
    // Turns past the age limit need a sweep as well (a daily job): one statement, not counted per turn.
    const walBytes = Number(
      (
        await sql<Array<{ d: string }>>`select pg_wal_lsn_diff(pg_current_wal_lsn(), ${walBefore}::pg_lsn)::text as d`
      )[0]?.d,
    );
    await sql`vacuum turns`;
    const pgBytes = Number((await sql<Array<{ b: string }>>`select pg_total_relation_size('turns')::text as b`)[0]?.b);
    const kept = CONVERSATIONS * HISTORY;

    const perTurn = (n: number) => Math.round((n / turns) * 100) / 100;
    const table = [
      ['store', 'round trips/turn', 'bytes sent/turn', 'bytes stored/kept turn', 'WAL bytes/turn'],
      [
        'redis',
        perTurn(redisCounted.roundTrips),
        perTurn(redisCounted.bytesSent),
        Math.round(redisBytes / kept),
        '— (AOF: about the bytes sent)',
      ],
      [
        'postgresql',
        perTurn(pgCost.roundTrips),
        perTurn(pgCost.bytesSent),
        Math.round(pgBytes / kept),
        `${perTurn(walBytes)} (server-wide, includes other clients)`,
      ],
    ];
    for (const row of table) process.stdout.write(`${row.map((c) => String(c).padEnd(24)).join('')}\n`);
    process.stdout.write(
      `ratio postgresql/redis: round trips ${(pgCost.roundTrips / redisCounted.roundTrips).toFixed(2)}, bytes stored ${(pgBytes / redisBytes).toFixed(2)}\n`,
    );
  } finally {
    for (const fn of cleanups.reverse()) await fn();
  }
}

await main();
