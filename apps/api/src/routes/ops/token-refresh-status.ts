import { and, desc, inArray } from 'drizzle-orm';
import { type Database, tokenRefreshLog } from '@switchboard/db';
import {
  DEFAULT_TOKEN_PAGE_ID,
  DEFAULT_WHATSAPP_TOKEN_PAGE_ID,
  deriveTokenStatus,
  type GraphVersionStatus,
  graphVersionStatus,
  type MonitoringStatus,
  type PageChannel,
  type PageTokenStore,
  requiredFields,
  requiredScopes,
  storedTokenStatus,
  worstStatus,
} from '@switchboard/pages';

export type ActionPriority = 'critical' | 'high' | 'medium' | 'low';

export interface ActionNeeded {
  priority: ActionPriority;
  action: string;
  message: string;
  instructions: string[];
}

export interface PageMonitoring {
  page_id: string;
  channel: string;
  token_kind: string;
  token_status: string;
  monitoring_status: MonitoringStatus;
  days_left: number | null;
  expires_at: string | null;
  data_access_expires_at: string | null;
  last_checked_at: string | null;
  scopes_ok: boolean | null;
  reasons: string[];
  /** Why Meta restricted the sending number, while its sends are held for it. */
  restricted_reason?: string | null;
}

export interface TokenRefreshStatus {
  refresh_monitoring: {
    status: MonitoringStatus;
    graph_api: GraphVersionStatus;
    pages: PageMonitoring[];
    actions_needed: ActionNeeded[];
  };
}

export interface RefreshStatusDeps {
  db: Database;
  pages: PageTokenStore;
  appId: string | undefined;
  defaultTokenConfigured: boolean;
  /** WHATSAPP_ACCESS_TOKEN is set. */
  defaultWhatsAppTokenConfigured?: boolean;
  graphVersion: string;
  now?: Date;
}

const PRIORITY_ORDER: readonly ActionPriority[] = ['critical', 'high', 'medium', 'low'];

/**
 * The overall status an action needed implies, on the scale the pages' statuses use: a token that
 * expires within 3 / 7 / 30 days is critical / warning / notice (packages/pages token-status.ts)
 * and asks for a critical / high / medium renewal (pageActions), so critical → critical, high →
 * warning, medium → notice. Low actions (a check not run yet, data access lapsing, a restored subscription) are a
 * notice, as an unchecked token is: something to look at, nothing broken.
 */
export const ACTION_STATUS: Readonly<Record<ActionPriority, MonitoringStatus>> = {
  critical: 'critical',
  high: 'warning',
  medium: 'notice',
  low: 'notice',
};

/**
 * refresh_monitoring.status: the worst page, raised to what the most urgent action needed implies —
 * some actions concern no page (FACEBOOK_APP_ID missing, no token at all, the Graph version), and
 * "ok" next to a critical action would tell a dashboard or an alert that nothing needs doing.
 */
export function overallStatus(
  pages: ReadonlyArray<Pick<PageMonitoring, 'monitoring_status'>>,
  actions: ReadonlyArray<Pick<ActionNeeded, 'priority'>>,
): MonitoringStatus {
  return worstStatus([...pages.map((p) => p.monitoring_status), ...actions.map((a) => ACTION_STATUS[a.priority])]);
}

const DAY_MS = 24 * 3600 * 1000;
/** Data access (90 days after the user's last activity) is worth a note this long before it lapses. */
const DATA_ACCESS_NOTICE_MS = 14 * DAY_MS;
/** A restored subscription stays in the list this long, so someone looks at why it was dropped. */
const RESUBSCRIBED_NOTICE_MS = 7 * DAY_MS;

const iso = (d: Date | null | undefined): string | null => (d ? d.toISOString() : null);

const DEBUGGER_STEP =
  'Open the Access Token Debugger (https://developers.facebook.com/tools/debug/accesstoken/), paste the token this page uses and read "Valid", "Expires" and "Scopes".';
/** The last step of most actions; the dashboard puts it as its own button. */
export const CHECK_STEP =
  'Run the check again: POST /ops/tokens/check (HTTP Basic, ADMIN_USER), and confirm the page shows monitoring_status "ok".';

function registerStep(pageId: string, channel: string, kind: string): string {
  const kindField = kind === 'instagram_login' ? ', "token_kind": "instagram_login"' : '';
  return `Register it: PUT /ops/pages/${pageId} with the JSON body {"access_token": "<new token>", "channel": "${channel}"${kindField}} (e.g. curl -u "$ADMIN_USER" -X PUT https://<your-host>/ops/pages/${pageId} -H 'content-type: application/json' -d @token.json). Sends held for this page go out as soon as it is stored.`;
}

function newTokenSteps(channel: string, kind: string): string[] {
  if (kind === 'instagram_login') {
    return [
      'In the App Dashboard (https://developers.facebook.com/apps/) open your app → Instagram → "API setup with Instagram login" and generate a new access token for the account (it lasts 60 days; Switchboard refreshes it automatically afterwards).',
    ];
  }
  if (channel === 'whatsapp') {
    return [
      'In Meta Business Settings (https://business.facebook.com/settings/) open Users → System users, select (or add) a system user with access to the WhatsApp Business Account, and click "Generate new token" for your app with the permissions whatsapp_business_messaging and whatsapp_business_management. A system user token does not expire.',
    ];
  }
  const permission = channel === 'instagram' ? 'instagram_basic, instagram_manage_messages' : 'pages_messaging';
  return [
    `In the Graph API Explorer (https://developers.facebook.com/tools/explorer/) select your app, add the permissions pages_show_list, pages_manage_metadata and ${permission}, and click "Generate Access Token" as a person with a full-control role on the Page.`,
    'Exchange that short-lived user token for a long-lived one: GET https://graph.facebook.com/<version>/oauth/access_token?grant_type=fb_exchange_token&client_id=<app-id>&client_secret=<app-secret>&fb_exchange_token=<short-lived token> (keep this call off shared shells: it carries the app secret).',
    'With the long-lived user token call GET /me/accounts and copy the access_token of the Page: a Page token obtained this way does not expire (https://developers.facebook.com/docs/pages/access-tokens/). Check it in the Access Token Debugger: "Expires: Never".',
  ];
}

function replaceTokenAction(
  priority: ActionPriority,
  action: string,
  message: string,
  page: { page_id: string; channel: string; token_kind: string },
): ActionNeeded {
  return {
    priority,
    action,
    message,
    instructions: [
      DEBUGGER_STEP,
      ...newTokenSteps(page.channel, page.token_kind),
      registerStep(page.page_id, page.channel, page.token_kind),
      CHECK_STEP,
    ],
  };
}

interface LatestLog {
  pageId: string;
  action: string;
  ok: boolean;
  checkedAt: Date;
  isValid: boolean | null;
  expiresAt: Date | null;
  dataAccessExpiresAt: Date | null;
  scopes: string[] | null;
  error: string | null;
  details: unknown;
}

/** The newest successful and the newest failed row of each (page, action). */
async function latestLogs(db: Database): Promise<Map<string, LatestLog>> {
  const rows = await db
    .selectDistinctOn([tokenRefreshLog.pageId, tokenRefreshLog.action, tokenRefreshLog.ok], {
      pageId: tokenRefreshLog.pageId,
      action: tokenRefreshLog.action,
      ok: tokenRefreshLog.ok,
      checkedAt: tokenRefreshLog.checkedAt,
      isValid: tokenRefreshLog.isValid,
      expiresAt: tokenRefreshLog.expiresAt,
      dataAccessExpiresAt: tokenRefreshLog.dataAccessExpiresAt,
      scopes: tokenRefreshLog.scopes,
      error: tokenRefreshLog.error,
      details: tokenRefreshLog.details,
    })
    .from(tokenRefreshLog)
    .where(and(inArray(tokenRefreshLog.action, ['check', 'refresh', 'resubscribe'])))
    .orderBy(
      tokenRefreshLog.pageId,
      tokenRefreshLog.action,
      tokenRefreshLog.ok,
      desc(tokenRefreshLog.checkedAt),
      desc(tokenRefreshLog.id),
    );
  const out = new Map<string, LatestLog>();
  for (const row of rows) out.set(`${row.pageId}|${row.action}|${row.ok}`, row);
  return out;
}

/** The newest failure of (page, action) when it is newer than the newest success, else null. */
function unresolvedFailure(logs: Map<string, LatestLog>, pageId: string, action: string): LatestLog | null {
  const failed = logs.get(`${pageId}|${action}|false`);
  const succeeded = logs.get(`${pageId}|${action}|true`);
  if (!failed) return null;
  return !succeeded || failed.checkedAt > succeeded.checkedAt ? failed : null;
}

/**
 * GET /ops/token-refresh-status (its shape: docs/api.md): every token's monitoring status, derived now
 * from what the last check recorded (days left move with the clock), and the step-by-step actions
 * an operator should take, most urgent first.
 */
export async function buildTokenRefreshStatus(deps: RefreshStatusDeps): Promise<TokenRefreshStatus> {
  const now = deps.now ?? new Date();
  const appIdMissing = !deps.appId;
  const [rows, logs] = await Promise.all([deps.pages.list(), latestLogs(deps.db)]);
  const pages: PageMonitoring[] = [];
  const actions: ActionNeeded[] = [];

  for (const row of rows) {
    const derived = storedTokenStatus(row, { appIdMissing, now });
    const page: PageMonitoring = {
      page_id: row.pageId,
      channel: row.channel,
      token_kind: row.tokenKind,
      token_status: row.tokenStatus,
      monitoring_status: derived.status,
      days_left: derived.daysLeft,
      expires_at: iso(row.expiresAt),
      data_access_expires_at: iso(row.dataAccessExpiresAt),
      last_checked_at: iso(row.lastCheckedAt),
      scopes_ok: derived.scopesOk,
      reasons: derived.reasons,
      restricted_reason: row.restrictedReason,
    };
    pages.push(page);
    actions.push(...pageActions(page, row.invalidReason, row.dataAccessExpiresAt, logs, now));
  }

  for (const fallback of DEFAULT_TOKENS) {
    if (!(fallback.channel === 'whatsapp' ? deps.defaultWhatsAppTokenConfigured : deps.defaultTokenConfigured))
      continue;
    const last = logs.get(`${fallback.pageId}|check|true`);
    const details = (last?.details ?? {}) as { never_expires?: boolean };
    const derived = deriveTokenStatus(
      {
        channel: fallback.channel,
        isValid: last?.isValid ?? null,
        expiresAt: last?.expiresAt ?? null,
        neverExpires: details.never_expires === true,
        scopes: last?.scopes ?? null,
        appIdMissing,
      },
      now,
    );
    const page: PageMonitoring = {
      page_id: fallback.pageId,
      channel: fallback.channel,
      token_kind: 'page',
      token_status: last?.isValid === true ? 'valid' : last?.isValid === false ? 'invalid' : 'unknown',
      monitoring_status: derived.status,
      days_left: derived.daysLeft,
      expires_at: iso(last?.expiresAt),
      data_access_expires_at: iso(last?.dataAccessExpiresAt),
      last_checked_at: iso(last?.checkedAt),
      scopes_ok: derived.scopesOk,
      reasons: derived.reasons,
    };
    pages.push(page);
    actions.push(...defaultTokenActions(page, logs, fallback));
  }

  if (appIdMissing) {
    actions.push({
      priority: 'critical',
      action: 'set_facebook_app_id',
      message:
        'FACEBOOK_APP_ID is not set: tokens cannot be checked (debug_token needs the app token) and dropped webhook subscriptions cannot be detected.',
      instructions: [
        'Find the App ID in the App Dashboard (https://developers.facebook.com/apps/) → your app → App settings → Basic.',
        'Set FACEBOOK_APP_ID=<app id> in the environment (.env or your deployment) of the API and every worker.',
        'Restart the API and the workers (the check also runs once at worker start).',
        CHECK_STEP,
      ],
    });
  }
  if (rows.length === 0 && !deps.defaultTokenConfigured && !deps.defaultWhatsAppTokenConfigured) {
    actions.push({
      priority: 'high',
      action: 'register_page_token',
      message: 'No Page token is configured: replies are recorded but not sent (dry run).',
      instructions: [...newTokenSteps('messenger', 'page'), registerStep('<page-id>', 'messenger', 'page'), CHECK_STEP],
    });
  }

  const graphApi = graphVersionStatus(deps.graphVersion, now);
  if (graphApi.warning) {
    actions.push({
      priority: graphApi.days_left !== null && graphApi.days_left <= 30 ? 'high' : 'medium',
      action: 'upgrade_graph_api_version',
      message: `The pinned Graph API version ${graphApi.version} reaches its end of life ${graphApi.end_of_life ? `on ${graphApi.end_of_life}` : '(already retired)'}; after that Meta silently serves the oldest live version.`,
      instructions: [
        'Read the changes since the pinned version in the Graph API changelog (https://developers.facebook.com/docs/graph-api/changelog) and the Messenger Platform changelog.',
        'Set GRAPH_API_VERSION to the newest version in a staging deployment and send a test message through each Page.',
        'Set it in production and restart the API and the workers; GET /health shows graph_api.version and its end of life.',
      ],
    });
  }

  actions.sort((a, b) => PRIORITY_ORDER.indexOf(a.priority) - PRIORITY_ORDER.indexOf(b.priority));
  return {
    refresh_monitoring: {
      status: overallStatus(pages, actions),
      graph_api: graphApi,
      pages,
      actions_needed: actions,
    },
  };
}

function pageActions(
  page: PageMonitoring,
  invalidReason: string | null,
  dataAccessExpiresAt: Date | null,
  logs: Map<string, LatestLog>,
  now: Date,
): ActionNeeded[] {
  const out: ActionNeeded[] = [];
  const id = page.page_id;
  if (page.restricted_reason) {
    out.push({
      priority: 'critical',
      action: 'lift_restriction',
      message: `Meta restricted number ${id} (${page.restricted_reason}); its replies are held until an operator acts.`,
      instructions: [
        "Meta restricted this number: check WhatsApp Manager's account quality page (Account tools → Account quality) and resolve what it reports, or wait out a spam rate limit.",
        `Then register the number's token again (the same one will do): ${registerStep(id, page.channel, page.token_kind)}`,
      ],
    });
  }
  if (page.token_status === 'invalid') {
    out.push(
      replaceTokenAction(
        'critical',
        'replace_invalid_token',
        `The token of page ${id} is invalid (${invalidReason ?? 'rejected by Meta'}); its replies are held until a new token is registered.`,
        page,
      ),
    );
  } else if (page.days_left !== null && page.days_left <= 30) {
    const priority: ActionPriority = page.days_left <= 3 ? 'critical' : page.days_left <= 7 ? 'high' : 'medium';
    const auto =
      page.token_kind === 'instagram_login'
        ? ' Switchboard refreshes Instagram-Login tokens automatically within 10 days of expiry; act if it keeps failing.'
        : '';
    out.push(
      replaceTokenAction(
        priority,
        'renew_token',
        `The token of page ${id} expires in ${page.days_left} days (${page.expires_at}).${auto}`,
        page,
      ),
    );
  }
  if (page.scopes_ok === false) {
    const needed = requiredScopes(page.channel as PageChannel)
      .map((g) => g.join(' or '))
      .join(', ');
    out.push({
      priority: 'critical',
      action: 'grant_permissions',
      message: `The token of page ${id} lacks the ${needed} permission: Meta will refuse its replies.`,
      instructions: [
        DEBUGGER_STEP,
        `Make sure the app has ${needed} approved (App Dashboard → App Review → Permissions and Features) or that the person generating the token has a role on the app.`,
        ...newTokenSteps(page.channel, page.token_kind),
        registerStep(id, page.channel, page.token_kind),
        CHECK_STEP,
      ],
    });
  }
  if (page.last_checked_at === null && page.token_status !== 'invalid') {
    out.push({
      priority: 'low',
      action: 'run_token_check',
      message: `The token of page ${id} has not been checked yet.`,
      instructions: [CHECK_STEP],
    });
  }
  if (dataAccessExpiresAt && dataAccessExpiresAt.getTime() - now.getTime() < DATA_ACCESS_NOTICE_MS) {
    out.push({
      priority: 'low',
      action: 'renew_data_access',
      message: `Data access for the token of page ${id} lapses on ${dataAccessExpiresAt.toISOString()}; generating a new token renews it.`,
      instructions: [
        DEBUGGER_STEP,
        ...newTokenSteps(page.channel, page.token_kind),
        registerStep(id, page.channel, page.token_kind),
      ],
    });
  }

  const checkFailed = unresolvedFailure(logs, id, 'check');
  if (checkFailed && checkFailed.error !== 'app id missing') {
    out.push({
      priority: 'medium',
      action: 'token_check_failed',
      message: `The last check of page ${id} could not complete: ${checkFailed.error ?? 'unknown error'}.`,
      instructions: [
        'Check that the workers reach graph.facebook.com (GET /health, worker logs with this page id).',
        CHECK_STEP,
      ],
    });
  }
  const refreshFailed = unresolvedFailure(logs, id, 'refresh');
  if (refreshFailed) {
    out.push(
      replaceTokenAction(
        'high',
        'instagram_token_refresh_failed',
        `The automatic refresh of the Instagram token of page ${id} failed: ${refreshFailed.error ?? 'unknown error'}.`,
        page,
      ),
    );
  }
  const resubscribeFailed = unresolvedFailure(logs, id, 'resubscribe');
  const fields = requiredFields(page.channel as PageChannel).join(',');
  if (resubscribeFailed) {
    out.push({
      priority: 'high',
      action: 'restore_webhook_subscription',
      message: `Page ${id} is not (fully) subscribed to the app's webhooks and re-subscribing failed: ${resubscribeFailed.error ?? 'unknown error'}. Messages to it are not delivered to Switchboard.`,
      instructions:
        page.channel === 'whatsapp'
          ? [
              `Number ${id}'s WhatsApp Business Account is not subscribed to the app: call POST https://graph.facebook.com/<version>/<WhatsApp Business Account id>/subscribed_apps with the number's token, and check the "messages" field in the App Dashboard → WhatsApp → Configuration.`,
              'If the token lacks whatsapp_business_management, generate a new one with it and register it with PUT /ops/pages/:pageId.',
              CHECK_STEP,
            ]
          : [
              `In the App Dashboard open Messenger (or Instagram) → Settings → Webhooks, and subscribe page ${id} to ${fields}.`,
              `Or call POST https://graph.facebook.com/<version>/${id}/subscribed_apps?subscribed_fields=${fields} with the page's token.`,
              'If the page token lacks pages_manage_metadata, generate a new one with it and register it with PUT /ops/pages/:pageId.',
              CHECK_STEP,
            ],
    });
  } else {
    const restored = logs.get(`${id}|resubscribe|true`);
    if (restored && now.getTime() - restored.checkedAt.getTime() < RESUBSCRIBED_NOTICE_MS) {
      out.push({
        priority: 'low',
        action: 'webhook_subscription_restored',
        message: `The webhook subscription of page ${id} had been dropped and was restored on ${restored.checkedAt.toISOString()}.`,
        instructions: [
          'Meta drops subscriptions after sustained webhook delivery failures: look for 5xx answers or downtime of /webhook around that time (GET /ops/telemetry, API logs).',
          'Messages sent to the page while it was unsubscribed were not delivered and cannot be fetched again.',
        ],
      });
    }
  }
  return out;
}

/** The tokens used where none is registered: one for Pages and Instagram accounts, one for WhatsApp numbers. */
const DEFAULT_TOKENS = [
  {
    pageId: DEFAULT_TOKEN_PAGE_ID,
    channel: 'messenger',
    variable: 'FACEBOOK_PAGE_ACCESS_TOKEN',
    users: 'pages',
    permission: 'pages_messaging',
  },
  {
    pageId: DEFAULT_WHATSAPP_TOKEN_PAGE_ID,
    channel: 'whatsapp',
    variable: 'WHATSAPP_ACCESS_TOKEN',
    users: 'WhatsApp numbers',
    permission: 'whatsapp_business_messaging',
  },
] as const satisfies ReadonlyArray<{
  pageId: string;
  channel: PageChannel;
  variable: string;
  users: string;
  permission: string;
}>;

function defaultTokenActions(
  page: PageMonitoring,
  logs: Map<string, LatestLog>,
  fallback: (typeof DEFAULT_TOKENS)[number],
): ActionNeeded[] {
  const out: ActionNeeded[] = [];
  const { variable, users, channel } = fallback;
  const replaceDefault = (priority: ActionPriority, action: string, message: string): ActionNeeded => ({
    priority,
    action,
    message,
    instructions: [
      DEBUGGER_STEP,
      ...newTokenSteps(channel, 'page'),
      `Either set ${variable} to the new token and restart the API and the workers, or (better, one token per page or number) register it for each: PUT /ops/pages/<id> with "channel": "${channel}".`,
      CHECK_STEP,
    ],
  });
  if (page.token_status === 'invalid') {
    out.push(
      replaceDefault(
        'critical',
        'replace_default_token',
        `The default token (${variable}) is invalid: ${users} without a registered token cannot be answered.`,
      ),
    );
  } else if (page.days_left !== null && page.days_left <= 30) {
    const priority: ActionPriority = page.days_left <= 3 ? 'critical' : page.days_left <= 7 ? 'high' : 'medium';
    out.push(
      replaceDefault(
        priority,
        'renew_default_token',
        `The default token (${variable}) expires in ${page.days_left} days.`,
      ),
    );
  }
  if (page.scopes_ok === false)
    out.push(
      replaceDefault(
        'critical',
        'grant_permissions',
        `The default token (${variable}) lacks the ${fallback.permission} permission.`,
      ),
    );
  const checkFailed = unresolvedFailure(logs, fallback.pageId, 'check');
  if (checkFailed && checkFailed.error !== 'app id missing') {
    out.push({
      priority: 'medium',
      action: 'token_check_failed',
      message: `The last check of the default token (${variable}) could not complete: ${checkFailed.error ?? 'unknown error'}.`,
      instructions: [CHECK_STEP],
    });
  }
  if (page.last_checked_at === null && !checkFailed) {
    out.push({
      priority: 'low',
      action: 'run_token_check',
      message: `The default token (${variable}) has not been checked yet.`,
      instructions: [CHECK_STEP],
    });
  }
  return out;
}
