/**
 * The one table that turns a Graph API failure into an action, and the error the client throws.
 *
 * Sources: https://developers.facebook.com/docs/messenger-platform/error-codes,
 * https://developers.facebook.com/docs/graph-api/guides/error-handling and, for WhatsApp's codes,
 * https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes. Throttling usually comes
 * back as HTTP 400, so rows match on `code`/`error_subcode` first and on the HTTP status last.
 */

export type GraphErrorKind = 'transient' | 'rate_limited' | 'permanent' | 'token_invalid' | 'page_restricted';

export interface GraphErrorInput {
  status?: number;
  code?: number;
  subcode?: number;
  network?: boolean;
  timeout?: boolean;
  /** A 2xx answer without a readable message id: Meta took the call, and may have delivered it. */
  unconfirmed?: boolean;
}

interface Row {
  readonly kind: GraphErrorKind;
  readonly why: string;
  /**
   * Graph's own message for these codes is a bare title ("Re-engagement message"): the failure's
   * summary leads with the table's reason, which says what happened and what it means.
   */
  readonly explains?: boolean;
  readonly match: (e: GraphErrorInput) => boolean;
}

const codeIn =
  (...codes: number[]) =>
  (e: GraphErrorInput) =>
    e.code !== undefined && codes.includes(e.code);
const codeRange = (from: number, to: number) => (e: GraphErrorInput) =>
  e.code !== undefined && e.code >= from && e.code <= to;
const codeSub =
  (code: number, ...subcodes: number[]) =>
  (e: GraphErrorInput) =>
    e.code === code && e.subcode !== undefined && subcodes.includes(e.subcode);

/** First matching row wins, so specific subcodes come before their code's general row. */
export const GRAPH_ERROR_TABLE: readonly Row[] = Object.freeze([
  // No answer at all. A timeout is ambiguous (the message may have gone out): the caller retries at most once.
  { kind: 'transient', why: 'network error or timeout', match: (e) => e.network === true || e.timeout === true },
  // Accepted, but the answer cannot be read (a proxy's page, a cut body): as ambiguous as a timeout.
  { kind: 'transient', why: 'accepted without a readable message id', match: (e) => e.unconfirmed === true },
  // 190 any subcode, 102: do not retry; hold the Page's sends until a new token arrives.
  { kind: 'token_invalid', why: 'access token invalid, expired or revoked', match: codeIn(190, 102) },
  {
    kind: 'page_restricted',
    why: 'Page restricted for policy reasons',
    match: (e) => codeIn(368)(e) || codeSub(10, 1893063)(e),
  },
  // WhatsApp: a number flagged for spam or restricted/locked stops sending; an operator must act.
  {
    kind: 'page_restricted',
    why: 'WhatsApp spam rate limit hit: this number may not send for now',
    match: codeIn(131048),
    explains: true,
  },
  { kind: 'page_restricted', why: 'WhatsApp account restricted or locked', match: codeIn(131031), explains: true },
  { kind: 'permanent', why: 'outside the 24-hour messaging window', match: codeSub(10, 2018278, 2534022) },
  {
    kind: 'permanent',
    why: 'the 24-hour customer service window closed: only an approved template may be sent now',
    match: codeIn(131047),
    explains: true,
  },
  { kind: 'permanent', why: 'message undeliverable to this WhatsApp user', match: codeIn(131026), explains: true },
  { kind: 'permanent', why: 'WhatsApp message type not supported', match: codeIn(131051), explains: true },
  {
    kind: 'permanent',
    why: 'WhatsApp media could not be downloaded or uploaded',
    match: codeIn(131052, 131053),
    explains: true,
  },
  { kind: 'permanent', why: 'WhatsApp parameter missing or invalid', match: codeIn(131008, 131009), explains: true },
  { kind: 'permanent', why: 'WhatsApp phone number not registered', match: codeIn(133010), explains: true },
  { kind: 'transient', why: 'temporary WhatsApp service error', match: codeIn(131000, 131016), explains: true },
  { kind: 'permanent', why: 'another app owns the thread', match: (e) => e.code === 2018300 || e.subcode === 2018300 },
  {
    kind: 'permanent',
    why: 'person not available or blocked the Page',
    match: (e) => codeIn(551)(e) || codeSub(200, 1545041)(e),
  },
  { kind: 'permanent', why: 'permission error', match: (e) => codeIn(10, 230)(e) || codeRange(200, 299)(e) },
  { kind: 'permanent', why: 'invalid parameter', match: codeIn(100) },
  // Application, user, Page and business-use-case throttles (80000-80014,
  // https://developers.facebook.com/docs/graph-api/overview/rate-limiting), WhatsApp throughput
  // (130429) and pair-rate (131056) limits.
  {
    kind: 'rate_limited',
    why: 'rate limited',
    match: (e) => codeIn(4, 17, 32, 613, 130429, 131056)(e) || codeRange(80000, 80014)(e),
  },
  { kind: 'transient', why: 'temporary Graph API error', match: codeIn(1, 2, 1200) },
  { kind: 'rate_limited', why: 'HTTP 429', match: (e) => e.status === 429 },
  { kind: 'transient', why: 'HTTP 5xx', match: (e) => e.status !== undefined && e.status >= 500 },
  // An unknown code on a 4xx answer will not succeed by repeating it: dead-letter it (replayable).
  {
    kind: 'permanent',
    why: 'unrecognised client error',
    match: (e) => e.status !== undefined && e.status >= 400 && e.status < 500,
  },
] satisfies Row[]);

function rowFor(input: GraphErrorInput): Row | undefined {
  return GRAPH_ERROR_TABLE.find((row) => row.match(input));
}

/** The table's plain reason for a Graph error code (a WhatsApp `failed` status carries only the code). */
export function graphErrorReason(code: number): string {
  return rowFor({ code })?.why ?? 'unrecognised error code';
}

export function classifyGraphError(input: GraphErrorInput): GraphErrorKind {
  // No status and no recognised code: we never got a real answer, so trying again is the safe reading.
  return rowFor(input)?.kind ?? 'transient';
}

const MAX_MESSAGE = 200;

/**
 * Graph's `error.message` can echo request parameters (recipient ids, text, tokens). Keep it for
 * operators, but with quoted values, long token-like runs and long digit runs (ids, phone numbers)
 * replaced, then truncated. Redaction runs first so truncation can never expose a token's head.
 */
export function sanitiseGraphMessage(message: string): string {
  const redacted = message
    .replace(/"[^"]*"|'[^']*'|“[^”]*”/g, '[redacted]')
    .replace(/[A-Za-z0-9_\-|.]{20,}/g, '[redacted]')
    .replace(/\d{8,}/g, '[redacted]')
    .replace(/\s+/g, ' ')
    .trim();
  return redacted.length > MAX_MESSAGE ? `${redacted.slice(0, MAX_MESSAGE - 1)}…` : redacted;
}

/** What a network failure's code looks like; anything else in its place is not kept. */
const NETWORK_CODE = /^[A-Z][A-Z0-9_]{1,40}$/;

export interface GraphApiErrorInit {
  status?: number | null;
  code?: number | null;
  subcode?: number | null;
  type?: string | null;
  fbtraceId?: string | null;
  retryAfterMs?: number | null;
  timeout?: boolean;
  network?: boolean;
  /** A 2xx answer without a readable message id (see GraphErrorInput). */
  unconfirmed?: boolean;
  /** Graph's own message; sanitised before it is kept. */
  graphMessage?: string | null;
  /** A network failure's code (ECONNREFUSED, ETIMEDOUT, ENOTFOUND, UND_ERR_…); anything else is dropped. */
  networkCode?: string | null;
  /** Forces the kind instead of looking it up in the table. */
  kind?: GraphErrorKind;
}

export class GraphApiError extends Error {
  readonly kind: GraphErrorKind;
  readonly status: number | null;
  readonly code: number | null;
  readonly subcode: number | null;
  readonly type: string | null;
  readonly fbtraceId: string | null;
  /** From `estimated_time_to_regain_access` (minutes) or `Retry-After` (seconds), in ms. */
  readonly retryAfterMs: number | null;
  readonly timeout: boolean;
  readonly network: boolean;
  /**
   * Whether Meta may have delivered the message although the call failed (a timeout, or a 2xx
   * without a readable message id): a retry must first look for its echo, and resends at most once.
   */
  readonly deliveryUnknown: boolean;
  /** The table's reason for this failure, in plain words (no personal data). */
  readonly why: string;
  /** The network failure's code, when there was no answer. */
  readonly networkCode: string | null;
  /** Graph's message (or ours, when Graph gave none), sanitised. */
  readonly detail: string | null;
  /**
   * The failure in words, for the log, the dead-letter reason and an event's `last_error`:
   * `network: ECONNREFUSED connecting to graph`, `graph 10/2018278 (status 400): <Graph's message>`.
   * Built from codes and the sanitised message only, so it carries no token or user id.
   */
  readonly summary: string;

  constructor(init: GraphApiErrorInit) {
    const input: GraphErrorInput = {};
    if (init.status != null) input.status = init.status;
    if (init.code != null) input.code = init.code;
    if (init.subcode != null) input.subcode = init.subcode;
    if (init.network) input.network = true;
    if (init.timeout) input.timeout = true;
    if (init.unconfirmed) input.unconfirmed = true;
    const row = rowFor(input);
    const kind = init.kind ?? row?.kind ?? 'transient';

    const facts = [
      `kind=${kind}`,
      init.status != null ? `status=${init.status}` : null,
      init.code != null ? `code=${init.code}` : null,
      init.subcode != null ? `subcode=${init.subcode}` : null,
      init.type && /^\w{1,40}$/.test(init.type) ? `type=${init.type}` : null,
      // fbtrace_id is Meta's support reference, harmless and worth logging; anything else in its place is dropped.
      init.fbtraceId && /^[\w-]{1,64}$/.test(init.fbtraceId) ? `fbtrace_id=${init.fbtraceId}` : null,
    ].filter((f): f is string => f !== null);
    const networkCode = init.networkCode && NETWORK_CODE.test(init.networkCode) ? init.networkCode : null;
    const what = init.timeout ? 'timed out' : init.network ? 'network error' : (row?.why ?? 'request failed');
    const said = init.graphMessage ? sanitiseGraphMessage(init.graphMessage) : networkCode;
    const detail = said ? `: ${said}` : '';
    super(`Graph API ${what} (${facts.join(' ')})${detail}`);

    this.name = 'GraphApiError';
    this.kind = kind;
    this.status = init.status ?? null;
    this.code = init.code ?? null;
    this.subcode = init.subcode ?? null;
    this.type = init.type ?? null;
    this.fbtraceId = init.fbtraceId ?? null;
    this.retryAfterMs = init.retryAfterMs ?? null;
    this.timeout = init.timeout === true;
    this.network = init.network === true;
    this.deliveryUnknown = this.timeout || init.unconfirmed === true;
    this.why = what;
    this.networkCode = networkCode;
    this.detail = init.graphMessage ? sanitiseGraphMessage(init.graphMessage) : null;
    this.summary = summarise(this, row?.why ?? null, row?.explains === true);
  }
}

function summarise(e: GraphApiError, why: string | null, explains: boolean): string {
  if (e.timeout) return `timeout: ${e.detail ?? 'no answer from graph'}`;
  if (e.network) return `network: ${e.networkCode ?? 'unknown error'} connecting to graph`;
  const said = explains && why ? (e.detail ? `${why} (${e.detail})` : why) : (e.detail ?? why ?? 'request failed');
  if (e.code !== null)
    return `graph ${e.code}${e.subcode !== null ? `/${e.subcode}` : ''}${e.status !== null ? ` (status ${e.status})` : ''}: ${said}`;
  if (e.status !== null) return `graph status ${e.status}: ${said}`;
  return `graph: ${said}`;
}

/**
 * The Graph error code a failure reason names: `graph 10/2018278 …` (GraphApiError.summary), or
 * `code=10` as older reasons put it. Null for a network failure, a timeout or a bare status.
 */
export function graphErrorCodeIn(reason: string | null | undefined): number | null {
  const code = reason ? (/^graph (\d+)\b/.exec(reason) ?? /\bcode=(\d+)/.exec(reason))?.[1] : undefined;
  return code ? Number(code) : null;
}
