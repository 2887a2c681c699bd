import type { AuditResult, Severity } from './findings.js';

const LABEL: Record<Severity, string> = { critical: 'CRITICAL', warning: 'WARNING ', ok: 'ok      ' };

/** One line per check, worst first, then a summary line. */
export function formatText(result: AuditResult): string {
  const rank: Record<Severity, number> = { critical: 0, warning: 1, ok: 2 };
  const sorted = [...result.findings].sort((a, b) => rank[a.severity] - rank[b.severity]);
  const width = Math.max(...sorted.map((f) => f.id.length), 10);
  const lines = sorted.map((f) => `${LABEL[f.severity]}  ${f.id.padEnd(width)}  ${f.message}`);
  const { critical, warning, ok } = result.summary;
  const verdict =
    critical > 0 ? 'NOT ready for production' : warning > 0 ? 'ready, with warnings' : 'ready for production';
  lines.push('', `security audit: ${critical} critical, ${warning} warning, ${ok} ok — ${verdict}`);
  return `${lines.join('\n')}\n`;
}

export function formatJson(result: AuditResult): string {
  return `${JSON.stringify(result, null, 2)}\n`;
}

/**
 * Last line of defence: no check prints a secret, but should a driver's message ever quote one,
 * the value never reaches the terminal or a CI log.
 */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of [...secrets].sort((a, b) => b.length - a.length))
    if (s.length >= 6) out = out.split(s).join('[redacted]');
  return out;
}
