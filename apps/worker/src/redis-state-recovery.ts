import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { KillSwitch } from '@switchboard/ai';
import type { Logger } from '@switchboard/observability';
import { restoreMaintenanceSchedules } from './processors/maintenance.js';

/** How often a worker looks for lost state on its own: a FLUSHALL leaves the connection up, so no event tells. */
export const RECOVERY_INTERVAL_MS = 10_000;

export interface RedisStateRecoveryDeps {
  redis: Redis;
  maintenanceQueue: Queue;
  killSwitch: KillSwitch;
  logger: Logger;
}

/**
 * Puts back what the deployment keeps in Redis besides queued jobs when Redis loses its data (a
 * restart without persistence, a FLUSHALL): the AI switch's copy, from PostgreSQL, and the daily
 * maintenance schedulers, which would otherwise stay gone until a worker restarts. A Redis restart
 * shows as the connection's `ready` after a reconnection; anything else is caught by the periodic
 * check. Both steps are idempotent, and cheap when nothing was lost (one GET, two HGETALLs).
 */
export function startRedisStateRecovery(
  deps: RedisStateRecoveryDeps,
  intervalMs = RECOVERY_INTERVAL_MS,
): { stop(): void } {
  const { redis, maintenanceQueue, killSwitch, logger } = deps;
  let running = false;
  /** A reconnection while a check runs: that check may have read Redis before the loss, so another follows. */
  let again = false;
  const recover = async (afterReconnect: boolean): Promise<void> => {
    if (running) {
      again ||= afterReconnect;
      return;
    }
    running = true;
    try {
      // After a reconnection the cached copy may predate the loss: restore unconditionally (a no-op when the key exists).
      await (afterReconnect ? killSwitch.restore() : killSwitch.setting());
      const restored = await restoreMaintenanceSchedules(maintenanceQueue);
      if (restored.length > 0)
        logger.warn({ schedulers: restored }, 'maintenance schedulers were missing from Redis; declared again');
    } catch (err) {
      logger.warn(
        { err: { message: (err as Error).message } },
        'restoring lost Redis state failed; the next check retries',
      );
    } finally {
      running = false;
    }
    if (again) {
      again = false;
      await recover(true);
    }
  };
  const onReady = () => void recover(true);
  redis.on('ready', onReady);
  const timer = setInterval(() => void recover(false), intervalMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      redis.off('ready', onReady);
    },
  };
}
