/**
 * A small Graph API client for what Switchboard needs: the Send API, debug_token, subscribed_apps
 * and the Instagram token refresh. One pooled keep-alive undici Agent per client; every call is cut
 * at `timeoutMs`; every failure becomes a classified `GraphApiError`.
 *
 * Tokens travel in the `Authorization: Bearer` header, never in the URL, so proxies and access
 * logs that record URLs never see them; `appsecret_proof` (an HMAC, useless without the secret) goes
 * in the query string (https://developers.facebook.com/docs/graph-api/securing-requests). The two
 * exceptions are fixed by Meta's API shape: debug_token's `input_token` and the Instagram refresh's
 * `access_token` are query parameters by definition.
 */
import { Agent, request } from 'undici';
import { GraphApiError, sanitiseGraphMessage } from './graph-errors.js';
import { appSecretProof } from './signature.js';

export interface GraphClientOptions {
  /** e.g. https://graph.facebook.com, or a loopback stand-in in tests. */
  baseUrl: string;
  /** Pinned Graph API version, e.g. v25.0. */
  version: string;
  appSecret: string;
  /** Needed only for debugToken (the app token is `{app-id}|{app-secret}`). */
  appId?: string;
  timeoutMs: number;
  /** Sockets per origin. */
  connections?: number;
}

export interface SendTextArgs {
  pageId: string;
  accessToken: string;
  recipientId: string;
  text: string;
  /** Comes back on the echo (`message.metadata`), so we can recognise our own sends. */
  metadata?: string;
}

export interface SendWhatsAppTextArgs {
  /** The WhatsApp phone number id the reply goes out from (`metadata.phone_number_id`). */
  phoneNumberId: string;
  accessToken: string;
  /** The user's `wa_id`. */
  to: string;
  text: string;
}

export interface TokenDebugInfo {
  isValid: boolean;
  type: string | null;
  appId: string | null;
  /** Unix seconds; 0 = never expires. */
  expiresAt: number | null;
  dataAccessExpiresAt: number | null;
  scopes: string[];
  /** Graph's reason when the token is invalid, sanitised. */
  error: string | null;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/**
 * The code of a failed connection: on the error itself (undici's UND_ERR_…, a socket's
 * ECONNREFUSED), on its cause, or on the first of an AggregateError's attempts (Node tries each
 * address of a name in turn and reports them all).
 */
function networkCodeOf(err: unknown): string | null {
  if (!isObj(err)) return null;
  if (typeof err.code === 'string') return err.code;
  if (isObj(err.cause) && typeof err.cause.code === 'string') return err.cause.code;
  const first: unknown = Array.isArray(err.errors) ? err.errors[0] : null;
  return isObj(first) && typeof first.code === 'string' ? first.code : null;
}

interface Usage {
  percent: number | null;
  regainMs: number | null;
}

/**
 * `X-Business-Use-Case-Usage: {"<business-id>": [{type, call_count, total_cputime, total_time,
 * estimated_time_to_regain_access}]}` — percentages, and minutes until throttling lifts
 * (https://developers.facebook.com/docs/graph-api/overview/rate-limiting).
 */
function parseBusinessUseCaseUsage(raw: string | undefined): Usage {
  const usage: Usage = { percent: null, regainMs: null };
  if (!raw) return usage;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return usage;
  }
  if (!isObj(parsed)) return usage;
  for (const list of Object.values(parsed)) {
    if (!Array.isArray(list)) continue;
    for (const item of list) {
      if (!isObj(item)) continue;
      for (const field of ['call_count', 'total_cputime', 'total_time']) {
        const p = num(item[field]);
        if (p !== null) usage.percent = Math.max(usage.percent ?? 0, p);
      }
      const minutes = num(item.estimated_time_to_regain_access);
      if (minutes !== null && minutes > 0) usage.regainMs = Math.max(usage.regainMs ?? 0, minutes * 60_000);
    }
  }
  return usage;
}

function retryAfterMs(header: string | undefined): number | null {
  if (!header) return null;
  const seconds = Number(header);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : null;
}

interface CallOptions {
  method: 'GET' | 'POST';
  url: URL;
  /** Sent as a Bearer token, with its appsecret_proof in the query unless it is the app token. */
  token?: string;
  appToken?: boolean;
  json?: unknown;
}

/** The `meta` part of Switchboard's configuration that a Graph client needs. */
export interface GraphSettings {
  graphBaseUrl: string;
  graphVersion: string;
  appSecret: string;
  appId?: string | undefined;
  graphTimeoutMs: number;
}

/** A client for the configured Graph origin and version: the one way the processes build one. */
export function graphClientFor(
  meta: GraphSettings,
  overrides: { connections?: number; timeoutMs?: number } = {},
): GraphClient {
  return new GraphClient({
    baseUrl: meta.graphBaseUrl,
    version: meta.graphVersion,
    appSecret: meta.appSecret,
    ...(meta.appId ? { appId: meta.appId } : {}),
    timeoutMs: overrides.timeoutMs ?? meta.graphTimeoutMs,
    connections: overrides.connections ?? 4,
  });
}

export class GraphClient {
  private readonly agent: Agent;
  private readonly versionBase: string;
  private readonly baseUrl: string;
  private readonly appSecret: string;
  private readonly appId: string | null;
  private readonly timeoutMs: number;

  /** Highest percentage seen in the last `X-Business-Use-Case-Usage` header; slow down as it nears 100. */
  lastBusinessUseCaseUsage: number | null = null;

  constructor(opts: GraphClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.versionBase = `${this.baseUrl}/${opts.version}`;
    this.appSecret = opts.appSecret;
    this.appId = opts.appId ?? null;
    this.timeoutMs = opts.timeoutMs;
    this.agent = new Agent({
      connections: opts.connections ?? 32,
      // Keep sockets warm between bursts: a TLS handshake to graph.facebook.com costs more than the call.
      keepAliveTimeout: 30_000,
      keepAliveMaxTimeout: 120_000,
      connect: { timeout: opts.timeoutMs },
    });
  }

  /**
   * Send API: one text message as a reply inside the 24-hour window (`messaging_type: RESPONSE`,
   * https://developers.facebook.com/docs/messenger-platform/reference/send-api/). The caller splits
   * long texts first (splitMessage).
   */
  async sendText(args: SendTextArgs): Promise<{ messageId: string; recipientId: string }> {
    const message: Obj = { text: args.text };
    if (args.metadata !== undefined) message.metadata = args.metadata;
    const body = await this.call({
      method: 'POST',
      url: new URL(`${this.versionBase}/${encodeURIComponent(args.pageId)}/messages`),
      token: args.accessToken,
      json: { recipient: { id: args.recipientId }, messaging_type: 'RESPONSE', message },
    });
    const messageId = isObj(body) ? str(body.message_id) : null;
    if (messageId === null) {
      // Meta took the call but its answer cannot be read (not JSON, or no message id): the message
      // may well have gone out. Ambiguous like a timeout, and settled the same way (its echo).
      throw new GraphApiError({
        status: 200,
        unconfirmed: true,
        graphMessage: 'Send API answered without a readable message_id',
      });
    }
    const recipientId = isObj(body) ? str(body.recipient_id) : null;
    return { messageId, recipientId: recipientId ?? args.recipientId };
  }

  /**
   * WhatsApp Cloud API: one text message, inside the 24-hour customer service window, with link
   * previews off (a reply never fetches a URL the model wrote). The caller splits at 4096 characters.
   */
  async sendWhatsAppText(args: SendWhatsAppTextArgs): Promise<{ messageId: string }> {
    const body = await this.call({
      method: 'POST',
      url: new URL(`${this.versionBase}/${encodeURIComponent(args.phoneNumberId)}/messages`),
      token: args.accessToken,
      json: {
        messaging_product: 'whatsapp',
        recipient_type: 'individual',
        to: args.to,
        type: 'text',
        text: { body: args.text, preview_url: false },
      },
    });
    const first: unknown = isObj(body) && Array.isArray(body.messages) ? body.messages[0] : null;
    const messageId = isObj(first) ? str(first.id) : null;
    if (messageId === null) {
      throw new GraphApiError({
        status: 200,
        unconfirmed: true,
        graphMessage: 'WhatsApp answered without a readable message id',
      });
    }
    return { messageId };
  }

  /** Marks the user's message read (the blue ticks), on the same endpoint as a send. */
  async markWhatsAppRead(phoneNumberId: string, accessToken: string, messageId: string): Promise<void> {
    await this.call({
      method: 'POST',
      url: new URL(`${this.versionBase}/${encodeURIComponent(phoneNumberId)}/messages`),
      token: accessToken,
      json: { messaging_product: 'whatsapp', status: 'read', message_id: messageId },
    });
  }

  /** https://developers.facebook.com/docs/graph-api/reference/debug_token */
  async debugToken(inputToken: string): Promise<TokenDebugInfo> {
    if (this.appId === null) throw new TypeError('GraphClient needs appId to call debug_token');
    const url = new URL(`${this.versionBase}/debug_token`);
    url.searchParams.set('input_token', inputToken);
    // The app token already contains the secret, so no appsecret_proof goes with it.
    const body = await this.call({ method: 'GET', url, token: `${this.appId}|${this.appSecret}`, appToken: true });
    const data = isObj(body) && isObj(body.data) ? body.data : {};
    const err = isObj(data.error) ? str(data.error.message) : null;
    return {
      isValid: data.is_valid === true,
      type: str(data.type),
      appId: str(data.app_id),
      expiresAt: num(data.expires_at),
      dataAccessExpiresAt: num(data.data_access_expires_at),
      scopes: Array.isArray(data.scopes) ? data.scopes.filter((s): s is string => typeof s === 'string') : [],
      error: err === null ? null : sanitiseGraphMessage(err),
    };
  }

  /** Subscriptions can be dropped silently; this shows them (https://developers.facebook.com/docs/graph-api/reference/page/subscribed_apps/). */
  async getSubscribedApps(
    pageId: string,
    accessToken: string,
  ): Promise<Array<{ id: string; subscribedFields: string[] }>> {
    const body = await this.call({
      method: 'GET',
      url: new URL(`${this.versionBase}/${encodeURIComponent(pageId)}/subscribed_apps`),
      token: accessToken,
    });
    const data = isObj(body) && Array.isArray(body.data) ? body.data : [];
    const apps: Array<{ id: string; subscribedFields: string[] }> = [];
    for (const app of data) {
      const id = isObj(app) ? str(app.id) : null;
      if (!isObj(app) || id === null) continue;
      const fields = Array.isArray(app.subscribed_fields) ? app.subscribed_fields : [];
      apps.push({ id, subscribedFields: fields.filter((f): f is string => typeof f === 'string') });
    }
    return apps;
  }

  async subscribeApp(pageId: string, accessToken: string, fields: string[]): Promise<boolean> {
    const url = new URL(`${this.versionBase}/${encodeURIComponent(pageId)}/subscribed_apps`);
    url.searchParams.set('subscribed_fields', fields.join(','));
    const body = await this.call({ method: 'POST', url, token: accessToken });
    return isObj(body) && body.success === true;
  }

  /** The apps subscribed to a WhatsApp Business Account's webhooks, by app id. */
  async getWhatsAppSubscribedApps(wabaId: string, accessToken: string): Promise<string[]> {
    const body = await this.call({
      method: 'GET',
      url: new URL(`${this.versionBase}/${encodeURIComponent(wabaId)}/subscribed_apps`),
      token: accessToken,
    });
    const data = isObj(body) && Array.isArray(body.data) ? body.data : [];
    const ids: string[] = [];
    for (const app of data) {
      const info = isObj(app) && isObj(app.whatsapp_business_api_data) ? app.whatsapp_business_api_data : null;
      const id = info ? str(info.id) : null;
      if (id !== null) ids.push(id);
    }
    return ids;
  }

  /** Subscribes the token's app to a WhatsApp Business Account's webhooks (fields are the app's own). */
  async subscribeWhatsAppApp(wabaId: string, accessToken: string): Promise<boolean> {
    const url = new URL(`${this.versionBase}/${encodeURIComponent(wabaId)}/subscribed_apps`);
    const body = await this.call({ method: 'POST', url, token: accessToken });
    return isObj(body) && body.success === true;
  }

  /**
   * Extends an Instagram-Login user token (60 days, at least 24 h old). Meta serves this from
   * graph.instagram.com without a version; `instagramBaseUrl` defaults to `baseUrl` so a single
   * fake Graph can answer it in tests.
   */
  async refreshInstagramToken(
    accessToken: string,
    instagramBaseUrl?: string,
  ): Promise<{ accessToken: string; expiresInS: number }> {
    const url = new URL(`${(instagramBaseUrl ?? this.baseUrl).replace(/\/+$/, '')}/refresh_access_token`);
    url.searchParams.set('grant_type', 'ig_refresh_token');
    url.searchParams.set('access_token', accessToken);
    const body = await this.call({ method: 'GET', url });
    const token = isObj(body) ? str(body.access_token) : null;
    const expires = isObj(body) ? num(body.expires_in) : null;
    if (token === null || expires === null) {
      throw new GraphApiError({ kind: 'permanent', graphMessage: 'refresh_access_token answered without a token' });
    }
    return { accessToken: token, expiresInS: expires };
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  private async call(opts: CallOptions): Promise<unknown> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (opts.token !== undefined) {
      headers.authorization = `Bearer ${opts.token}`;
      if (!opts.appToken) opts.url.searchParams.set('appsecret_proof', appSecretProof(this.appSecret, opts.token));
    }
    let payload: string | undefined;
    if (opts.json !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(opts.json);
    }

    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.timeoutMs);

    try {
      const res = await request(opts.url, {
        method: opts.method,
        headers,
        body: payload,
        dispatcher: this.agent,
        signal: controller.signal,
      });
      const text = await res.body.text();
      const usage = parseBusinessUseCaseUsage(headerValue(res.headers['x-business-use-case-usage']));
      if (usage.percent !== null) this.lastBusinessUseCaseUsage = usage.percent;

      let body: unknown = null;
      try {
        body = text === '' ? null : JSON.parse(text);
      } catch {
        body = null; // a proxy's HTML error page: classified by status alone
      }
      const error = isObj(body) && isObj(body.error) ? body.error : null;
      if (res.statusCode >= 200 && res.statusCode < 300 && error === null) return body;

      const retryAfter = [usage.regainMs, retryAfterMs(headerValue(res.headers['retry-after']))].filter(
        (v): v is number => v !== null,
      );
      throw new GraphApiError({
        status: res.statusCode,
        code: num(error?.code),
        subcode: num(error?.error_subcode),
        type: str(error?.type),
        fbtraceId: str(error?.fbtrace_id),
        graphMessage: str(error?.message),
        retryAfterMs: retryAfter.length > 0 ? Math.max(...retryAfter) : null,
      });
    } catch (err) {
      if (err instanceof GraphApiError) throw err;
      if (timedOut)
        throw new GraphApiError({ timeout: true, graphMessage: `no answer from graph within ${this.timeoutMs} ms` });
      // Only the error code is kept: the original error is not attached, so nothing of the request leaks.
      throw new GraphApiError({ network: true, networkCode: networkCodeOf(err) });
    } finally {
      clearTimeout(timer);
    }
  }
}
