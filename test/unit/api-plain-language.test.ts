// Fakes nothing: pure functions over the codes the API and the workers record.
import t from 'tap';
import { describeFailure, describeTokenState, describeWarning } from '../../apps/api/src/views/plain-language.js';

t.test('every health warning the API raises has words and a next step', async (t) => {
  for (const code of [
    'ai_error_rate_high',
    'page_token_invalid',
    'page_token_near_expiry',
    'graph_version_near_eol',
    'facebook_app_id_missing',
    'facebook_app_secret_is_development_default',
  ]) {
    const plain = describeWarning(code);
    t.notMatch(plain.text, code, `${code}: not the code itself`);
    t.ok(plain.next.length > 0, `${code}: says what to do`);
  }
  t.same(
    describeWarning('queue_on_fire'),
    {
      text: 'Something needs attention (code: queue_on_fire).',
      next: 'Look the code up in the runbook, or pass it on to whoever maintains the bot.',
    },
    'an unknown code: a generic sentence with the code',
  );
});

t.test('dead-letter reasons in words, from the Graph error table', async (t) => {
  t.same(describeFailure('graph permanent code=10 subcode=2018278 status=400'), {
    text: 'Meta refused the reply: outside the 24-hour messaging window (Meta error 10).',
    next: 'A replay will most likely fail the same way; replay only once the cause is fixed.',
  });
  t.equal(
    describeFailure('graph token_invalid code=190 subcode=none status=400').next,
    'Register a new token for this Page (see Page tokens), then replay.',
  );
  t.match(describeFailure('graph rate_limited code=4 subcode=none status=400').text, /rate limited \(Meta error 4\)/);
  t.match(
    describeFailure('graph transient code=none subcode=none status=none timeout').text,
    /network error or timeout\. Meta may have delivered it anyway/,
  );
  t.equal(
    describeFailure('graph permanent code=99999 subcode=none status=400').text,
    'Meta refused the reply: unrecognised client error (Meta error 99999).',
    "an unknown Graph code: the table's fallback row",
  );
  t.match(describeFailure('outbound payload cannot be opened (wrong ENCRYPTION_KEY?)').next, /same ENCRYPTION_KEY/);
  t.same(
    describeFailure('something odd'),
    {
      text: 'The message could not be handled (something odd).',
      next: 'Replay it once; if it fails again, pass the reason on to whoever maintains the bot.',
    },
    'an unknown reason: a generic sentence with the reason',
  );
  t.equal(describeFailure('').text, 'The message could not be handled, and no reason was recorded.');
});

t.test('dead-letter reasons as the worker records them now (GraphApiError.summary), in words', async (t) => {
  t.same(
    describeFailure(
      'graph 10/2018278 (status 400): This message is sent outside of allowed window. Recipient [redacted]',
    ),
    {
      text: 'Meta refused the reply: outside the 24-hour messaging window (Meta error 10).',
      next: 'A replay will most likely fail the same way; replay only once the cause is fixed.',
    },
    "Meta's code and subcode, not its raw message",
  );
  t.same(describeFailure('graph 190 (status 400): Error validating access token'), {
    text: 'Meta refused the reply: access token invalid, expired or revoked (Meta error 190).',
    next: 'Register a new token for this Page (see Page tokens), then replay.',
  });
  t.match(
    describeFailure('graph 551 (status 400): This person isn’t available right now.').text,
    /person not available/,
  );
  t.match(describeFailure('graph status 503: request failed'), {
    text: 'Meta refused the reply: HTTP 5xx.',
    next: 'Meta had a temporary problem. Replay it.',
  });
  t.same(describeFailure('network: ECONNREFUSED connecting to graph'), {
    text: 'The reply did not reach Meta: the connection failed (ECONNREFUSED).',
    next: 'Check that this server can reach Meta’s Graph API, then replay.',
  });
  t.match(
    describeFailure('timeout: no answer from graph').text,
    /^Meta did not answer in time\. Meta may have delivered it anyway/,
  );
  t.match(
    describeFailure('graph 2 (status 500): temporary; not sent again, it may have been delivered').text,
    /^Meta refused the reply: temporary Graph API error \(Meta error 2\)\. Meta may have delivered it anyway/,
  );
  for (const reason of ['graph 10/2018278 (status 400): x', 'network: ECONNRESET connecting to graph']) {
    t.notMatch(describeFailure(reason).text, /could not be handled/, `${reason}: not the generic sentence`);
  }
});

t.test('token states in words', async (t) => {
  t.equal(describeTokenState('ok', null), 'Working (no expiry known)');
  t.equal(describeTokenState('warning', 5.4), 'Needs attention soon (expires in 5 days)');
  t.equal(describeTokenState('critical', 1), 'Needs action now (expires in 1 day)');
  t.equal(describeTokenState('critical', -2), 'Needs action now (expired)');
  const uncheckable = ['cannot be checked: FACEBOOK_APP_ID is not set, so debug_token cannot be called'];
  t.equal(
    describeTokenState('warning', null, uncheckable),
    'Needs attention soon (cannot be checked: FACEBOOK_APP_ID is not set, so debug_token cannot be called)',
    'no expiry known: the reason says why, and points at the step to take',
  );
  t.equal(describeTokenState('ok', null, ['checked']), 'Working (no expiry known)', 'a working token needs no reason');
  t.equal(describeTokenState('warning', 5.4, uncheckable), 'Needs attention soon (expires in 5 days)');
});
