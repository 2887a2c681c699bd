import type { Logger } from './logger.js';

/**
 * One log line when a dependency (Redis, PostgreSQL) becomes unreachable and one when it is back,
 * naming its `host:port`, instead of a line per reconnection attempt: a 30-second Redis outage
 * otherwise fills the log with a hundred lines, none saying which server is meant.
 */
export interface OutageTracker {
  /** Marks the dependency down; logs only the first time of an outage. */
  down(reason: string): void;
  /** Marks it reachable; logs only when it was down. */
  up(): void;
  readonly isDown: boolean;
}

const DEFAULT_PORTS: Record<string, string> = {
  'redis:': '6379',
  'rediss:': '6379',
  'postgres:': '5432',
  'postgresql:': '5432',
};

/**
 * `host:port` of a connection URL — never its user, password, database or options. A list of
 * `host:port` seeds (a Redis Cluster) is already that, and is named as it is.
 */
export function targetOf(url: string): string {
  if (!url.includes('://')) return url;
  const u = new URL(url);
  return `${u.hostname || 'localhost'}:${u.port || DEFAULT_PORTS[u.protocol] || '?'}`;
}

/** The driver's reason in a few words: its error code when it has one, else the first line of the message. */
export function reasonOf(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  const message = typeof e?.message === 'string' ? e.message.split('\n')[0]?.slice(0, 200) : String(err);
  return typeof e?.code === 'string' && !message?.includes(e.code) ? `${e.code}: ${message}` : (message ?? 'unknown');
}

export function outageTracker(logger: Logger, dependency: 'redis' | 'postgresql', url: string): OutageTracker {
  const target = targetOf(url);
  let since: number | undefined;
  return {
    get isDown() {
      return since !== undefined;
    },
    down(reason) {
      if (since !== undefined) return;
      since = Date.now();
      logger.error(
        { dependency, target, reason },
        `${dependency} unreachable at ${target}; retrying quietly until it is back`,
      );
    },
    up() {
      if (since === undefined) return;
      logger.info({ dependency, target, down_ms: Date.now() - since }, `${dependency} reachable again at ${target}`);
      since = undefined;
    },
  };
}

/**
 * Asks `probe` every `intervalMs` whether the dependency answers (undefined: yes; else the reason)
 * and tells the tracker. For PostgreSQL, whose client reports a failure only to the query that
 * meets it. Returns a stop function; the timer does not keep the process alive.
 */
export function watchOutage(
  probe: () => Promise<string | undefined>,
  tracker: OutageTracker,
  intervalMs: number,
): () => void {
  let running = false;
  const tick = async () => {
    if (running) return;
    running = true;
    try {
      const reason = await probe();
      if (reason === undefined) tracker.up();
      else tracker.down(reason);
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void tick(), intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
]);

/** Whether an error says the connection failed (the outage tracker's business), not the command. */
export function isConnectionError(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown };
  if (typeof e?.code === 'string' && CONNECTION_CODES.has(e.code)) return true;
  return (
    typeof e?.message === 'string' &&
    (/^Connection is closed\.?$/.test(e.message) ||
      /\b(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH)\b/.test(e.message))
  );
}
