/** One line of the audit report. `ok` findings also carry information (e.g. the kill switch state). */
export type Severity = 'critical' | 'warning' | 'ok';

export interface Finding {
  id: string;
  severity: Severity;
  ok: boolean;
  message: string;
}

export interface AuditResult {
  findings: Finding[];
  summary: Record<Severity, number>;
}

/**
 * Collects findings in the order the checks run. `about` names the environment variables a finding
 * judges, so a ConfigError problem about the same variable is not reported twice.
 */
export class Findings {
  readonly #list: Array<Finding & { about: readonly string[] }> = [];

  critical(id: string, message: string, about: readonly string[] = []): void {
    this.#add(id, 'critical', message, about);
  }

  warning(id: string, message: string, about: readonly string[] = []): void {
    this.#add(id, 'warning', message, about);
  }

  ok(id: string, message: string, about: readonly string[] = []): void {
    this.#add(id, 'ok', message, about);
  }

  /** True when a critical finding already judges `variable`. */
  judgedCritical(variable: string): boolean {
    return this.#list.some((f) => f.severity === 'critical' && f.about.includes(variable));
  }

  result(): AuditResult {
    const findings = this.#list.map(({ id, severity, ok, message }) => ({ id, severity, ok, message }));
    const summary: Record<Severity, number> = { critical: 0, warning: 0, ok: 0 };
    for (const f of findings) summary[f.severity]++;
    return { findings, summary };
  }

  #add(id: string, severity: Severity, message: string, about: readonly string[]): void {
    this.#list.push({ id, severity, ok: severity === 'ok', message, about });
  }
}
