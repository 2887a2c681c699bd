import { type Config, ConfigError, loadConfig } from '@switchboard/config';

export interface AuditConfig {
  /** The environment as loadConfig sees it: trimmed, empty values dropped. */
  env: Record<string, string>;
  /** What loadConfig refused, one line per problem (names only, never values). */
  problems: string[];
  /**
   * The configuration the network checks run with: the real one when it loads; otherwise the one
   * loadConfig builds once the refused variables are left out (their defaults apply), so Redis,
   * PostgreSQL and Graph can still be examined and the report stays complete.
   */
  config: Config | undefined;
  /** Variables left out to get `config` (their values are not what the checks ran with). */
  dropped: ReadonlySet<string>;
}

const variableOf = (problem: string) => problem.slice(0, problem.indexOf(':')).split('.')[0] ?? '';

export function loadAuditConfig(raw: Record<string, string | undefined>): AuditConfig {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) if (v !== undefined && v.trim() !== '') env[k] = v.trim();

  let problems: string[] = [];
  try {
    return { env, problems, config: loadConfig(env), dropped: new Set() };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems = err.problems;
  }

  // Outside production loadConfig refuses only malformed values; leaving those out always loads.
  const dropped = new Set(problems.map(variableOf));
  const lenient: Record<string, string> = { ...env, NODE_ENV: 'development' };
  for (let attempt = 0; attempt < 3; attempt++) {
    for (const name of dropped) delete lenient[name];
    try {
      return { env, problems, config: loadConfig(lenient), dropped };
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      for (const p of err.problems) dropped.add(variableOf(p));
    }
  }
  return { env, problems, config: undefined, dropped };
}
