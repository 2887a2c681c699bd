import { GRAPH_ERROR_TABLE, type GraphErrorInput, type GraphErrorKind } from '@switchboard/meta';

/**
 * The one catalogue that turns the codes the API and the workers speak in (health warnings,
 * dead-letter reasons, token states) into sentences for the people who run the bot: what happened,
 * then what to do next. A code nobody described yet still reads as a sentence, with the code kept
 * at its end so it can be looked up.
 */
export interface PlainText {
  /** What happened, in words. */
  text: string;
  /** What to do about it. */
  next: string;
}

const WARNINGS: Readonly<Record<string, PlainText>> = {
  ai_error_rate_high: {
    text: 'Many AI calls are failing, so customers are getting the fallback text instead of AI answers.',
    next: 'Check the AI provider’s status page and the API key; if it persists, stop AI replies until it is fixed.',
  },
  page_token_invalid: {
    text: 'A Page’s access token no longer works, so its replies are held and not sent.',
    next: 'Generate a new Page token in Meta’s developer tools and register it; the held replies are then sent.',
  },
  page_token_near_expiry: {
    text: 'A Page’s access token expires within a week.',
    next: 'Generate a new long-lived Page token and register it before it expires.',
  },
  queue_shards_differ: {
    text: 'This server files messages under a different queue layout (QUEUE_SHARDS) than the workers use, so some messages may wait unanswered.',
    next: 'Give the API and every worker the same QUEUE_SHARDS; change it only with the queues drained (see the Kubernetes guide).',
  },
  graph_version_near_eol: {
    text: 'The version of Meta’s API this bot uses will soon be retired by Meta.',
    next: 'Ask whoever maintains the bot to move it to a newer Graph API version.',
  },
  facebook_app_id_missing: {
    text: 'The Facebook app id is not set, so Page tokens cannot be checked and dropped webhook subscriptions go unnoticed.',
    next: 'Set FACEBOOK_APP_ID to your Meta app’s id and restart the service.',
  },
  facebook_app_secret_is_development_default: {
    text: 'The app secret is the development placeholder, so real messages from Meta would be refused.',
    next: 'Set FACEBOOK_APP_SECRET to your Meta app’s secret and restart the service.',
  },
};

export function describeWarning(code: string): PlainText {
  return (
    WARNINGS[code] ?? {
      text: `Something needs attention (code: ${code}).`,
      next: 'Look the code up in the runbook, or pass it on to whoever maintains the bot.',
    }
  );
}

const GRAPH_NEXT: Readonly<Record<GraphErrorKind, string>> = {
  token_invalid: 'Register a new token for this Page (see Page tokens), then replay.',
  page_restricted: 'Check the Page’s standing in Meta Business Suite; a replay fails until Meta lifts the restriction.',
  permanent: 'A replay will most likely fail the same way; replay only once the cause is fixed.',
  rate_limited: 'Meta asked the bot to slow down. Wait a few minutes, then replay.',
  transient: 'Meta had a temporary problem. Replay it.',
};

const GRAPH_KINDS = new Set<string>(Object.keys(GRAPH_NEXT));

/** Meta's own words for a Graph error, from the client's error table, or null when no row matches. */
function graphWhy(input: GraphErrorInput): { kind: GraphErrorKind; why: string } | null {
  const row = GRAPH_ERROR_TABLE.find((r) => r.match(input));
  return row ? { kind: row.kind, why: row.why } : null;
}

const numberOf = (reason: string, key: string): number | undefined => {
  const value = new RegExp(`\\b${key}=(\\d+)`).exec(reason)?.[1];
  return value === undefined ? undefined : Number(value);
};

const capitalise = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** GraphApiError.summary, as the worker records a failed send: `graph 10/2018278 (status 400): <Graph's message>`. */
const SUMMARY_CODE = /^graph (\d+)(?:\/(\d+))?(?: \(status (\d+)\))?: /;
/** …without a code: `graph status 503: <message>`. */
const SUMMARY_STATUS = /^graph status (\d+): /;
/** …with no answer at all: `network: ECONNREFUSED connecting to graph`. */
const SUMMARY_NETWORK = /^network: (\S+) connecting to graph/;
/** …with no answer in time: `timeout: <message>`. */
const SUMMARY_TIMEOUT = /^timeout: /;
/** The worker's note on a send it does not repeat because Meta may have delivered it. */
const MAY_BE_DELIVERED = /; not sent again, it may have been delivered$/;
const UNSURE = ' Meta may have delivered it anyway: check the conversation before replaying.';

/** A failed send's summary (see SUMMARY_CODE) in words, or null when the reason is not one. */
function describeSendSummary(reason: string): PlainText | null {
  const unsure = MAY_BE_DELIVERED.test(reason) ? UNSURE : '';
  const network = SUMMARY_NETWORK.exec(reason);
  if (network) {
    return {
      text: `The reply did not reach Meta: the connection failed (${network[1]}).${unsure}`,
      next: 'Check that this server can reach Meta’s Graph API, then replay.',
    };
  }
  if (SUMMARY_TIMEOUT.test(reason)) {
    return { text: `Meta did not answer in time.${UNSURE}`, next: GRAPH_NEXT.transient };
  }
  const coded = SUMMARY_CODE.exec(reason);
  const status = coded ? coded[3] : SUMMARY_STATUS.exec(reason)?.[1];
  if (!coded && status === undefined) return null;
  const code = coded ? Number(coded[1]) : undefined;
  const found = graphWhy({
    code,
    subcode: coded?.[2] === undefined ? undefined : Number(coded[2]),
    status: status === undefined ? undefined : Number(status),
  });
  return {
    text: `Meta refused the reply: ${found?.why ?? 'an error it did not explain'}${code === undefined ? '' : ` (Meta error ${code})`}.${unsure}`,
    next: GRAPH_NEXT[found?.kind ?? 'permanent'],
  };
}

/**
 * A dead-letter reason as the worker records it (`graph 10/2018278 (status 400): …`, `network:
 * ECONNREFUSED connecting to graph`, `outbound payload cannot be opened (wrong ENCRYPTION_KEY?)`, and
 * `graph permanent code=10 subcode=2018278 status=400` in jobs dead-lettered before the summary), in words.
 */
export function describeFailure(reason: string): PlainText {
  const summary = describeSendSummary(reason);
  if (summary) return summary;
  const graph = /^graph (\w+)\b/.exec(reason);
  if (graph && GRAPH_KINDS.has(graph[1] as string)) {
    const kind = graph[1] as GraphErrorKind;
    const code = numberOf(reason, 'code');
    // The worker appends `timeout` or `unconfirmed` when Meta's answer never arrived or could not be read.
    const timeout = /\btimeout$/.test(reason);
    const unconfirmed = /\bunconfirmed$/.test(reason);
    const found = graphWhy({
      code,
      subcode: numberOf(reason, 'subcode'),
      status: numberOf(reason, 'status'),
      timeout,
      unconfirmed,
    });
    const why = found?.why ?? 'an error it did not explain';
    const unsure =
      timeout || unconfirmed ? ' Meta may have delivered it anyway: check the conversation before replaying.' : '';
    return {
      text: `Meta refused the reply: ${why}${code === undefined ? '' : ` (Meta error ${code})`}.${unsure}`,
      next: GRAPH_NEXT[found?.kind ?? kind],
    };
  }
  if (/cannot be opened/.test(reason)) {
    return {
      text: 'The stored message could not be unlocked: the encryption key differs from the one it was stored with.',
      next: 'Make sure every process uses the same ENCRYPTION_KEY, then replay.',
    };
  }
  if (/^invalid \w+ job payload$/.test(reason)) {
    return {
      text: 'The job held data the bot cannot read.',
      next: 'Pass this on to whoever maintains the bot; replaying will fail again.',
    };
  }
  return {
    text: reason
      ? `The message could not be handled (${reason}).`
      : 'The message could not be handled, and no reason was recorded.',
    next: 'Replay it once; if it fails again, pass the reason on to whoever maintains the bot.',
  };
}

/**
 * A Page token's monitoring state (ok, notice, warning, critical) in words. When its rating has a
 * reason and no expiry says more, the reason is given (`cannot be checked: FACEBOOK_APP_ID is not
 * set, …`), so the state points at the step the list below it asks for.
 */
export function describeTokenState(status: string, daysLeft: number | null, reasons: readonly string[] = []): string {
  const expiry =
    daysLeft === null
      ? status !== 'ok' && reasons[0]
        ? reasons[0]
        : 'no expiry known'
      : daysLeft <= 0
        ? 'expired'
        : `expires in ${Math.floor(daysLeft)} day${Math.floor(daysLeft) === 1 ? '' : 's'}`;
  switch (status) {
    case 'ok':
      return `Working (${expiry})`;
    case 'notice':
      return `Working, worth a look (${expiry})`;
    case 'warning':
      return `Needs attention soon (${expiry})`;
    case 'critical':
      return `Needs action now (${expiry})`;
    default:
      return `${capitalise(status)} (${expiry})`;
  }
}
