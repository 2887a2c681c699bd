/** Every queue Switchboard uses. Names are part of the Redis key layout: renaming one orphans its jobs. */
export const QUEUES = {
  /** One job per normalised webhook event: decide what (if anything) to answer. */
  inbound: 'inbound',
  /** One job per reply: send it through the Graph Send API (retried without re-running the AI). */
  outbound: 'outbound',
  /** Scheduled housekeeping: token checks, subscription watchdog, retention. */
  maintenance: 'maintenance',
} as const;

export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

/**
 * BullMQ key prefix. The braces are a Redis Cluster hash tag: every key of every queue lands in one
 * slot, which BullMQ's multi-key Lua scripts require on a cluster
 * (https://docs.bullmq.io/bull/patterns/redis-cluster).
 */
export function bullPrefix(queuePrefix: string): string {
  return `{${queuePrefix}}`;
}

/** The prefix of an inbound job's hash key: `<this>:<job id>`. */
export function inboundJobKeyBase(queuePrefix: string): string {
  return `${bullPrefix(queuePrefix)}:${QUEUES.inbound}`;
}
