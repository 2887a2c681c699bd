import type { Config } from '@switchboard/config';
import { GraphApiError, type GraphClient, graphClientFor, type TokenDebugInfo } from '@switchboard/meta';
import { type PageChannel, type PageTokenStore, requiredFields } from '@switchboard/pages';
import { describeFailure, NETWORK_TIMEOUT_MS, withDeadline } from './deadline.js';
import type { Findings } from './findings.js';

const DAY_S = 24 * 3600;
/** Same thresholds as the token alerts in deploy/prometheus (7 days warning, 3 days critical). */
const WARN_DAYS = 7;
const CRITICAL_DAYS = 3;

/** The permission a token needs to send on its channel (Messenger / Instagram Messaging docs). */
const SEND_SCOPES: Record<string, readonly string[]> = {
  messenger: ['pages_messaging'],
  instagram: ['instagram_manage_messages', 'instagram_business_manage_messages'],
};
const ANY_SEND_SCOPE = [...new Set(Object.values(SEND_SCOPES).flat())];

interface TokenToCheck {
  /** Shown in the report: a Page / IG account id, or `default` for FACEBOOK_PAGE_ACCESS_TOKEN. */
  label: string;
  /** Path segment for subscribed_apps: the page id, or `me` (the token's own Page). */
  node: string;
  channel: string | undefined;
  token: string;
}

/**
 * What goes wrong without each webhook field Switchboard needs, for the operator reading the report.
 * Without `messages` nothing arrives: critical. Without the others every message is still answered
 * once: a warning.
 */
const MISSING_FIELD_EFFECT: Record<string, string> = {
  messages: 'no message reaches Switchboard, so none is answered',
  message_echoes:
    'Meta does not echo the replies sent, so a reply whose send a crash or a timeout interrupted cannot be confirmed and is sent again: the user may get it twice',
  messaging_postbacks: 'button taps (postbacks) never arrive, so they go unanswered',
};

function graphFailure(err: unknown): string {
  if (err instanceof GraphApiError) return err.message;
  return describeFailure(err);
}

/**
 * Every registered Page token and the default one: valid per debug_token, allowed to send, not
 * about to expire, and the app still subscribed to the Page's webhooks (Meta drops subscriptions
 * silently after sustained delivery failures; https://developers.facebook.com/docs/graph-api/reference/page/subscribed_apps/).
 */
export async function checkPageTokens(
  config: Config,
  tokenStore: PageTokenStore | undefined,
  f: Findings,
  now = new Date(),
): Promise<void> {
  const appId = config.meta.appId;
  if (!appId) return; // reported by meta.app_id; debug_token needs the app token

  const tokens: TokenToCheck[] = [];
  if (tokenStore) {
    let pages: Awaited<ReturnType<PageTokenStore['list']>> = [];
    try {
      pages = await withDeadline(tokenStore.list(), 'pages table');
    } catch (err) {
      f.critical('graph.pages', `cannot list registered pages (${describeFailure(err)})`);
    }
    for (const page of pages) {
      try {
        const resolved = await withDeadline(tokenStore.resolveFresh(page.pageId), 'pages table');
        if (resolved?.source === 'registered')
          tokens.push({ label: page.pageId, node: page.pageId, channel: page.channel, token: resolved.token });
      } catch (err) {
        f.critical(
          `graph.token.${page.pageId}`,
          `page ${page.pageId}: its stored token cannot be opened (${describeFailure(err)}): was ENCRYPTION_KEY changed without ENCRYPTION_KEY_PREVIOUS?`,
          ['ENCRYPTION_KEY'],
        );
      }
    }
  }
  if (config.meta.defaultPageToken)
    tokens.push({ label: 'default', node: 'me', channel: undefined, token: config.meta.defaultPageToken });

  if (tokens.length === 0) {
    f.critical(
      'meta.page_token_source',
      'no Page token: set FACEBOOK_PAGE_ACCESS_TOKEN or register pages (PUT /ops/pages/:pageId); without one every reply is a dry run',
      ['FACEBOOK_PAGE_ACCESS_TOKEN'],
    );
    return;
  }
  f.ok('meta.page_token_source', `${tokens.length} Page token(s) to check (${tokens.map((t) => t.label).join(', ')})`);

  const graph = graphClientFor(
    { ...config.meta, appId },
    { timeoutMs: Math.min(config.meta.graphTimeoutMs, NETWORK_TIMEOUT_MS) },
  );
  try {
    for (const t of tokens) await checkToken(graph, appId, t, f, now);
  } finally {
    await graph.close().catch(() => {});
  }
}

async function checkToken(graph: GraphClient, appId: string, t: TokenToCheck, f: Findings, now: Date): Promise<void> {
  const what = t.label === 'default' ? 'default token (FACEBOOK_PAGE_ACCESS_TOKEN)' : `page ${t.label}`;
  let info: TokenDebugInfo;
  try {
    info = await withDeadline(graph.debugToken(t.token), 'debug_token');
  } catch (err) {
    f.critical(`graph.token.${t.label}`, `${what}: debug_token failed (${graphFailure(err)})`);
    return;
  }
  if (!info.isValid) {
    f.critical(
      `graph.token.${t.label}`,
      `${what}: token is invalid${info.error ? ` (${info.error})` : ''}; register a new one: PUT /ops/pages/:pageId (docs/runbook.md)`,
    );
    return;
  }
  const needed = t.channel ? (SEND_SCOPES[t.channel] ?? ANY_SEND_SCOPE) : ANY_SEND_SCOPE;
  const daysLeft = info.expiresAt ? (info.expiresAt - now.getTime() / 1000) / DAY_S : null;
  if (!needed.some((s) => info.scopes.includes(s)))
    f.critical(
      `graph.token.${t.label}`,
      `${what}: valid, but lacks the ${needed.join(' or ')} permission needed to send`,
    );
  else if (daysLeft !== null && daysLeft < CRITICAL_DAYS)
    f.critical(`graph.token.${t.label}`, `${what}: expires in ${Math.max(0, daysLeft).toFixed(1)} days`);
  else if (daysLeft !== null && daysLeft < WARN_DAYS)
    f.warning(`graph.token.${t.label}`, `${what}: expires in ${daysLeft.toFixed(1)} days`);
  else
    f.ok(
      `graph.token.${t.label}`,
      `${what}: valid${daysLeft === null ? ', never expires' : `, ${Math.floor(daysLeft)} days left`}`,
    );

  try {
    const apps = await withDeadline(graph.getSubscribedApps(t.node, t.token), 'subscribed_apps');
    const ours = apps.find((a) => a.id === appId);
    if (!ours) {
      f.critical(
        `graph.subscription.${t.label}`,
        `${what}: the app is NOT subscribed to its webhooks (Meta may have dropped it): resubscribe (docs/runbook.md)`,
      );
      return;
    }
    // The default token's node is its own Page, whose subscription carries the Messenger fields.
    const needed = requiredFields((t.channel ?? 'messenger') as PageChannel);
    const missing = needed.filter((field) => !ours.subscribedFields.includes(field));
    if (missing.length === 0) {
      f.ok(`graph.subscription.${t.label}`, `${what}: the app is subscribed to its webhooks (${needed.join(', ')})`);
      return;
    }
    const message = `${what}: the app's subscription lacks ${missing
      .map((field) => `${field} (${MISSING_FIELD_EFFECT[field] ?? 'its events never arrive'})`)
      .join('; ')}; resubscribe with subscribed_fields=${needed.join(',')} (docs/runbook.md)`;
    if (missing.includes('messages')) f.critical(`graph.subscription.${t.label}`, message);
    else f.warning(`graph.subscription.${t.label}`, message);
  } catch (err) {
    f.critical(`graph.subscription.${t.label}`, `${what}: cannot read subscribed_apps (${graphFailure(err)})`);
  }
}
