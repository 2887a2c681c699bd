import type { OpsDeps } from './ops-deps.js';

/** A token expiring within this many days needs a refresh now (Meta's long-lived tokens last ~60 days). */
export const TOKEN_EXPIRY_WARNING_DAYS = 7;
const DAY_MS = 86_400_000;

export interface PageTokenRow {
  page_id: string;
  channel: string;
  token_status: string;
  monitoring_status: string;
  expires_at: string | null;
  never_expires: boolean;
  /** Null when the token never expires or its expiry is not known yet. */
  days_left: number | null;
}

export async function pageTokens(deps: OpsDeps, now = Date.now()): Promise<PageTokenRow[]> {
  const rows = await deps.resources.pages.list();
  return rows.map((p) => ({
    page_id: p.pageId,
    channel: p.channel,
    token_status: p.tokenStatus,
    monitoring_status: p.monitoringStatus,
    expires_at: p.expiresAt ? p.expiresAt.toISOString() : null,
    never_expires: p.neverExpires,
    days_left: p.expiresAt && !p.neverExpires ? Math.round(((p.expiresAt.getTime() - now) / DAY_MS) * 10) / 10 : null,
  }));
}

/** The `facebook_token` block of GET /ops: is a token there, and does anyone need to act. */
export async function summariseTokens(deps: OpsDeps, rows?: PageTokenRow[]) {
  const pages = rows ?? (await pageTokens(deps));
  const defaultConfigured = Boolean(deps.config.meta.defaultPageToken);
  const invalid = pages.filter((p) => p.token_status === 'invalid').length;
  const expiringSoon = pages.filter((p) => p.days_left !== null && p.days_left <= TOKEN_EXPIRY_WARNING_DAYS).length;
  const flagged = pages.filter((p) => p.monitoring_status === 'warning' || p.monitoring_status === 'critical').length;
  const configured = defaultConfigured || Boolean(deps.config.meta.defaultWhatsAppToken) || pages.length > 0;
  let status_message: string;
  if (!configured) status_message = 'No Page token configured: replies are recorded (dry run), not sent.';
  else if (invalid > 0) status_message = `${invalid} Page token(s) invalid: their sends are held until PUT /ops/pages/:pageId registers a new token.`;
  else if (expiringSoon > 0) status_message = `${expiringSoon} Page token(s) expire within ${TOKEN_EXPIRY_WARNING_DAYS} days.`;
  else if (flagged > 0) status_message = `${flagged} Page token(s) need attention: see GET /ops/token-refresh-status.`;
  else status_message = 'Page tokens OK.';
  return {
    token_configured: configured,
    needs_refresh: invalid > 0 || expiringSoon > 0 || flagged > 0,
    status_message,
    default_token_configured: defaultConfigured,
    pages: pages.length,
    invalid,
    expiring_soon: expiringSoon,
  };
}
