import type { FastifyRequest } from 'fastify';
import { auditLog, type Database } from '@switchboard/db';

export interface AuditEntry {
  /** Who: the Basic-auth user. */
  actor: string;
  /** What, as a stable dotted name: `ai.toggle`, `dlq.retry`, `dlq.replay`, `page.token_set`. */
  action: string;
  /** On what: a job id, a page id… never a user id. */
  target?: string | null;
  /** From where: the client address as Fastify resolved it (trustProxy). */
  ip?: string | null;
  requestId?: string | null;
  /** Small facts about the change; never a token, a secret, a user id or a message text. */
  details?: Record<string, unknown> | null;
}

/** One row in audit_log per state-changing ops call; `at` is set by PostgreSQL. */
export async function writeAudit(db: Database, entry: AuditEntry): Promise<void> {
  await db.insert(auditLog).values({
    actor: entry.actor,
    action: entry.action,
    target: entry.target ?? null,
    ip: entry.ip ?? null,
    requestId: entry.requestId ?? null,
    details: entry.details ?? null,
  });
}

/** The who/where/request part of an audit entry, taken from an authenticated ops request. */
export function auditContext(request: FastifyRequest): Pick<AuditEntry, 'actor' | 'ip' | 'requestId'> {
  return { actor: request.opsUser ?? 'unknown', ip: request.ip, requestId: request.id };
}
