/**
 * A stand-in for Meta's Graph API: a real HTTP server on loopback that the real GraphClient (and
 * the worker) talk to. It answers like Meta: the Send API, debug_token, subscribed_apps and the
 * Instagram token refresh, with errors in Meta's `{error: {message, type, code, error_subcode,
 * fbtrace_id}}` shape, and checks appsecret_proof when given the app secret.
 *
 * Like Meta, a send that is delayed past the caller's timeout still counts as sent: a timeout is
 * ambiguous (https://developers.facebook.com/docs/messenger-platform/reference/send-api/).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { metaJson, signPayload } from '@switchboard/meta';

export interface FakeGraphSend {
  pageId: string;
  accessToken: string | null;
  appsecretProof: string | null;
  recipientId: string;
  text: string;
  messagingType: string;
  metadata: string | null;
  at: number;
  messageId: string;
  /** WhatsApp sends: the JSON body exactly as received. */
  body?: unknown;
}

/** A WhatsApp "mark as read" call (`status: read`). */
export interface FakeGraphRead {
  phoneNumberId: string;
  messageId: string;
  accessToken: string | null;
}

export interface FakeGraphFailure {
  status: number;
  code?: number;
  subcode?: number;
  message?: string;
  delayMs?: number;
  /** Extra response headers, e.g. Retry-After or X-Business-Use-Case-Usage. */
  headers?: Record<string, string>;
  /**
   * The message is delivered (recorded, echoed) but answered with `status` and this raw body
   * instead of Meta's JSON: what a proxy in the way, or a cut connection, can make of a success.
   */
  deliveredBody?: string;
}

export interface PersistentFailure {
  status: number;
  code: number;
  subcode?: number;
}

export interface TokenInfo {
  is_valid: boolean;
  expires_at?: number;
  data_access_expires_at?: number;
  scopes?: string[];
  type?: string;
}

export interface EchoTarget {
  /** The webhook URL of the API under test. */
  url: string;
  appSecret: string;
  appId: string;
}

export interface FakeGraph {
  url: string;
  sends: FakeGraphSend[];
  /** WhatsApp messages marked read. */
  reads: FakeGraphRead[];
  /** Every later WhatsApp mark-read call fails with this (null: succeed again). */
  failReads(response: PersistentFailure | null): void;
  requests: Array<{ method: string; path: string }>;
  failNextSends(...responses: FakeGraphFailure[]): void;
  failSendsFor(pageId: string, response: PersistentFailure | null): void;
  failSendsForToken(accessToken: string, response: PersistentFailure | null): void;
  setSendDelay(ms: number): void;
  /** Send Meta's echo of every delivered message to this webhook (null: stop). */
  echoTo(target: EchoTarget | null): void;
  setTokenInfo(token: string, data: TokenInfo): void;
  setSubscribedApps(pageId: string, apps: Array<{ id: string; subscribed_fields: string[] }>): void;
  /** The apps subscribed to a WhatsApp Business Account (answered in the WhatsApp shape). */
  setBusinessAccountApps(wabaId: string, appIds: string[]): void;
  businessAccountApps(wabaId: string): string[];
  waitForSends(n: number, timeoutMs?: number): Promise<FakeGraphSend[]>;
  close(): Promise<void>;
}

export interface FakeGraphOptions {
  /** When set, every call with a user/Page token must carry a matching appsecret_proof. */
  appSecret?: string;
  /** The app that `POST subscribed_apps` subscribes and debug_token reports. */
  appId?: string;
}

/** Meta's longest message is 2000 characters ("fewer than 2000"): longer ones fail with code 100. */
const MESSENGER_MAX_TEXT = 1999;
/** A WhatsApp text body holds at most 4096 characters. */
const WHATSAPP_MAX_TEXT = 4096;
const SIXTY_DAYS_S = 60 * 24 * 3600;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startFakeGraph(opts: FakeGraphOptions = {}): Promise<FakeGraph> {
  const appId = opts.appId ?? '900000000000001';
  const sends: FakeGraphSend[] = [];
  const reads: FakeGraphRead[] = [];
  let readFailure: PersistentFailure | null = null;
  const requests: Array<{ method: string; path: string }> = [];
  const scripted: FakeGraphFailure[] = [];
  const pageFailures = new Map<string, PersistentFailure>();
  const tokenFailures = new Map<string, PersistentFailure>();
  const tokenInfo = new Map<string, TokenInfo>();
  const subscribedApps = new Map<string, Array<{ id: string; subscribed_fields: string[] }>>();
  const businessAccounts = new Map<string, string[]>();
  const waiters = new Set<() => void>();
  let sendDelayMs = 0;
  let echoTarget: EchoTarget | null = null;
  let messageCounter = 0;
  let traceCounter = 0;
  let refreshCounter = 0;

  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    if (res.writableEnded || res.destroyed) return;
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };

  const graphError = (
    res: ServerResponse,
    f: { status: number; code?: number; subcode?: number; message?: string; headers?: Record<string, string> },
  ) => {
    const error: Record<string, unknown> = {
      message:
        f.message ?? (f.code === undefined ? 'An unexpected error has occurred.' : `(#${f.code}) Scripted failure`),
      type: 'OAuthException',
      fbtrace_id: `AfakeTrace${++traceCounter}`,
    };
    if (f.code !== undefined) error.code = f.code;
    if (f.subcode !== undefined) error.error_subcode = f.subcode;
    json(res, f.status, { error }, f.headers);
  };

  const tokenOf = (req: IncomingMessage, url: URL): string | null => {
    const auth = req.headers.authorization;
    if (auth?.startsWith('Bearer ')) return auth.slice('Bearer '.length);
    return url.searchParams.get('access_token');
  };

  /** Returns true when the request may proceed; otherwise it has answered like Meta. */
  const checkProof = (res: ServerResponse, token: string, proof: string | null): boolean => {
    if (opts.appSecret === undefined) return true;
    const expected = createHmac('sha256', opts.appSecret).update(token).digest('hex');
    const ok =
      proof !== null && proof.length === expected.length && timingSafeEqual(Buffer.from(proof), Buffer.from(expected));
    if (!ok)
      graphError(res, { status: 400, code: 100, message: 'Invalid appsecret_proof provided in the API argument' });
    return ok;
  };

  const requireToken = (res: ServerResponse, token: string | null): token is string => {
    if (token) return true;
    graphError(res, {
      status: 400,
      code: 2500,
      message: 'An active access token must be used to query information about the current user.',
    });
    return false;
  };

  async function handleSend(req: IncomingMessage, res: ServerResponse, url: URL, pageId: string): Promise<void> {
    const raw = await readBody(req);
    const token = tokenOf(req, url);
    const proof = url.searchParams.get('appsecret_proof');
    if (sendDelayMs > 0) await sleep(sendDelayMs);
    if (!requireToken(res, token) || !checkProof(res, token, proof)) return;

    const byToken = tokenFailures.get(token);
    if (byToken) return graphError(res, byToken);
    const byPage = pageFailures.get(pageId);
    if (byPage) return graphError(res, byPage);
    let parsed: unknown = null;
    try {
      parsed = JSON.parse(raw);
    } catch {
      // answered below, after any scripted failure, like Meta
    }
    if (
      typeof parsed === 'object' &&
      parsed !== null &&
      (parsed as Record<string, unknown>).messaging_product === 'whatsapp'
    ) {
      return handleWhatsApp(res, pageId, token, proof, parsed as Record<string, unknown>);
    }
    const next = scripted.shift();
    if (next && next.deliveredBody === undefined) {
      if (next.delayMs) await sleep(next.delayMs);
      return graphError(res, next);
    }

    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      return graphError(res, { status: 400, code: 100, message: '(#100) Invalid JSON body' });
    }
    const field = (v: unknown, key: string): unknown =>
      typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[key] : undefined;
    const recipientId = field(field(body, 'recipient'), 'id');
    const message = field(body, 'message');
    const text = field(message, 'text');
    const messagingType = field(body, 'messaging_type');
    if (
      typeof recipientId !== 'string' ||
      typeof text !== 'string' ||
      text === '' ||
      typeof messagingType !== 'string'
    ) {
      return graphError(res, {
        status: 400,
        code: 100,
        message: '(#100) The parameter recipient, message or messaging_type is missing',
      });
    }
    if (text.length > MESSENGER_MAX_TEXT) {
      return graphError(res, {
        status: 400,
        code: 100,
        message: '(#100) Length of param message[text] must be less than or equal to 2000',
      });
    }
    const metadata = field(message, 'metadata');
    const send: FakeGraphSend = {
      pageId,
      accessToken: token,
      appsecretProof: proof,
      recipientId,
      text,
      messagingType,
      metadata: typeof metadata === 'string' ? metadata : null,
      at: Date.now(),
      messageId: `m_${++messageCounter}`,
    };
    sends.push(send);
    for (const wake of waiters) wake();
    if (next?.deliveredBody !== undefined) {
      res.writeHead(next.status, { 'content-type': 'text/html' });
      res.end(next.deliveredBody);
    } else json(res, 200, { recipient_id: recipientId, message_id: send.messageId });
    if (echoTarget) void postEcho(echoTarget, send);
  }

  /**
   * The Cloud API's messages endpoint: a text send (`type: text`) or a mark-read (`status: read`).
   * Scripted failures apply to sends only, so a test scripts a send's answer whatever reads follow.
   */
  function handleWhatsApp(
    res: ServerResponse,
    phoneNumberId: string,
    token: string,
    proof: string | null,
    body: Record<string, unknown>,
  ): void {
    if (body.status === 'read') {
      if (typeof body.message_id !== 'string')
        return graphError(res, { status: 400, code: 100, message: '(#100) Param message_id is required' });
      if (readFailure) return graphError(res, readFailure);
      reads.push({ phoneNumberId, messageId: body.message_id, accessToken: token });
      return json(res, 200, { success: true });
    }
    const next = scripted.shift();
    if (next) return graphError(res, next);
    const text =
      typeof body.text === 'object' && body.text !== null ? (body.text as Record<string, unknown>).body : undefined;
    if (body.type !== 'text' || typeof body.to !== 'string' || typeof text !== 'string' || text === '') {
      return graphError(res, { status: 400, code: 131008, message: '(#131008) Required parameter is missing' });
    }
    if (text.length > WHATSAPP_MAX_TEXT)
      return graphError(res, {
        status: 400,
        code: 100,
        message: '(#100) Param text[body] must be at most 4096 characters long.',
      });
    const send: FakeGraphSend = {
      pageId: phoneNumberId,
      accessToken: token,
      appsecretProof: proof,
      recipientId: body.to,
      text,
      messagingType: 'whatsapp',
      metadata: null,
      at: Date.now(),
      messageId: `wamid.FAKE${++messageCounter}`,
      body,
    };
    sends.push(send);
    for (const wake of waiters) wake();
    json(res, 200, {
      messaging_product: 'whatsapp',
      contacts: [{ input: body.to, wa_id: body.to }],
      messages: [{ id: send.messageId }],
    });
  }

  /** Like Meta with the message_echoes field subscribed: each delivered send comes back as a signed echo webhook. */
  async function postEcho(target: EchoTarget, send: FakeGraphSend): Promise<void> {
    const ts = Date.now();
    const body = metaJson({
      object: 'page',
      entry: [
        {
          id: send.pageId,
          time: ts,
          messaging: [
            {
              sender: { id: send.pageId },
              recipient: { id: send.recipientId },
              timestamp: ts,
              message: {
                mid: send.messageId,
                is_echo: true,
                app_id: Number(target.appId),
                metadata: send.metadata ?? undefined,
                text: send.text,
              },
            },
          ],
        },
      ],
    });
    await fetch(target.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': signPayload(target.appSecret, body) },
      body,
    })
      .then((r) => r.arrayBuffer())
      .catch(() => undefined);
  }

  async function handleDebugToken(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const appToken = tokenOf(req, url);
    if (!appToken?.includes('|') || (opts.appSecret !== undefined && appToken !== `${appId}|${opts.appSecret}`)) {
      return graphError(res, { status: 400, code: 190, message: 'Invalid OAuth access token signature.' });
    }
    const input = url.searchParams.get('input_token') ?? '';
    const info = tokenInfo.get(input);
    if (!info) {
      return json(res, 200, {
        data: {
          is_valid: false,
          scopes: [],
          error: { code: 190, message: 'Invalid OAuth access token - Cannot parse access token' },
        },
      });
    }
    json(res, 200, {
      data: {
        app_id: appId,
        type: info.type ?? 'PAGE',
        application: 'Switchboard Test',
        expires_at: info.expires_at ?? 0,
        data_access_expires_at: info.data_access_expires_at ?? 0,
        is_valid: info.is_valid,
        scopes: info.scopes ?? ['pages_messaging'],
      },
    });
  }

  async function handleSubscribedApps(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    pageId: string,
  ): Promise<void> {
    await readBody(req);
    const token = tokenOf(req, url);
    if (!requireToken(res, token) || !checkProof(res, token, url.searchParams.get('appsecret_proof'))) return;
    const byToken = tokenFailures.get(token);
    if (byToken) return graphError(res, byToken);
    const accountApps = businessAccounts.get(pageId);
    if (accountApps) {
      // A WhatsApp Business Account: no fields in the request, the app's own in the answer.
      if (req.method === 'GET') {
        return json(res, 200, {
          data: accountApps.map((id) => ({
            whatsapp_business_api_data: { id, link: 'https://example.test/', name: 'Switchboard Test' },
          })),
        });
      }
      businessAccounts.set(pageId, [...accountApps.filter((id) => id !== appId), appId]);
      return json(res, 200, { success: true });
    }
    const apps = subscribedApps.get(pageId) ?? [];
    if (req.method === 'GET') {
      return json(res, 200, {
        data: apps.map((a) => ({
          category: 'Business',
          link: 'https://example.test/',
          name: 'Switchboard Test',
          ...a,
        })),
      });
    }
    const fields = (url.searchParams.get('subscribed_fields') ?? '').split(',').filter(Boolean);
    if (fields.length === 0)
      return graphError(res, { status: 400, code: 100, message: '(#100) Param subscribed_fields is required' });
    const others = apps.filter((a) => a.id !== appId);
    subscribedApps.set(pageId, [...others, { id: appId, subscribed_fields: fields }]);
    json(res, 200, { success: true });
  }

  async function handleInstagramRefresh(res: ServerResponse, url: URL): Promise<void> {
    const token = url.searchParams.get('access_token');
    if (url.searchParams.get('grant_type') !== 'ig_refresh_token') {
      return graphError(res, { status: 400, code: 100, message: 'Unsupported grant_type' });
    }
    if (!requireToken(res, token)) return;
    const byToken = tokenFailures.get(token);
    if (byToken) return graphError(res, byToken);
    json(res, 200, {
      access_token: `test-ig-token-refreshed-${++refreshCounter}`,
      token_type: 'bearer',
      expires_in: SIXTY_DAYS_S,
    });
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = req.method ?? 'GET';
    // The path only: query strings carry tokens, which even a test log should not collect.
    requests.push({ method, path: url.pathname });
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const handle = async () => {
      if (method === 'GET' && parts.at(-1) === 'refresh_access_token' && parts.length <= 2)
        return handleInstagramRefresh(res, url);
      if (method === 'GET' && parts.length === 2 && parts[1] === 'debug_token') return handleDebugToken(req, res, url);
      if (parts.length === 3 && parts[2] === 'messages' && method === 'POST')
        return handleSend(req, res, url, parts[1] as string);
      if (parts.length === 3 && parts[2] === 'subscribed_apps' && (method === 'GET' || method === 'POST')) {
        return handleSubscribedApps(req, res, url, parts[1] as string);
      }
      graphError(res, {
        status: 400,
        code: 100,
        message: 'Unsupported request - method type or path not known to the fake Graph API',
      });
    };
    handle().catch(() => graphError(res, { status: 500, code: 1, message: 'An unknown error occurred' }));
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    sends,
    reads,
    failReads: (response) => {
      readFailure = response;
    },
    requests,
    failNextSends: (...responses) => {
      scripted.push(...responses);
    },
    failSendsFor: (pageId, response) => {
      if (response === null) pageFailures.delete(pageId);
      else pageFailures.set(pageId, response);
    },
    failSendsForToken: (token, response) => {
      if (response === null) tokenFailures.delete(token);
      else tokenFailures.set(token, response);
    },
    echoTo: (target) => {
      echoTarget = target;
    },
    setSendDelay: (ms) => {
      sendDelayMs = ms;
    },
    setTokenInfo: (token, data) => {
      tokenInfo.set(token, data);
    },
    setBusinessAccountApps: (wabaId, appIds) => {
      businessAccounts.set(wabaId, [...appIds]);
    },
    businessAccountApps: (wabaId) => [...(businessAccounts.get(wabaId) ?? [])],
    setSubscribedApps: (pageId, apps) => {
      subscribedApps.set(
        pageId,
        apps.map((a) => ({ id: a.id, subscribed_fields: [...a.subscribed_fields] })),
      );
    },
    waitForSends: (n, timeoutMs = 5000) =>
      new Promise<FakeGraphSend[]>((resolve, reject) => {
        if (sends.length >= n) return resolve(sends.slice());
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`fake Graph saw ${sends.length} of ${n} expected sends within ${timeoutMs} ms`));
        }, timeoutMs);
        const check = () => {
          if (sends.length < n) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(sends.slice());
        };
        waiters.add(check);
      }),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
