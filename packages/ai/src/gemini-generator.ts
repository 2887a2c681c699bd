import { type Content, GoogleGenAI, type GenerateContentResponse } from '@google/genai';
import { AiBlockedError, AiError } from './ai-errors.js';
import type { GenerateResult, HistoryTurn, ReplyGenerator } from './reply-generator.js';
import { capReplyText } from './cap-reply.js';
import { aiAgent, pooledFetch } from './pooled-fetch.js';
import { runWithDeadline } from './run-with-deadline.js';
import { stripMarkdown } from './strip-markdown.js';
import { MAX_OUTPUT_TOKENS, systemInstructionFor } from './system-instruction.js';

/** Finish reasons that mean the answer was withheld or cut for policy reasons, not a failure. */
const BLOCKING_FINISH_REASONS = new Set(['SAFETY', 'PROHIBITED_CONTENT', 'BLOCKLIST', 'SPII']);

export interface GeminiGeneratorOptions {
  apiKey: string;
  model: string;
  /** A stand-in origin such as a loopback fake; undefined means Google's default endpoint. */
  baseUrl?: string;
  timeoutMs: number;
  /** The HTTP client under the SDK; by default a pooled keep-alive one of this generator's own. */
  fetch?: typeof fetch;
  /** Sockets of that default pool: as many as calls may run at once (a worker's concurrency). */
  connections?: number;
}

/**
 * Replies through Google's Gemini API (`models.generateContent`); the system instruction is the
 * house rules followed by the business's instructions.
 */
export class GeminiGenerator implements ReplyGenerator {
  readonly #client: GoogleGenAI;
  readonly #model: string;
  readonly #timeoutMs: number;

  constructor(opts: GeminiGeneratorOptions) {
    this.#model = opts.model;
    this.#timeoutMs = opts.timeoutMs;
    this.#client = new GoogleGenAI({
      apiKey: opts.apiKey,
      // Explicit, so a stray GOOGLE_GENAI_USE_VERTEXAI in the environment cannot switch backends.
      vertexai: false,
      // No retryOptions: a retry cannot fit inside a 3 s budget, and the job queue retries anyway.
      httpOptions: {
        fetch: opts.fetch ?? pooledFetch(aiAgent(opts.connections ?? 16)),
        ...(opts.baseUrl ? { baseUrl: opts.baseUrl } : {}),
      },
    });
  }

  async generate(
    userText: string,
    signal: AbortSignal,
    businessInstructions?: string,
    history: readonly HistoryTurn[] = [],
  ): Promise<GenerateResult> {
    const response = await runWithDeadline(
      (abortSignal) =>
        this.#client.models.generateContent({
          model: this.#model,
          contents: conversationContents(history, userText),
          config: {
            systemInstruction: systemInstructionFor(businessInstructions),
            maxOutputTokens: MAX_OUTPUT_TOKENS,
            candidateCount: 1,
            abortSignal,
          },
        }),
      this.#timeoutMs,
      signal,
    );
    return readAnswer(response);
  }
}

/**
 * The conversation as Gemini's multi-turn `contents`: earlier turns oldest first, then the user's
 * current message. Gemini expects the roles to alternate and the last turn to be the user's, so
 * consecutive turns of one role (the user writing twice, the bot and then the staff) become one
 * content with a part each.
 */
export function conversationContents(history: readonly HistoryTurn[], userText: string): Content[] {
  const contents: Content[] = [];
  for (const turn of [...history, { role: 'user' as const, text: userText }]) {
    const last = contents.at(-1);
    if (last?.role === turn.role) last.parts?.push({ text: turn.text });
    else contents.push({ role: turn.role, parts: [{ text: turn.text }] });
  }
  return contents;
}

function readAnswer(response: GenerateContentResponse): GenerateResult {
  const blockReason = response.promptFeedback?.blockReason;
  if (blockReason) throw new AiBlockedError(`prompt blocked: ${blockReason}`);

  const candidate = response.candidates?.[0];
  const finishReason = candidate?.finishReason;
  if (finishReason && BLOCKING_FINISH_REASONS.has(finishReason)) {
    throw new AiBlockedError(`answer blocked: ${finishReason}`);
  }

  // Read the parts directly rather than through `response.text`, which warns on the console for
  // non-text parts; thought summaries are never shown to the user.
  const raw = (candidate?.content?.parts ?? [])
    .filter((part) => typeof part.text === 'string' && part.thought !== true)
    .map((part) => part.text)
    .join('');
  // Capped before anything else reads it: stripping and splitting cost grows with the length.
  const text = stripMarkdown(capReplyText(raw));
  if (text.length === 0) throw new AiError('empty answer');

  const meta = response.usageMetadata;
  if (!meta) return { text };
  return {
    text,
    usage: {
      inputTokens: meta.promptTokenCount ?? 0,
      // Thinking tokens are billed at the output price.
      outputTokens: (meta.candidatesTokenCount ?? 0) + (meta.thoughtsTokenCount ?? 0),
    },
  };
}
