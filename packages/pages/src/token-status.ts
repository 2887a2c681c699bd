/** The channel a Page token serves: a Facebook Page (Messenger), an Instagram account, a WhatsApp number. */
export type PageChannel = 'messenger' | 'instagram' | 'whatsapp';

export type MonitoringStatus = 'ok' | 'notice' | 'warning' | 'critical';

const ORDER: readonly MonitoringStatus[] = ['ok', 'notice', 'warning', 'critical'];

export function worstStatus(statuses: Iterable<MonitoringStatus>): MonitoringStatus {
  let worst: MonitoringStatus = 'ok';
  for (const s of statuses) if (ORDER.indexOf(s) > ORDER.indexOf(worst)) worst = s;
  return worst;
}

/** Days before expiry at which a token's status turns notice / warning / critical. */
export const EXPIRY_THRESHOLD_DAYS = { notice: 30, warning: 7, critical: 3 } as const;

const DAY_MS = 24 * 3600 * 1000;

/**
 * The permissions a token must carry to answer messages, as any-of groups: Messenger needs
 * `pages_messaging`; Instagram accepts either the Facebook-Login permission
 * (`instagram_manage_messages`) or the Instagram-Login one (`instagram_business_manage_messages`).
 */
export function requiredScopes(channel: PageChannel): string[][] {
  if (channel === 'instagram') return [['instagram_manage_messages', 'instagram_business_manage_messages']];
  if (channel === 'whatsapp') return [['whatsapp_business_messaging']];
  return [['pages_messaging']];
}

export function scopesSatisfied(channel: PageChannel, scopes: readonly string[]): boolean {
  return requiredScopes(channel).every((group) => group.some((s) => scopes.includes(s)));
}

export interface TokenFacts {
  channel: PageChannel;
  /** null: never checked. */
  isValid: boolean | null;
  expiresAt: Date | null;
  neverExpires: boolean;
  /** null: not known (never checked). */
  scopes: readonly string[] | null;
  /** FACEBOOK_APP_ID is missing, so debug_token cannot be called at all. */
  appIdMissing?: boolean;
}

export interface DerivedTokenStatus {
  status: MonitoringStatus;
  /** Whole days until expiry; null when the token never expires or its expiry is unknown. */
  daysLeft: number | null;
  scopesOk: boolean | null;
  /** Why the status is not ok, in words an operator reads (no token, no secret). */
  reasons: string[];
}

/** What an operator reads for a token whose validity no check has established yet. */
export const NOT_CHECKED_REASON = 'not checked yet: run POST /ops/tokens/check';
export const NO_APP_ID_REASON = 'cannot be checked: FACEBOOK_APP_ID is not set, so debug_token cannot be called';

/**
 * ok; notice within 30 days of expiry; warning within 7; critical within 3, when invalid, or when
 * the messaging permission is missing. A token that never expires (expires_at = 0) is still
 * judged on validity and permissions. A token not checked yet is a notice: nothing says it is
 * broken, nothing says it works. It is a warning when it cannot be checked at all (no app id), and
 * critical only for what a check found (or what Meta's answers to sends showed).
 */
export function deriveTokenStatus(facts: TokenFacts, now: Date = new Date()): DerivedTokenStatus {
  const statuses: MonitoringStatus[] = [];
  const reasons: string[] = [];
  const flag = (status: MonitoringStatus, reason: string) => {
    statuses.push(status);
    reasons.push(reason);
  };

  if (facts.isValid === false) flag('critical', 'token invalid');
  const scopesOk = facts.scopes === null ? null : scopesSatisfied(facts.channel, facts.scopes);
  if (scopesOk === false) {
    flag(
      'critical',
      `missing permission ${requiredScopes(facts.channel)
        .map((g) => g.join(' or '))
        .join(', ')}`,
    );
  }

  let daysLeft: number | null = null;
  if (!facts.neverExpires && facts.expiresAt !== null) {
    const msLeft = facts.expiresAt.getTime() - now.getTime();
    daysLeft = Math.max(0, Math.floor(msLeft / DAY_MS));
    if (msLeft <= 0) flag('critical', 'token expired');
    else if (msLeft <= EXPIRY_THRESHOLD_DAYS.critical * DAY_MS) flag('critical', `token expires in ${daysLeft} days`);
    else if (msLeft <= EXPIRY_THRESHOLD_DAYS.warning * DAY_MS) flag('warning', `token expires in ${daysLeft} days`);
    else if (msLeft <= EXPIRY_THRESHOLD_DAYS.notice * DAY_MS) flag('notice', `token expires in ${daysLeft} days`);
  }
  if (facts.isValid === null)
    flag(facts.appIdMissing ? 'warning' : 'notice', facts.appIdMissing ? NO_APP_ID_REASON : NOT_CHECKED_REASON);

  return { status: worstStatus(statuses), daysLeft, scopesOk, reasons };
}

/** What the pages table holds of a token, as PageTokenStore.list() returns it. */
export interface StoredTokenFacts {
  channel: string;
  tokenStatus: string;
  expiresAt: Date | null;
  neverExpires: boolean;
  scopes: string[] | null;
  /** Set while Meta restricts the sending account (its sends are held): critical, whatever the token. */
  restrictedReason?: string | null;
}

/** The reason a restricted number's status gives. */
export const RESTRICTED_REASON = 'number restricted by Meta; sends held';

/**
 * A registered page's token status, derived now from what its last check stored (days left move
 * with the clock). The one place every route that rates a page's token asks: GET /ops, /ops/pages,
 * /ops/token-refresh-status and the dashboard agree because they all come through here.
 */
export function storedTokenStatus(
  row: StoredTokenFacts,
  opts: { appIdMissing: boolean; now?: Date },
): DerivedTokenStatus {
  const isValid = row.tokenStatus === 'valid' ? true : row.tokenStatus === 'invalid' ? false : null;
  const derived = deriveTokenStatus(
    {
      channel: row.channel as PageChannel,
      isValid,
      expiresAt: row.expiresAt,
      neverExpires: row.neverExpires,
      scopes: row.scopes,
      appIdMissing: opts.appIdMissing,
    },
    opts.now,
  );
  if (!row.restrictedReason) return derived;
  return { ...derived, status: 'critical', reasons: [...derived.reasons, RESTRICTED_REASON] };
}
