import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One generateContent request as the fake saw it. */
export interface FakeGeminiCall {
  model: string;
  apiKeyPresent: boolean;
  /** The system instruction's text, as the model would read it. */
  systemInstruction: string | null;
  /** Every turn of the request, in order (the last is the user's message). */
  contents: Array<{ role: string; text: string }>;
  userText: string;
  at: number;
}

export interface FakeGemini {
  /** Origin to pass as GEMINI_BASE_URL / `baseUrl`. */
  url: string;
  /** Every call, unless started with `recordCalls: false`. */
  calls: FakeGeminiCall[];
  /** The most generateContent calls the fake was answering at one time. */
  readonly maxInFlight: number;
  setReply(text: string): void;
  /** Delay before answering; a client that gives up meanwhile simply gets no answer. */
  setDelay(ms: number): void;
  /** Answer with `promptFeedback.blockReason` (e.g. 'SAFETY') and no candidates; null to stop. */
  setBlocked(reason: string | null): void;
  /** Answer with this candidate `finishReason` (e.g. 'PROHIBITED_CONTENT'); null means 'STOP'. */
  setFinishReason(reason: string | null): void;
  /** The next `count` calls fail with `status` and a Google-style error body carrying `message`. */
  failNext(status: number, count?: number, message?: string): void;
  setUsage(input: number, output: number): void;
  close(): Promise<void>;
}

const GENERATE_PATH = /^\/v1beta\/models\/([^/:]+):generateContent$/;

interface GenerateBody {
  contents?: Array<{ role?: string; parts?: Array<{ text?: string }> }>;
  systemInstruction?: { parts?: Array<{ text?: string }> } | string;
}

/**
 * A real HTTP server on loopback speaking the part of the Gemini REST API that @google/genai uses
 * for `models.generateContent` (POST /v1beta/models/{model}:generateContent, key in the
 * `x-goog-api-key` header), so the real SDK is exercised end to end.
 */
export async function startFakeGemini(opts: { recordCalls?: boolean } = {}): Promise<FakeGemini> {
  // The bench answers tens of thousands of calls and reads none of them back: it skips parsing and
  // keeping each request, so the fake's own CPU (on the same two cores) stays small.
  const recordCalls = opts.recordCalls ?? true;
  const calls: FakeGeminiCall[] = [];
  let reply = 'Hello from the fake.';
  let delayMs = 0;
  let blockReason: string | null = null;
  let finishReason: string | null = null;
  let failures: { status: number; remaining: number; message: string } | null = null;
  let usage = { input: 10, output: 5 };
  let inFlight = 0;
  let maxInFlight = 0;

  const answer = (res: ServerResponse, status: number, body: unknown): void => {
    if (res.destroyed || res.writableEnded) return;
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const match = GENERATE_PATH.exec(new URL(req.url ?? '/', 'http://x').pathname);
    if (req.method !== 'POST' || !match?.[1]) {
      answer(res, 404, { error: { code: 404, message: 'not found', status: 'NOT_FOUND' } });
      return;
    }
    const header = req.headers['x-goog-api-key'];
    const body = recordCalls ? (JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as GenerateBody) : undefined;
    if (body)
      calls.push({
        model: decodeURIComponent(match[1]),
        apiKeyPresent: typeof header === 'string' && header.length > 0,
        systemInstruction: textOf(body.systemInstruction),
        contents: (body.contents ?? []).map((c) => ({ role: c.role ?? '', text: textOf(c) ?? '' })),
        userText: textOf(body.contents?.at(-1)) ?? '',
        at: Date.now(),
      });

    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    res.once('close', () => {
      inFlight -= 1;
    });
    if (delayMs > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delayMs);
        res.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }

    if (failures && failures.remaining > 0) {
      failures.remaining -= 1;
      const { status, message } = failures;
      answer(res, status, {
        error: { code: status, message, status: status >= 500 ? 'INTERNAL' : 'INVALID_ARGUMENT' },
      });
      return;
    }
    const usageMetadata = {
      promptTokenCount: usage.input,
      candidatesTokenCount: usage.output,
      totalTokenCount: usage.input + usage.output,
    };
    if (blockReason) {
      answer(res, 200, { promptFeedback: { blockReason }, usageMetadata });
      return;
    }
    answer(res, 200, {
      candidates: [
        { content: { role: 'model', parts: [{ text: reply }] }, finishReason: finishReason ?? 'STOP', index: 0 },
      ],
      usageMetadata,
      modelVersion: match[1],
    });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() =>
      answer(res, 500, { error: { code: 500, message: 'fake failure', status: 'INTERNAL' } }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    get maxInFlight() {
      return maxInFlight;
    },
    setReply: (text) => {
      reply = text;
    },
    setDelay: (ms) => {
      delayMs = ms;
    },
    setBlocked: (reason) => {
      blockReason = reason;
    },
    setFinishReason: (reason) => {
      finishReason = reason;
    },
    failNext: (status, count = 1, message = 'fake error') => {
      failures = { status, remaining: count, message };
    },
    setUsage: (input, output) => {
      usage = { input, output };
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

function textOf(content: { parts?: Array<{ text?: string }> } | string | undefined): string | null {
  if (content === undefined) return null;
  if (typeof content === 'string') return content;
  return (content.parts ?? []).map((part) => part.text ?? '').join('');
}
