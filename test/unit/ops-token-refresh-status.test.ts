// Fakes nothing: the overall token status is a pure function of the pages' statuses and the actions needed.
import t from 'tap';
import type { MonitoringStatus } from '@switchboard/pages';
import { type ActionPriority, overallStatus } from '../../apps/api/src/routes/ops/token-refresh-status.js';

const page = (monitoring_status: MonitoringStatus) => ({ monitoring_status });
const action = (priority: ActionPriority) => ({ priority });

t.test('no page and no action: ok', async (t) => {
  t.equal(overallStatus([], []), 'ok');
  t.equal(overallStatus([page('ok'), page('ok')], []), 'ok');
});

t.test('the worst page when no action is more urgent', async (t) => {
  t.equal(overallStatus([page('ok'), page('warning'), page('notice')], []), 'warning');
  t.equal(overallStatus([page('critical')], [action('low')]), 'critical', 'an action never lowers the status');
});

t.test('at least as severe as the most urgent action, on the scale the pages use', async (t) => {
  // A token 3 / 7 / 30 days from expiry is critical / warning / notice and asks for a critical / high / medium renewal.
  const expected: Array<[ActionPriority, MonitoringStatus]> = [
    ['critical', 'critical'],
    ['high', 'warning'],
    ['medium', 'notice'],
    ['low', 'notice'],
  ];
  for (const [priority, status] of expected) {
    t.equal(overallStatus([], [action(priority)]), status, `${priority} action, no page → ${status}`);
    t.equal(overallStatus([page('ok')], [action(priority)]), status, `${priority} action, healthy page → ${status}`);
  }
  // FACEBOOK_APP_ID missing (critical) and no page token at all (high), the audit's case.
  t.equal(overallStatus([], [action('critical'), action('high')]), 'critical');
  t.equal(
    overallStatus([page('notice')], [action('low'), action('high'), action('medium')]),
    'warning',
    'the most urgent action counts, whatever its place',
  );
});
