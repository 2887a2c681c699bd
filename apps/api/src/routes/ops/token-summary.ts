import { DEFAULT_TOKEN_PAGE_ID, DEFAULT_WHATSAPP_TOKEN_PAGE_ID, storedTokenStatus } from '@switchboard/pages';
import type { OpsDeps } from './ops-deps.js';
import { buildTokenRefreshStatus, type PageMonitoring } from './token-refresh-status.js';

/** A token expiring within this many days needs a refresh now (Meta's long-lived tokens last ~60 days). */
export const TOKEN_EXPIRY_WARNING_DAYS = 7;

export interface PageTokenRow {
  page_id: string;
  channel: string;
  token_status: string;
  monitoring_status: string;
  expires_at: string | null;
  never_expires: boolean;
  /** Whole days left; null when the token never expires or its expiry is not known yet. */
  days_left: number | null;
}

/** The registered pages' tokens, each rated as every ops route rates it (storedTokenStatus). */
export async function pageTokens(
  deps: Pick<OpsDeps, 'config' | 'resources'>,
  now = new Date(),
): Promise<PageTokenRow[]> {
  const rows = await deps.resources.pages.list();
  const appIdMissing = !deps.config.meta.appId;
  return rows.map((p) => {
    const derived = storedTokenStatus(p, { appIdMissing, now });
    return {
      page_id: p.pageId,
      channel: p.channel,
      token_status: p.tokenStatus,
      monitoring_status: derived.status,
      expires_at: p.expiresAt ? p.expiresAt.toISOString() : null,
      never_expires: p.neverExpires,
      days_left: derived.daysLeft,
    };
  });
}

/** GET /ops/token-refresh-status's answer for this API's configuration. */
export function tokenRefreshStatus(deps: Pick<OpsDeps, 'config' | 'resources'>) {
  return buildTokenRefreshStatus({
    db: deps.resources.dbh.db,
    pages: deps.resources.pages,
    appId: deps.config.meta.appId,
    defaultTokenConfigured: Boolean(deps.config.meta.defaultPageToken),
    defaultWhatsAppTokenConfigured: Boolean(deps.config.meta.defaultWhatsAppToken),
    graphVersion: deps.config.meta.graphVersion,
  });
}

/**
 * The `facebook_token` block of GET /ops: is a token there, and does anyone need to act. Read
 * from the tokens GET /ops/token-refresh-status rates (the registered pages and the default
 * token), so the two never disagree: an unchecked token is never "OK".
 */
export async function summariseTokens(
  deps: Pick<OpsDeps, 'config' | 'resources'>,
  monitored?: ReadonlyArray<Pick<PageMonitoring, 'page_id' | 'token_status' | 'monitoring_status' | 'days_left'>>,
) {
  const tokens = monitored ?? (await tokenRefreshStatus(deps)).refresh_monitoring.pages;
  const defaultConfigured = Boolean(deps.config.meta.defaultPageToken);
  const registered = tokens.filter(
    (p) => p.page_id !== DEFAULT_TOKEN_PAGE_ID && p.page_id !== DEFAULT_WHATSAPP_TOKEN_PAGE_ID,
  ).length;
  const invalid = tokens.filter((p) => p.token_status === 'invalid').length;
  const expiringSoon = tokens.filter(
    (p) => p.token_status !== 'invalid' && p.days_left !== null && p.days_left <= TOKEN_EXPIRY_WARNING_DAYS,
  ).length;
  const flagged = tokens.filter((p) => p.monitoring_status === 'warning' || p.monitoring_status === 'critical').length;
  const unchecked = tokens.filter((p) => p.token_status === 'unknown').length;
  const noticed = tokens.filter((p) => p.monitoring_status !== 'ok').length;
  const configured = defaultConfigured || Boolean(deps.config.meta.defaultWhatsAppToken) || registered > 0;
  let status_message: string;
  if (!configured) status_message = 'No Page token configured: replies are recorded (dry run), not sent.';
  else if (invalid > 0)
    status_message = `${invalid} Page token(s) invalid: their sends are held until PUT /ops/pages/:pageId registers a new token.`;
  else if (expiringSoon > 0)
    status_message = `${expiringSoon} Page token(s) expire within ${TOKEN_EXPIRY_WARNING_DAYS} days.`;
  else if (flagged > 0) status_message = `${flagged} Page token(s) need attention: see GET /ops/token-refresh-status.`;
  else if (unchecked > 0) status_message = `${unchecked} Page token(s) not checked yet: run POST /ops/tokens/check.`;
  else if (noticed > 0) status_message = `${noticed} Page token(s) worth a look: see GET /ops/token-refresh-status.`;
  else status_message = 'Page tokens OK.';
  return {
    token_configured: configured,
    needs_refresh: invalid > 0 || expiringSoon > 0 || flagged > 0,
    status_message,
    default_token_configured: defaultConfigured,
    pages: registered,
    invalid,
    expiring_soon: expiringSoon,
  };
}
