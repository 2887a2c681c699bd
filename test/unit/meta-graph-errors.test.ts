// Fakes nothing: the error table is pure; Graph answers are described by their code, subcode and status.
import t from 'tap';
import {
  classifyGraphError,
  GraphApiError,
  graphErrorCodeIn,
  graphErrorReason,
  sanitiseGraphMessage,
  type GraphErrorInput,
  type GraphErrorKind,
} from '@switchboard/meta';

t.test('every row of the Errors → action table', async (t) => {
  const rows: Array<[string, GraphErrorInput, GraphErrorKind]> = [
    ['network error', { network: true }, 'transient'],
    ['timeout', { timeout: true }, 'transient'],
    ['code 1', { status: 500, code: 1 }, 'transient'],
    ['code 2', { status: 503, code: 2 }, 'transient'],
    ['code 1200', { status: 500, code: 1200 }, 'transient'],
    ['HTTP 500 without code', { status: 500 }, 'transient'],
    ['HTTP 502 without code', { status: 502 }, 'transient'],
    ['code 4 (HTTP 400, not 429)', { status: 400, code: 4 }, 'rate_limited'],
    ['code 17', { status: 400, code: 17 }, 'rate_limited'],
    ['code 32', { status: 400, code: 32 }, 'rate_limited'],
    ['code 613', { status: 400, code: 613 }, 'rate_limited'],
    ['business use case 80001', { status: 400, code: 80001 }, 'rate_limited'],
    ['business use case 80006', { status: 400, code: 80006 }, 'rate_limited'],
    ['HTTP 429 without code', { status: 429 }, 'rate_limited'],
    ['10/2018278 outside window (Messenger)', { status: 400, code: 10, subcode: 2018278 }, 'permanent'],
    ['10/2534022 outside window (Instagram)', { status: 400, code: 10, subcode: 2534022 }, 'permanent'],
    ['10 other permission', { status: 400, code: 10 }, 'permanent'],
    ['200 permission', { status: 403, code: 200 }, 'permanent'],
    ['299 permission', { status: 400, code: 299 }, 'permanent'],
    ['230 permission', { status: 400, code: 230 }, 'permanent'],
    ['100 invalid parameter', { status: 400, code: 100 }, 'permanent'],
    ['100/2018001 no matching user', { status: 400, code: 100, subcode: 2018001 }, 'permanent'],
    ['551 person unavailable', { status: 400, code: 551 }, 'permanent'],
    ['200/1545041 blocked', { status: 400, code: 200, subcode: 1545041 }, 'permanent'],
    ['2018300 thread owned by another app (as subcode)', { status: 400, code: 10, subcode: 2018300 }, 'permanent'],
    ['2018300 thread owned by another app (as code)', { status: 400, code: 2018300 }, 'permanent'],
    ['368 policy restriction', { status: 400, code: 368 }, 'page_restricted'],
    ['10/1893063 policy restriction', { status: 400, code: 10, subcode: 1893063 }, 'page_restricted'],
    ['190 invalid token', { status: 400, code: 190 }, 'token_invalid'],
    ['190/460 password changed', { status: 400, code: 190, subcode: 460 }, 'token_invalid'],
    ['190/463 expired', { status: 400, code: 190, subcode: 463 }, 'token_invalid'],
    ['102 session', { status: 401, code: 102 }, 'token_invalid'],
    ['190 even on HTTP 500', { status: 500, code: 190 }, 'token_invalid'],
    ['WhatsApp 131047 re-engagement needed', { status: 400, code: 131047 }, 'permanent'],
    ['WhatsApp 131026 undeliverable', { status: 400, code: 131026 }, 'permanent'],
    ['WhatsApp 131051 unsupported type', { status: 400, code: 131051 }, 'permanent'],
    ['WhatsApp 131052 media download', { status: 400, code: 131052 }, 'permanent'],
    ['WhatsApp 131053 media upload', { status: 400, code: 131053 }, 'permanent'],
    ['WhatsApp 131008 missing parameter', { status: 400, code: 131008 }, 'permanent'],
    ['WhatsApp 131009 invalid parameter', { status: 400, code: 131009 }, 'permanent'],
    ['WhatsApp 133010 number not registered', { status: 400, code: 133010 }, 'permanent'],
    ['WhatsApp 130429 throughput', { status: 400, code: 130429 }, 'rate_limited'],
    ['WhatsApp 131056 pair rate', { status: 400, code: 131056 }, 'rate_limited'],
    ['WhatsApp 131000 something went wrong (HTTP 500)', { status: 500, code: 131000 }, 'transient'],
    ['WhatsApp 131000 something went wrong (HTTP 400)', { status: 400, code: 131000 }, 'transient'],
    ['WhatsApp 131016 service unavailable', { status: 400, code: 131016 }, 'transient'],
    ['WhatsApp 131048 spam rate limit', { status: 400, code: 131048 }, 'page_restricted'],
    ['WhatsApp 131031 account locked', { status: 400, code: 131031 }, 'page_restricted'],
    ['WhatsApp 190 (HTTP 401)', { status: 401, code: 190 }, 'token_invalid'],
    ['unknown code on 4xx', { status: 400, code: 99999 }, 'permanent'],
    ['unknown code on 5xx', { status: 503, code: 99999 }, 'transient'],
    ['nothing known', {}, 'transient'],
  ];
  for (const [name, input, kind] of rows) t.equal(classifyGraphError(input), kind, name);
});

t.test('each code has a plain reason', async (t) => {
  t.match(graphErrorReason(131047), /24-hour customer service window closed/);
  t.match(graphErrorReason(131026), /undeliverable/);
  t.match(graphErrorReason(131048), /spam/);
  t.equal(graphErrorReason(99999), 'unrecognised error code');
  t.match(new GraphApiError({ status: 400, code: 131047 }).why, /24-hour customer service window/);
});

t.test('GraphApiError carries the classification and Graph facts', async (t) => {
  const e = new GraphApiError({
    status: 400,
    code: 613,
    type: 'OAuthException',
    fbtraceId: 'AfakeTrace1',
    retryAfterMs: 60_000,
  });
  t.ok(e instanceof Error);
  t.equal(e.name, 'GraphApiError');
  t.match(e, {
    kind: 'rate_limited',
    status: 400,
    code: 613,
    subcode: null,
    fbtraceId: 'AfakeTrace1',
    retryAfterMs: 60_000,
    timeout: false,
  });
  t.match(e.message, /code=613/);
  t.match(e.message, /fbtrace_id=AfakeTrace1/);
  t.match(e.message, /type=OAuthException/);

  const timeout = new GraphApiError({ timeout: true });
  t.match(timeout, { kind: 'transient', timeout: true, status: null, code: null });
  t.equal(new GraphApiError({ network: true }).network, true);
  t.equal(new GraphApiError({ status: 400, code: 100, kind: 'transient' }).kind, 'transient', 'kind can be forced');
});

t.test('error messages never carry tokens, proofs, recipient ids or texts', async (t) => {
  const token = 'EAAGtestpagetoken1234567890abcdefABCDEF';
  const proof = 'a'.repeat(64);
  const recipient = '200000000000001';
  const graphMessage = `(#100) Invalid parameter access_token=${token} appsecret_proof=${proof} recipient ${recipient} text "Meine Adresse ist Hauptstraße 1" 'also this'`;
  const e = new GraphApiError({ status: 400, code: 100, graphMessage, fbtraceId: 'AfakeTrace2' });
  for (const secret of [token, proof, recipient, 'Hauptstraße', 'also this']) t.notMatch(e.message, secret);
  t.match(e.message, /\(#100\) Invalid parameter/);
  t.match(e.message, /\[redacted\]/);

  t.notMatch(
    new GraphApiError({ status: 400, fbtraceId: `x ${token}` }).message,
    token,
    'a strange fbtrace_id is dropped',
  );
});

t.test('sanitiseGraphMessage truncates after redacting', async (t) => {
  const long = `${'word '.repeat(100)}EAAGtoken${'x'.repeat(40)}`;
  const s = sanitiseGraphMessage(long);
  t.ok(s.length <= 200);
  t.notMatch(
    sanitiseGraphMessage(`${'a '.repeat(95)}EAAGtoken${'x'.repeat(40)}`),
    /EAAG/,
    'a token straddling the cut is still gone',
  );
  t.equal(sanitiseGraphMessage('(#4) Application request limit reached'), '(#4) Application request limit reached');
  t.equal(sanitiseGraphMessage('phone 15550000001 ok'), 'phone [redacted] ok');
});

t.test('a failure in words: the summary an operator reads, and the code read back from it', async (t) => {
  const cases: Array<[string, ConstructorParameters<typeof GraphApiError>[0], string, number | null]> = [
    [
      'Graph error with subcode',
      { status: 400, code: 10, subcode: 2018278, graphMessage: 'Outside of allowed window.' },
      'graph 10/2018278 (status 400): Outside of allowed window.',
      10,
    ],
    ['Graph error without a message', { status: 400, code: 613 }, 'graph 613 (status 400): rate limited', 613],
    [
      "WhatsApp error: the reason leads, Graph's bare title follows",
      { status: 400, code: 131047, graphMessage: 'Re-engagement message' },
      'graph 131047 (status 400): the 24-hour customer service window closed: only an approved template may be sent now (Re-engagement message)',
      131047,
    ],
    ['bare status', { status: 502 }, 'graph status 502: HTTP 5xx', null],
    [
      'network failure',
      { network: true, networkCode: 'UND_ERR_CONNECT_TIMEOUT' },
      'network: UND_ERR_CONNECT_TIMEOUT connecting to graph',
      null,
    ],
    [
      'network failure with an odd code',
      { network: true, networkCode: 'token=EAAB secret' },
      'network: unknown error connecting to graph',
      null,
    ],
    [
      'timeout',
      { timeout: true, graphMessage: 'no answer from graph within 100 ms' },
      'timeout: no answer from graph within 100 ms',
      null,
    ],
  ];
  for (const [name, init, summary, code] of cases) {
    const e = new GraphApiError(init);
    t.equal(e.summary, summary, name);
    t.equal(graphErrorCodeIn(e.summary), code, `${name}: code`);
  }
  t.equal(
    graphErrorCodeIn('graph permanent code=10 subcode=2018278 status=400'),
    10,
    'older reasons name the code as code=',
  );
});
