import { readFileSync } from 'node:fs';
import type { Cluster, Redis } from 'ioredis';

/**
 * A Lua script kept in its own `.lua` file, as BullMQ keeps its own. The file opens with a header
 * of `--` lines naming each `KEYS[i]` and `ARGV[i]`; the header is the script's signature, and
 * the number of keys is read from it, so every call tells Redis (and a Redis Cluster client, which
 * routes by the keys) exactly which arguments are keys. `KEYS[n...]` in the header marks a script
 * that takes more keys from `n` on, counted at each call.
 */
export interface RedisScript {
  /** The command ioredis defines on a connection for this script. */
  readonly command: string;
  readonly lua: string;
  /** The keys every call passes (for a variadic script, the ones before the counted rest). */
  readonly numberOfKeys: number;
  /** More keys may follow the fixed ones. */
  readonly variadic: boolean;
}

type Connection = Redis | Cluster;

/**
 * Reads `<dir>/<file>.lua` once, at module load. `dir` is resolved by the caller from its own
 * module (`new URL('../src/scripts/', import.meta.url)` from a module at the top of `src`): the
 * same path from `src/*.ts` (tsx) and `dist/*.js` (the built processes), and the image copies each
 * package's `src` with its `dist` (Dockerfile), so no build step copies the scripts.
 */
export function loadRedisScript(dir: URL, file: string, command: string): RedisScript {
  const lua = readFileSync(new URL(`${file}.lua`, dir), 'utf8');
  const keys: number[] = [];
  let variadic = false;
  for (const line of lua.split('\n')) {
    if (!line.startsWith('--')) break;
    const m = /^--\s*KEYS\[(\d+)(\.\.\.)?\]/.exec(line);
    if (!m) continue;
    if (m[2]) variadic = true;
    else keys.push(Number(m[1]));
  }
  if (keys.some((k, i) => k !== i + 1))
    throw new Error(`${file}.lua: its header must name KEYS[1], KEYS[2], … in order`);
  if (!/^--\s*ARGV\[\d+\]/m.test(lua) && !/^--\s*ARGV: none/m.test(lua))
    throw new Error(`${file}.lua: its header must name its ARGV (or say "ARGV: none")`);
  return { command, lua, numberOfKeys: keys.length, variadic };
}

/**
 * Defines scripts on a connection, once. Call it when the connection's user is built, never first
 * at call time: ioredis copies a connection's scripts onto each auto-pipelined batch as the batch
 * is created, so a script first defined while a batch is open is missing from it, and ioredis then
 * fails the whole batch.
 */
export function defineRedisScripts(redis: Connection, scripts: readonly RedisScript[]): void {
  for (const s of scripts) {
    if (s.command in redis) continue;
    // A variadic script is defined without a fixed count: each call passes its count first (runRedisScript).
    redis.defineCommand(s.command, s.variadic ? { lua: s.lua } : { numberOfKeys: s.numberOfKeys, lua: s.lua });
  }
}

/** Runs a defined script with its keys and arguments kept apart, so the key count is never guessed. */
export async function runRedisScript<T>(
  redis: Connection,
  script: RedisScript,
  keys: readonly string[],
  argv: readonly (string | number)[],
): Promise<T> {
  const command = (redis as unknown as Record<string, unknown>)[script.command];
  if (typeof command !== 'function')
    throw new Error(`Redis script ${script.command} is not defined on this connection (defineRedisScripts)`);
  if (script.variadic ? keys.length < script.numberOfKeys : keys.length !== script.numberOfKeys)
    throw new Error(`Redis script ${script.command} takes ${script.numberOfKeys} keys, got ${keys.length}`);
  const call = command as (...args: (string | number)[]) => Promise<T>;
  return script.variadic ? call.call(redis, keys.length, ...keys, ...argv) : call.call(redis, ...keys, ...argv);
}
