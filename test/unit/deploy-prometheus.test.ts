// Fakes nothing: the alert rules are checked and unit-tested by Prometheus' own promtool (Debian
// package `prometheus`, installed by .ci/run). Without promtool this file fails in CI and skips
// locally, saying so.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { parse } from 'yaml';
import { ROOT } from '../helpers/processes.js';

const run = promisify(execFile);
const DIR = join(ROOT, 'deploy/prometheus');

type Rules = { groups: Array<{ rules: Array<{ alert: string; expr: string; labels?: { severity?: string } }> }> };
type RuleTests = {
  rule_files: string[];
  tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts: unknown[] }> }>;
};
const rules = (parse(readFileSync(join(DIR, 'switchboard-alerts.yml'), 'utf8')) as Rules).groups.flatMap(
  (g) => g.rules,
);
const tests = parse(readFileSync(join(DIR, 'switchboard-alerts.test.yml'), 'utf8')) as RuleTests;

t.test(
  'every metric the alerts are promised is used, every alert has a severity and a firing and a silent test',
  async (t) => {
    const exprs = rules.map((r) => r.expr).join('\n');
    for (const metric of [
      'switchboard_ai_errors_total',
      'switchboard_ai_calls_total',
      'switchboard_webhook_signature_failures_total',
      'switchboard_token_days_left',
      'switchboard_dead_lettered_total',
      'switchboard_dead_letter_jobs',
      'switchboard_queue_oldest_age_seconds',
      'switchboard_health_status',
      'switchboard_ai_budget_spend_usd',
      'switchboard_ai_budget_usd',
      'switchboard_ai_budget_blocked_total',
      'switchboard_state_write_failures_total',
    ])
      t.match(exprs, metric, `a rule uses ${metric}`);
    const cases = tests.tests.flatMap((c) => c.alert_rule_test ?? []);
    for (const rule of rules) {
      t.match(rule.labels?.severity, /^(warning|critical)$/, `${rule.alert} has a severity`);
      t.ok(
        cases.some((c) => c.alertname === rule.alert && c.exp_alerts.length > 0),
        `${rule.alert} is tested firing`,
      );
      t.ok(
        cases.some((c) => c.alertname === rule.alert && c.exp_alerts.length === 0),
        `${rule.alert} is tested silent`,
      );
    }
    t.same(tests.rule_files, ['switchboard-alerts.yml']);
  },
);

let promtool = true;
try {
  await run('promtool', ['--version']);
} catch {
  promtool = false;
}
const missing = 'promtool is not installed (apt-get install prometheus)';
if (!promtool && process.env.CI) t.fail(`${missing}: CI must run the alert rule tests`);

t.test(
  'promtool checks and unit-tests the rules',
  { skip: promtool ? false : `${missing}; CI runs these` },
  async (t) => {
    const check = await run('promtool', ['check', 'rules', 'switchboard-alerts.yml'], { cwd: DIR });
    t.match(check.stdout, new RegExp(`SUCCESS: ${rules.length} rules found`));
    const unit = await run('promtool', ['test', 'rules', 'switchboard-alerts.test.yml'], { cwd: DIR }).catch(
      (err: { stdout?: string; stderr?: string }) => {
        t.fail(`promtool test rules failed:\n${err.stdout ?? ''}${err.stderr ?? ''}`);
        return { stdout: '' };
      },
    );
    t.match(unit.stdout, /SUCCESS/);
  },
);
