import { Redis, type RedisOptions } from 'ioredis';

/**
 * The two connection presets BullMQ asks for
 * (https://docs.bullmq.io/patterns/failing-fast-when-redis-is-down):
 *
 * - producer (the API): no offline queue and one attempt per command, so a dead Redis turns into a
 *   fast error → `503` (Meta retries later) instead of a request that hangs while commands pile up;
 * - worker: `maxRetriesPerRequest: null` and the offline queue on, so workers ride out a Redis
 *   outage and resume by themselves.
 */
export function createProducerConnection(url: string, extra: RedisOptions = {}): Redis {
  return new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    // No auto-pipelining here: an auto-pipelined command bypasses the "no offline queue" rule and
    // waits for a connection that may never come — a webhook would hang instead of getting 503.
    connectTimeout: 2000,
    commandTimeout: 1000,
    // Keep reconnecting in the background, quickly at first: the next webhook after Redis returns succeeds.
    retryStrategy: (times) => Math.min(times * 100, 1000),
    ...extra,
  });
}

export function createWorkerConnection(url: string, extra: RedisOptions = {}): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: null,
    // Commands of concurrently running jobs issued in the same tick share one socket write.
    enableAutoPipelining: true,
    enableReadyCheck: true,
    retryStrategy: (times) => Math.min(times * 200, 2000),
    ...extra,
  });
}
