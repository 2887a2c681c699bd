import type { DbHandle } from '@switchboard/db';
import { hashId } from '@switchboard/privacy';

/**
 * How a WhatsApp message id (`wamid.…`) is kept in the reply's record and its sent marker: a
 * `wamid` is base64 that carries the recipient's phone number, so it is kept as its HMAC under
 * PSID_HASH_SECRET, like every user id, and a `failed` status is matched by the same HMAC.
 * Messenger and Instagram ids carry no personal data and stay as Meta gives them: their echoes
 * are matched by them.
 */
export function keptMessageId(channel: string, messageId: string, hashSecret: string): string {
  return channel === 'whatsapp' ? hashId(hashSecret, messageId) : messageId;
}

/**
 * How far back a reply is looked for: Meta retries a status webhook for up to 7 days; an older
 * reply's row is left as it is.
 */
const LOOK_BACK_DAYS = 8;

/**
 * The one statement of recordDeliveryFailure (exported so a test can read its plan): $1 the days
 * looked back, $2 Meta's error code, $3 the number's id, $4 the kept message id, $5 the reason.
 * The reply is found through the GIN index of WhatsApp replies' message ids, not by reading every
 * reply of those days.
 */
export const DELIVERY_FAILURE_SQL = `
  with r as (
    update replies set status = 'failed', error_code = $2
    where created_at > now() - make_interval(days => $1)
      and channel = 'whatsapp' and page_id = $3 and graph_message_ids @> array[$4]::text[]
    returning event_id
  )
  update events set outcome = 'delivery_failed', last_error = $5, last_error_code = $2, updated_at = now()
  where id in (select event_id from r)
  returning id`;

export interface DeliveryFailure {
  /** The WhatsApp phone number id the reply went out from. */
  pageId: string;
  /** The message id Meta gave the reply (a WhatsApp `wamid`) as kept: keptMessageId of what the status names. */
  keptMessageId: string;
  errorCode: number | null;
  /** Plain words for operators: no personal data. */
  reason: string;
}

/**
 * A reply Meta accepted and later reported undelivered (a WhatsApp `failed` status): its reply row
 * turns `failed` and its event's outcome `delivery_failed`, with the code and the reason, so
 * /ops/events/:id shows why the user never got it. One statement; the reply is found by the id
 * kept among its `graph_message_ids`, among the number's replies of the last LOOK_BACK_DAYS.
 * Resolves to the event id, or null when no reply has that id (a message another app sent, or
 * one older than that).
 */
export async function recordDeliveryFailure(dbh: DbHandle, f: DeliveryFailure): Promise<string | null> {
  const rows = await dbh.sql.unsafe<Array<{ id: string }>>(DELIVERY_FAILURE_SQL, [
    LOOK_BACK_DAYS,
    f.errorCode,
    f.pageId,
    f.keptMessageId,
    f.reason,
  ]);
  return rows[0]?.id ?? null;
}
