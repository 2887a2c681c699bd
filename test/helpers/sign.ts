/**
 * Builds webhook bodies the way Meta sends them, and signs them.
 *
 * Meta's JSON escapes every non-ASCII character as \uXXXX (surrogate pairs for emoji) and may
 * escape `/` as `\/`; the signature covers those exact bytes
 * (https://developers.facebook.com/docs/graph-api/webhooks/getting-started/). Tests that sign
 * `JSON.stringify` output instead would pass for English and miss the production failure.
 */
import { metaJson, signPayload } from '@switchboard/meta';

export { metaJson };

export interface SignedRequest {
  body: string;
  headers: { 'content-type': 'application/json'; 'x-hub-signature-256': string };
}

/** A string payload is sent (and signed) verbatim; anything else goes through metaJson. */
export function signedRequest(appSecret: string, payload: unknown): SignedRequest {
  const body = typeof payload === 'string' ? payload : metaJson(payload);
  return { body, headers: { 'content-type': 'application/json', 'x-hub-signature-256': signPayload(appSecret, body) } };
}

export interface Envelope {
  object: string;
  entry: Array<Record<string, unknown>>;
}

interface MessageArgs {
  pageId: string;
  senderId: string;
  mid: string;
  text: string;
  timestamp?: number;
}

function messagingEnvelope(object: string, pageId: string, timestamp: number, item: Record<string, unknown>): Envelope {
  return { object, entry: [{ id: pageId, time: timestamp + 150, messaging: [{ timestamp, ...item }] }] };
}

/** A user's text message to a Page (object "page"). */
export function messengerText(args: MessageArgs): Envelope {
  const ts = args.timestamp ?? Date.now();
  return messagingEnvelope('page', args.pageId, ts, {
    sender: { id: args.senderId },
    recipient: { id: args.pageId },
    message: { mid: args.mid, text: args.text },
  });
}

/** A button tap: Meta sends the button's title and payload (and, nowadays, a mid). */
export function messengerPostback(args: {
  pageId: string;
  senderId: string;
  title: string;
  payload: string;
  mid?: string;
  timestamp?: number;
}): Envelope {
  const ts = args.timestamp ?? Date.now();
  const postback: Record<string, unknown> = { title: args.title, payload: args.payload };
  if (args.mid !== undefined) postback.mid = args.mid;
  return messagingEnvelope('page', args.pageId, ts, {
    sender: { id: args.senderId },
    recipient: { id: args.pageId },
    postback,
  });
}

/** Our own send coming back: the Page is the sender; `app_id` is a number in Meta's payloads. */
export function messengerEcho(args: {
  pageId: string;
  recipientId: string;
  mid: string;
  text: string;
  appId: string;
  metadata?: string;
  timestamp?: number;
}): Envelope {
  const ts = args.timestamp ?? Date.now();
  const message: Record<string, unknown> = {
    mid: args.mid,
    is_echo: true,
    app_id: Number(args.appId),
    text: args.text,
  };
  if (args.metadata !== undefined) message.metadata = args.metadata;
  return messagingEnvelope('page', args.pageId, ts, {
    sender: { id: args.pageId },
    recipient: { id: args.recipientId },
    message,
  });
}

/** A DM to an Instagram professional account (object "instagram"; ids are IGSIDs). */
export function instagramText(args: MessageArgs): Envelope {
  const ts = args.timestamp ?? Date.now();
  return messagingEnvelope('instagram', args.pageId, ts, {
    sender: { id: args.senderId },
    recipient: { id: args.pageId },
    message: { mid: args.mid, text: args.text },
  });
}

/** One POST carrying many entries (Meta batches up to 1000 updates, possibly from several Pages). */
export function batch(object: string, entries: Array<Record<string, unknown>>): Envelope {
  return { object, entry: entries };
}
