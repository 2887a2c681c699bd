import { Agent, type Dispatcher, request } from 'undici';

/** Statuses whose responses have no body (a Response with one would throw). */
const NO_BODY = new Set([101, 103, 204, 205, 304]);

/**
 * A `fetch` for @google/genai (`httpOptions.fetch`) over undici's `request` and a pooled,
 * keep-alive Agent owned by the caller: the SDK's requests share warm sockets, and the WHATWG fetch
 * machinery (stream controllers, per-request dispatchers) that costs more CPU than the call itself
 * on a busy worker is skipped. Only what `generateContent` sends is supported — a string or bytes
 * body; anything else is refused with a clear error rather than sent wrong.
 */
export function pooledFetch(agent: Dispatcher): typeof fetch {
  return async (input, init = {}) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const body = init.body ?? undefined;
    if (body !== undefined && typeof body !== 'string' && !(body instanceof Uint8Array)) {
      throw new TypeError('pooledFetch supports string and byte bodies only');
    }
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((value, name) => {
      headers[name] = value;
    });
    const res = await request(url, {
      method: (init.method ?? 'GET') as Dispatcher.HttpMethod,
      headers,
      body,
      signal: init.signal ?? undefined,
      dispatcher: agent,
    });
    const bytes = await res.body.arrayBuffer();
    const out = new Headers();
    for (const [name, value] of Object.entries(res.headers)) {
      if (value === undefined) continue;
      for (const v of Array.isArray(value) ? value : [value]) out.append(name, v);
    }
    return new Response(NO_BODY.has(res.statusCode) ? null : bytes, { status: res.statusCode, headers: out });
  };
}

/** The keep-alive pool for AI calls: a few sockets per origin, reused across calls. */
export function aiAgent(connections: number): Agent {
  return new Agent({ connections, keepAliveTimeout: 30_000, keepAliveMaxTimeout: 600_000 });
}
