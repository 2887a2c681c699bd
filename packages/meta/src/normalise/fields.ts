/**
 * Defensive readers of a webhook's JSON values: an id, string or number of the wrong type is
 * INVALID (its item is skipped) rather than an exception.
 */
import type { EntryContext } from './event-identity.js';
import type { NormalisedEvent } from './normalised-event.js';

export type Obj = Record<string, unknown>;
export const INVALID = Symbol('invalid');
export type Invalid = typeof INVALID;

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Ids are strings; a safe integer is accepted and stringified, anything else is malformed. */
export function readId(v: unknown): string | null | Invalid {
  if (v === undefined || v === null) return null;
  if (typeof v === 'string') return v.length > 0 ? v : INVALID;
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return String(v);
  return INVALID;
}

export function readStr(v: unknown): string | null | Invalid {
  if (v === undefined || v === null) return null;
  return typeof v === 'string' ? v : INVALID;
}

export function readNum(v: unknown): number | null {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && /^\d+$/.test(v)) return Number(v);
  return null;
}

/** The latest time a JavaScript Date can hold (ECMA-262, "Time Values and Time Range"). */
const MAX_DATE_MS = 8.64e15;

/**
 * A number as an event's `timestamp` (milliseconds): whole, not before 1970, not past the last date
 * JavaScript can hold — or null, so the next source fills it. The job schema refuses anything else,
 * and a job the worker refuses is an acknowledged event never recorded.
 */
export function asTimestamp(v: number | null): number | null {
  if (v === null) return null;
  const ms = Math.round(v);
  return ms >= 0 && ms <= MAX_DATE_MS ? ms : null;
}

export function readMids(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((m): m is string => typeof m === 'string' && m.length > 0) : [];
}

/**
 * One item, read so that nothing in it can fail the delivery: a reader that throws on a shape
 * nobody foresaw skips that item, like any other odd one, instead of answering the batch with 500.
 */
export function readSafely(
  read: (ctx: EntryContext, item: unknown) => NormalisedEvent | null,
  ctx: EntryContext,
  item: unknown,
): NormalisedEvent | null {
  try {
    return read(ctx, item);
  } catch {
    return null;
  }
}
