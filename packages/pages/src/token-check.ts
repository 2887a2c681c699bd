import { type Database, tokenRefreshLog } from '@switchboard/db';
import type { CheckTarget, PageTokenStore } from './token-store.js';
import type { PageChannel } from './token-status.js';
import { deriveTokenStatus } from './token-status.js';

/**
 * The Graph calls the check needs; @switchboard/meta's GraphClient has this shape (kept structural
 * so this package does not depend on the HTTP client).
 */
export interface TokenGraph {
  debugToken(inputToken: string): Promise<{
    isValid: boolean;
    expiresAt: number | null;
    dataAccessExpiresAt: number | null;
    scopes: string[];
    error: string | null;
  }>;
  getSubscribedApps(pageId: string, accessToken: string): Promise<Array<{ id: string; subscribedFields: string[] }>>;
  subscribeApp(pageId: string, accessToken: string, fields: string[]): Promise<boolean>;
  getWhatsAppSubscribedApps(wabaId: string, accessToken: string): Promise<string[]>;
  subscribeWhatsAppApp(wabaId: string, accessToken: string): Promise<boolean>;
  refreshInstagramToken(
    accessToken: string,
    instagramBaseUrl?: string,
  ): Promise<{ accessToken: string; expiresInS: number }>;
}

interface CheckLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface TokenCheckDeps {
  db: Database;
  pages: PageTokenStore;
  graph: TokenGraph;
  /** FACEBOOK_APP_ID: debug_token's app token and the subscription watchdog need it. */
  appId: string | undefined;
  /** FACEBOOK_PAGE_ACCESS_TOKEN, checked as the pseudo page "default". */
  defaultToken: string | undefined;
  /** WHATSAPP_ACCESS_TOKEN, checked as the pseudo page "default-whatsapp". */
  defaultWhatsAppToken?: string | undefined;
  /** Re-enqueues a page's held sends (releaseHeldSends bound to an outbound queue). */
  releaseHeld(pageId: string): Promise<number>;
  /** Where `refresh_access_token` lives (graph.instagram.com in production). */
  instagramBaseUrl?: string | undefined;
  logger?: CheckLogger;
  now?: () => Date;
}

export interface TokenCheckSummary {
  checked: number;
  valid: number;
  invalid: number;
  failed: number;
  released: number;
  refreshed: number;
  resubscribed: number;
}

/** The pseudo page id under which FACEBOOK_PAGE_ACCESS_TOKEN's checks are logged. */
export const DEFAULT_TOKEN_PAGE_ID = 'default';
/** The pseudo page id under which WHATSAPP_ACCESS_TOKEN's checks are logged. */
export const DEFAULT_WHATSAPP_TOKEN_PAGE_ID = 'default-whatsapp';

/** Webhook fields each channel needs (Messenger platform webhooks reference; Instagram messaging). */
export function requiredFields(channel: PageChannel): string[] {
  // message_echoes: Meta's echo of each of our sends confirms delivery after a crash (outbound.ts).
  return channel === 'messenger' ? ['messages', 'messaging_postbacks', 'message_echoes'] : ['messages'];
}

/** Instagram-Login tokens can be extended once at least 24 h old (docs/meta-platform.md, Tokens). */
const IG_REFRESH_MIN_AGE_MS = 24 * 3600 * 1000;
/** …and are extended when this close to expiry, leaving room for a few failed days. */
const IG_REFRESH_WITHIN_MS = 10 * 24 * 3600 * 1000;

const fromUnix = (s: number | null): Date | null => (s === null || s === 0 ? null : new Date(s * 1000));

/** A Graph error's message is already sanitised (GraphApiError); anything else is reduced to its kind. */
function errorText(err: unknown): string {
  if (err instanceof Error && err.name === 'GraphApiError') return err.message.slice(0, 300);
  return err instanceof Error ? `${err.name}: check failed` : 'check failed';
}

/**
 * The token check: for every registered token and the default token, debug_token → record in
 * token_refresh_log and the pages row → derive the monitoring status; an invalid token is marked
 * (its sends are held), a valid one has its held sends released. Then Instagram-Login tokens near
 * expiry are refreshed, and the page's webhook subscription is verified and restored if dropped.
 *
 * Every step is idempotent, so running it twice (a retried job, a POST during the daily run) does
 * no harm beyond the Graph calls.
 */
export async function runTokenCheck(deps: TokenCheckDeps): Promise<TokenCheckSummary> {
  const now = deps.now ?? (() => new Date());
  const summary: TokenCheckSummary = {
    checked: 0,
    valid: 0,
    invalid: 0,
    failed: 0,
    released: 0,
    refreshed: 0,
    resubscribed: 0,
  };
  const targets = await deps.pages.checkTargets();

  for (const target of targets) {
    summary.checked++;
    await checkOne(deps, target, summary, now);
  }
  for (const [token, pageId, channel] of [
    [deps.defaultToken, DEFAULT_TOKEN_PAGE_ID, 'messenger'],
    [deps.defaultWhatsAppToken, DEFAULT_WHATSAPP_TOKEN_PAGE_ID, 'whatsapp'],
  ] as const) {
    if (!token) continue;
    summary.checked++;
    await checkDefault(deps, token, pageId, channel, summary, now);
  }
  deps.logger?.info({ ...summary }, 'token check finished');
  return summary;
}

async function log(db: Database, row: typeof tokenRefreshLog.$inferInsert): Promise<void> {
  await db.insert(tokenRefreshLog).values(row);
}

async function appIdMissing(deps: TokenCheckDeps, pageId: string): Promise<void> {
  await log(deps.db, { pageId, action: 'check', ok: false, status: 'critical', error: 'app id missing' });
}

/**
 * Asks debug_token about one token and writes the answer to token_refresh_log (a failed call is
 * logged too, and leaves the token's state as it was: null).
 */
async function debugAndLog(
  deps: TokenCheckDeps,
  pageId: string,
  token: string,
  channel: CheckTarget['channel'],
  now: Date,
) {
  let info: Awaited<ReturnType<TokenGraph['debugToken']>>;
  try {
    info = await deps.graph.debugToken(token);
  } catch (err) {
    await log(deps.db, { pageId, action: 'check', ok: false, error: errorText(err) });
    deps.logger?.warn({ pageId, err: { message: errorText(err) } }, 'debug_token failed; token state unchanged');
    return null;
  }
  const expiresAt = fromUnix(info.expiresAt);
  const neverExpires = info.expiresAt === 0;
  const derived = deriveTokenStatus(
    { channel, isValid: info.isValid, expiresAt, neverExpires, scopes: info.scopes },
    now,
  );
  await log(deps.db, {
    pageId,
    action: 'check',
    ok: true,
    isValid: info.isValid,
    expiresAt,
    dataAccessExpiresAt: fromUnix(info.dataAccessExpiresAt),
    scopes: info.scopes,
    status: derived.status,
    error: info.error,
    details: { never_expires: neverExpires, channel, reasons: derived.reasons },
  });
  return { info, expiresAt, neverExpires, derived };
}

async function checkOne(
  deps: TokenCheckDeps,
  target: CheckTarget,
  summary: TokenCheckSummary,
  now: () => Date,
): Promise<void> {
  const { db, pages } = deps;
  const { pageId } = target;
  if (!deps.appId) {
    summary.failed++;
    await appIdMissing(deps, pageId);
    await pages.recordCheckStatus(pageId, 'critical');
    return;
  }
  if (target.token === null) {
    summary.failed++;
    await log(db, {
      pageId,
      action: 'check',
      ok: false,
      status: 'critical',
      error: 'stored token cannot be opened (encryption key missing?)',
    });
    await pages.recordCheckStatus(pageId, 'critical');
    return;
  }

  const checked = await debugAndLog(deps, pageId, target.token, target.channel, now());
  if (!checked) {
    summary.failed++;
    return;
  }
  const { info, expiresAt, neverExpires, derived } = checked;
  const recorded = await pages.recordCheck(pageId, target.sealed, {
    isValid: info.isValid,
    expiresAt,
    dataAccessExpiresAt: fromUnix(info.dataAccessExpiresAt),
    neverExpires,
    scopes: info.scopes,
    status: derived.status,
    reason: info.isValid ? null : `debug_token: ${info.error ?? 'token invalid'}`,
  });
  if (!recorded.updated) return; // replaced while we were checking: the new token is checked next time

  if (!info.isValid) {
    summary.invalid++;
    if (recorded.becameInvalid)
      deps.logger?.warn({ pageId }, 'debug_token says the page token is invalid; holding its sends');
    return;
  }
  summary.valid++;
  // A token that is valid again (or was replaced while sends were being held) lets them go.
  const released = await deps.releaseHeld(pageId);
  summary.released += released;
  if (released > 0) deps.logger?.info({ pageId, released }, 'released held sends');

  let token = target.token;
  if (target.kind === 'instagram_login' && expiresAt !== null) {
    const refreshed = await refreshInstagram(deps, target, expiresAt, now());
    if (refreshed) {
      summary.refreshed++;
      token = refreshed;
    }
  }
  // A WhatsApp subscription belongs to the Business Account, not to the phone number: it is watched
  // once a webhook has named the number's account.
  if (target.channel === 'whatsapp') {
    if (target.wabaId && (await watchWhatsAppSubscription(deps, pageId, target.wabaId, token, deps.appId)))
      summary.resubscribed++;
    return;
  }
  if (await watchSubscription(deps, pageId, target.channel, token, deps.appId)) summary.resubscribed++;
}

async function checkDefault(
  deps: TokenCheckDeps,
  token: string,
  pageId: string,
  channel: PageChannel,
  summary: TokenCheckSummary,
  now: () => Date,
): Promise<void> {
  if (!deps.appId) {
    summary.failed++;
    return appIdMissing(deps, pageId);
  }
  const checked = await debugAndLog(deps, pageId, token, channel, now());
  if (!checked) summary.failed++;
  else if (checked.info.isValid) summary.valid++;
  else summary.invalid++;
  // The default token has no page id of its own, so there is no subscription to watch here; pages
  // that use it are watched once they are registered.
}

/** Refreshes an Instagram-Login token older than 24 h and within 10 days of expiry; returns the new token. */
async function refreshInstagram(
  deps: TokenCheckDeps,
  target: CheckTarget,
  expiresAt: Date,
  now: Date,
): Promise<string | null> {
  if (target.token === null) return null;
  const age = now.getTime() - target.tokenIssuedAt.getTime();
  const left = expiresAt.getTime() - now.getTime();
  if (age < IG_REFRESH_MIN_AGE_MS || left > IG_REFRESH_WITHIN_MS) return null;
  try {
    const fresh = await deps.graph.refreshInstagramToken(target.token, deps.instagramBaseUrl);
    const newExpiry = new Date(now.getTime() + fresh.expiresInS * 1000);
    const stored = await deps.pages.storeRefreshedToken(target.pageId, target.sealed, fresh.accessToken, newExpiry);
    await log(deps.db, {
      pageId: target.pageId,
      action: 'refresh',
      ok: stored,
      isValid: true,
      expiresAt: newExpiry,
      status: 'ok',
      error: stored ? null : 'token replaced during refresh; refreshed token discarded',
    });
    if (stored)
      deps.logger?.info({ pageId: target.pageId, expires_at: newExpiry.toISOString() }, 'instagram token refreshed');
    return stored ? fresh.accessToken : null;
  } catch (err) {
    await log(deps.db, { pageId: target.pageId, action: 'refresh', ok: false, error: errorText(err) });
    deps.logger?.warn({ pageId: target.pageId, err: { message: errorText(err) } }, 'instagram token refresh failed');
    return null;
  }
}

/**
 * Meta drops subscriptions silently (after sustained webhook failures, or when a Page admin
 * removes the app): read subscribed_apps and restore our app with every field we need, keeping
 * the fields it already had (https://developers.facebook.com/docs/graph-api/reference/page/subscribed_apps/).
 */
async function watchSubscription(
  deps: TokenCheckDeps,
  pageId: string,
  channel: PageChannel,
  token: string,
  appId: string,
): Promise<boolean> {
  const needed = requiredFields(channel);
  let missing: string[];
  let fields: string[];
  let appWasSubscribed: boolean;
  try {
    const apps = await deps.graph.getSubscribedApps(pageId, token);
    const ours = apps.find((a) => a.id === appId);
    appWasSubscribed = ours !== undefined;
    missing = needed.filter((f) => !ours?.subscribedFields.includes(f));
    fields = [...new Set([...(ours?.subscribedFields ?? []), ...needed])];
  } catch (err) {
    await log(deps.db, { pageId, action: 'resubscribe', ok: false, error: errorText(err), details: { stage: 'read' } });
    return false;
  }
  if (appWasSubscribed && missing.length === 0) return false;
  const details = { app_was_subscribed: appWasSubscribed, missing_fields: missing, fields };
  try {
    const ok = await deps.graph.subscribeApp(pageId, token, fields);
    await log(deps.db, {
      pageId,
      action: 'resubscribe',
      ok,
      error: ok ? null : 'subscribed_apps did not answer success',
      details,
    });
    deps.logger?.warn({ pageId, ...details, ok }, 'webhook subscription was missing; re-subscribed');
    return ok;
  } catch (err) {
    await log(deps.db, { pageId, action: 'resubscribe', ok: false, error: errorText(err), details });
    deps.logger?.warn({ pageId, err: { message: errorText(err) } }, 're-subscribing the page failed');
    return false;
  }
}

/**
 * A WhatsApp Business Account's subscription is dropped as silently as a Page's: read its
 * subscribed_apps and subscribe our app again when it is missing
 * (https://developers.facebook.com/docs/whatsapp/embedded-signup/webhooks). Logged under the number.
 */
async function watchWhatsAppSubscription(
  deps: TokenCheckDeps,
  pageId: string,
  wabaId: string,
  token: string,
  appId: string,
): Promise<boolean> {
  try {
    const apps = await deps.graph.getWhatsAppSubscribedApps(wabaId, token);
    if (apps.includes(appId)) return false;
  } catch (err) {
    await log(deps.db, { pageId, action: 'resubscribe', ok: false, error: errorText(err), details: { stage: 'read' } });
    return false;
  }
  const details = { app_was_subscribed: false, business_account: true };
  try {
    const ok = await deps.graph.subscribeWhatsAppApp(wabaId, token);
    await log(deps.db, {
      pageId,
      action: 'resubscribe',
      ok,
      error: ok ? null : 'subscribed_apps did not answer success',
      details,
    });
    deps.logger?.warn({ pageId, ...details, ok }, 'WhatsApp Business Account subscription was missing; re-subscribed');
    return ok;
  } catch (err) {
    await log(deps.db, { pageId, action: 'resubscribe', ok: false, error: errorText(err), details });
    deps.logger?.warn(
      { pageId, err: { message: errorText(err) } },
      're-subscribing the WhatsApp Business Account failed',
    );
    return false;
  }
}
