/**
 * The longest model answer kept, in UTF-16 code units, before Markdown is stripped and the reply
 * split into messages. MAX_OUTPUT_TOKENS (400) asks the model for far less (~1 600 characters); this
 * bounds what a model that ignores it, or a misbehaving endpoint, can make the worker process and
 * the user receive: at most two Messenger messages, and Markdown stripping stays cheap.
 */
export const MAX_REPLY_CHARS = 4000;

/** Ends a sentence when followed by whitespace: Latin, Arabic ؟, Urdu ۔, Devanagari ।. */
const SPACED_TERMINATOR = /[.!?…؟۔।]["'”’»)\]]*$/;
/** CJK full-width terminators end a sentence with no space after them. */
const CJK_TERMINATOR = /[。！？]$/;

/**
 * Cuts `text` to at most `max` code units, at the last sentence end when that keeps at least half,
 * otherwise at the last whitespace, otherwise at `max` (never between a surrogate pair's halves).
 */
export function capReplyText(text: string, max = MAX_REPLY_CHARS): string {
  if (text.length <= max) return text;
  let word = -1;
  for (let i = max; i > max / 2; i--) {
    const next = text[i] as string;
    const before = text.slice(Math.max(0, i - 4), i);
    if (CJK_TERMINATOR.test(before)) return text.slice(0, i).trimEnd();
    if (!/\s/.test(next)) continue;
    if (SPACED_TERMINATOR.test(before)) return text.slice(0, i).trimEnd();
    if (word < 0) word = i;
  }
  if (word > 0) return text.slice(0, word).trimEnd();
  const last = text.charCodeAt(max - 1);
  return text.slice(0, last >= 0xd800 && last <= 0xdbff ? max - 1 : max);
}
