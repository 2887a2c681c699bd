import { boolean, index, jsonb, pgTable, serial, text, timestamp } from 'drizzle-orm/pg-core';

/**
 * Pages / Instagram accounts and their tokens. `token_sealed` is AES-256-GCM (@switchboard/privacy
 * Sealer) and names its key id, so ENCRYPTION_KEY can be rotated.
 */
export const pages = pgTable('pages', {
  pageId: text('page_id').primaryKey(),
  channel: text('channel').notNull(),
  /** page | instagram_login */
  tokenKind: text('token_kind').notNull().default('page'),
  tokenSealed: text('token_sealed').notNull(),
  tokenKeyId: text('token_key_id').notNull(),
  /** unknown | valid | invalid */
  tokenStatus: text('token_status').notNull().default('unknown'),
  /** ok | notice | warning | critical */
  monitoringStatus: text('monitoring_status').notNull().default('ok'),
  expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }),
  dataAccessExpiresAt: timestamp('data_access_expires_at', { withTimezone: true, mode: 'date' }),
  neverExpires: boolean('never_expires').notNull().default(false),
  scopes: text('scopes').array(),
  tokenIssuedAt: timestamp('token_issued_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  lastCheckedAt: timestamp('last_checked_at', { withTimezone: true, mode: 'date' }),
  invalidatedAt: timestamp('invalidated_at', { withTimezone: true, mode: 'date' }),
  invalidReason: text('invalid_reason'),
  /** Meta restricted the sending account (WhatsApp 131048, 131031, 368): sends are held until an operator acts. */
  restrictedAt: timestamp('restricted_at', { withTimezone: true, mode: 'date' }),
  restrictedReason: text('restricted_reason'),
  /** A WhatsApp number's Business Account (a webhook's `entry[].id`): its webhook subscription is watched. */
  wabaId: text('waba_id'),
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
});

/** Every token check, refresh and re-subscription: the token monitoring history. */
export const tokenRefreshLog = pgTable(
  'token_refresh_log',
  {
    id: serial('id').primaryKey(),
    pageId: text('page_id').notNull(),
    /** check | refresh | resubscribe | invalidated | restricted | registered */
    action: text('action').notNull(),
    checkedAt: timestamp('checked_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    isValid: boolean('is_valid'),
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }),
    dataAccessExpiresAt: timestamp('data_access_expires_at', { withTimezone: true, mode: 'date' }),
    scopes: text('scopes').array(),
    status: text('status'),
    ok: boolean('ok').notNull().default(true),
    error: text('error'),
    details: jsonb('details'),
  },
  (t) => [index('token_refresh_log_page_idx').on(t.pageId, t.checkedAt)],
);
