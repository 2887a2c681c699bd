import type { Config } from '@switchboard/config';
import { aiSwitchStore, type DbHandle } from '@switchboard/db';
import { describeFailure, withDeadline } from './deadline.js';
import type { Findings } from './findings.js';
import type { AuditRedis } from './redis-checks.js';

/** The Redis key of the switch's copy (killSwitchKey of @switchboard/ai, which this tool does not load). */
const killSwitchKey = (prefix: string) => `${prefix}:ai:enabled`;
const onOff = (enabled: boolean) => (enabled ? 'on' : 'off');

/**
 * The AI switch as PostgreSQL holds it, and whether the Redis copy every worker reads agrees. A
 * missing copy is not a fault (the next read restores it); a different one is what the workers
 * obey until the next toggle, so it is named.
 */
export async function checkKillSwitch(
  dbh: DbHandle | undefined,
  redis: AuditRedis | undefined,
  config: Config,
  f: Findings,
): Promise<void> {
  if (!dbh) {
    f.warning('ai.kill_switch', 'kill switch not checked: PostgreSQL, which holds it, is unreachable');
    return;
  }
  let stored: boolean | null;
  try {
    stored = await withDeadline(aiSwitchStore(dbh.db).read(), 'ai_switch table');
  } catch (err) {
    f.warning('ai.kill_switch', `cannot read the kill switch (${describeFailure(err)})`);
    return;
  }
  if (stored === null) {
    f.ok(
      'ai.kill_switch',
      `kill switch: not stored yet; AI_ENABLED=${config.ai.enabled} becomes its value at the first start`,
    );
    return;
  }
  const copy = redis
    ? await withDeadline(redis.get(killSwitchKey(config.queuePrefix)), 'kill switch GET').catch(() => undefined)
    : undefined;
  if (copy === '0' || copy === '1') {
    const obeyed = copy === '1';
    if (obeyed !== stored) {
      f.warning(
        'ai.kill_switch',
        `kill switch: PostgreSQL says AI ${onOff(stored)} but the Redis copy the workers obey says ${onOff(obeyed)}: toggle it again (POST /ops/ai/toggle)`,
      );
      return;
    }
  }
  f.ok('ai.kill_switch', `kill switch: AI ${onOff(stored)} (POST /ops/ai/toggle)`);
}
