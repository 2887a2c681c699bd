import { Agent, type Dispatcher, request } from 'undici';

/** Statuses whose responses have no body. */
const NO_BODY = new Set([101, 103, 204, 205, 304]);

/** The response headers, read-only, looked up case-insensitively (undici gives lower-case names). */
class ResponseHeaders {
  readonly #map = new Map<string, string>();

  constructor(raw: Record<string, string | string[] | undefined>) {
    for (const [name, value] of Object.entries(raw)) {
      if (value !== undefined) this.#map.set(name.toLowerCase(), Array.isArray(value) ? value.join(', ') : value);
    }
  }

  get(name: string): string | null {
    return this.#map.get(name.toLowerCase()) ?? null;
  }

  has(name: string): boolean {
    return this.#map.has(name.toLowerCase());
  }

  entries(): IterableIterator<[string, string]> {
    return this.#map.entries();
  }

  keys(): IterableIterator<string> {
    return this.#map.keys();
  }

  values(): IterableIterator<string> {
    return this.#map.values();
  }

  forEach(callback: (value: string, name: string, headers: ResponseHeaders) => void): void {
    for (const [name, value] of this.#map) callback(value, name, this);
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.#map.entries();
  }
}

/**
 * A fully read response: what the SDK reads of one (`ok`, `status`, `statusText`, `headers.get`,
 * `headers.entries`, `json()`, `text()`), without the WHATWG Response's body stream, which costs a
 * Gemini call more CPU than the call's own socket work (docs/performance.md, decision
 * `gemini-pooled-fetch`).
 */
class BufferedResponse {
  readonly ok: boolean;
  readonly statusText = '';
  readonly redirected = false;
  readonly type = 'basic';
  #bytes: Buffer | null;

  constructor(
    readonly status: number,
    readonly headers: ResponseHeaders,
    bytes: Buffer,
    readonly url: string,
  ) {
    this.ok = status >= 200 && status <= 299;
    this.#bytes = NO_BODY.has(status) ? Buffer.alloc(0) : bytes;
  }

  get bodyUsed(): boolean {
    return this.#bytes === null;
  }

  #take(): Buffer {
    const bytes = this.#bytes;
    if (bytes === null) throw new TypeError('Body is unusable: Body has already been read');
    this.#bytes = null;
    return bytes;
  }

  async text(): Promise<string> {
    return this.#take().toString('utf8');
  }

  async json(): Promise<unknown> {
    return JSON.parse(this.#take().toString('utf8'));
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    const bytes = this.#take();
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  }
}

function requestHeaders(init: RequestInit['headers']): Record<string, string> {
  const headers: Record<string, string> = {};
  if (init === undefined) return headers;
  if (init instanceof Headers) {
    init.forEach((value, name) => {
      headers[name] = value;
    });
  } else if (Array.isArray(init)) {
    for (const [name, value] of init) headers[String(name).toLowerCase()] = String(value);
  } else {
    for (const [name, value] of Object.entries(init)) headers[name.toLowerCase()] = String(value);
  }
  return headers;
}

/**
 * A `fetch` for @google/genai (`httpOptions.fetch`) over undici's `request` and a pooled,
 * keep-alive Agent owned by the caller: the SDK's requests share warm sockets, and the WHATWG fetch
 * machinery (stream controllers, per-request dispatchers, Response and Headers objects) that costs
 * more CPU than the call itself on a busy worker is skipped. Only what `generateContent` needs is
 * supported — a string or bytes body, a response read whole; anything else is refused with a
 * clear error rather than sent wrong.
 */
export function pooledFetch(agent: Dispatcher): typeof fetch {
  return async (input, init = {}) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const body = init.body ?? undefined;
    if (body !== undefined && typeof body !== 'string' && !(body instanceof Uint8Array)) {
      throw new TypeError('pooledFetch supports string and byte bodies only');
    }
    const res = await request(url, {
      method: (init.method ?? 'GET') as Dispatcher.HttpMethod,
      headers: requestHeaders(init.headers),
      body,
      signal: init.signal ?? undefined,
      dispatcher: agent,
    });
    const bytes = Buffer.from(await res.body.arrayBuffer());
    return new BufferedResponse(res.statusCode, new ResponseHeaders(res.headers), bytes, url) as unknown as Response;
  };
}

/** The keep-alive pool for AI calls: a few sockets per origin, reused across calls. */
export function aiAgent(connections: number): Agent {
  return new Agent({ connections, keepAliveTimeout: 30_000, keepAliveMaxTimeout: 600_000 });
}
