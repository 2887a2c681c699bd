import { and, eq, isNotNull, lte, ne, sql } from 'drizzle-orm';
import { type Database, pages, tokenRefreshLog } from '@switchboard/db';
import type { Sealer } from '@switchboard/privacy';
import { pageTokenAad } from './token-aad.js';
import type { MonitoringStatus, PageChannel } from './token-status.js';

export type TokenStatus = 'unknown' | 'valid' | 'invalid';

export interface ResolvedToken {
  token: string;
  status: TokenStatus;
  source: 'registered' | 'default';
  /** Why Meta restricted the sending account, while it is: its sends are held until an operator acts. */
  restrictedReason: string | null;
}

const aad = pageTokenAad;

/** One registered token, opened, for the token check. `sealed` guards later writes against a concurrent PUT. */
export interface CheckTarget {
  pageId: string;
  channel: PageChannel;
  kind: 'page' | 'instagram_login';
  /** null when the stored blob cannot be opened (its key is no longer configured). */
  token: string | null;
  sealed: string;
  tokenStatus: TokenStatus;
  tokenIssuedAt: Date;
  expiresAt: Date | null;
  /** A WhatsApp number's Business Account, once a webhook named it. */
  wabaId: string | null;
}

export interface CheckOutcome {
  isValid: boolean;
  expiresAt: Date | null;
  dataAccessExpiresAt: Date | null;
  neverExpires: boolean;
  scopes: string[];
  status: MonitoringStatus;
  /** Why the token is invalid (sanitised), when it is. */
  reason: string | null;
}

/**
 * The Page / Instagram account tokens, in PostgreSQL's `pages` table: sealed at rest (bound to
 * their page), looked up per send (with a short per-process cache so a send does not cost a
 * query), marked invalid on Graph error 190, and updated by the token check.
 */
export class PageTokenStore {
  private cache = new Map<string, { at: number; value: ResolvedToken | null }>();

  constructor(
    private readonly deps: {
      db: Database;
      sealer: Sealer;
      defaultToken?: string | undefined;
      /** WhatsApp phone numbers fall back to their own default (a system-user token), never to the Page one. */
      defaultWhatsAppToken?: string | undefined;
      cacheMs?: number;
    },
  ) {}

  /** Registers or replaces a page's token; a replaced invalid token's held sends may then be released. */
  async register(
    pageId: string,
    channel: PageChannel,
    accessToken: string,
    kind: 'page' | 'instagram_login' = 'page',
  ): Promise<{ replaced: boolean; wasInvalid: boolean }> {
    const { db, sealer } = this.deps;
    const sealed = sealer.seal(accessToken, aad(pageId));
    const before = await db.select({ status: pages.tokenStatus }).from(pages).where(eq(pages.pageId, pageId));
    const now = new Date();
    const values = {
      pageId,
      channel,
      tokenKind: kind,
      tokenSealed: sealed,
      tokenKeyId: sealer.currentKeyId,
      tokenStatus: 'unknown',
      monitoringStatus: 'ok',
      expiresAt: null,
      dataAccessExpiresAt: null,
      neverExpires: false,
      scopes: null,
      tokenIssuedAt: now,
      invalidatedAt: null,
      invalidReason: null,
      // A new token is the operator's answer to a restriction too: sends are tried again.
      restrictedAt: null,
      restrictedReason: null,
      lastCheckedAt: null,
      updatedAt: now,
    };
    await db.insert(pages).values(values).onConflictDoUpdate({ target: pages.pageId, set: values });
    await db.insert(tokenRefreshLog).values({ pageId, action: 'registered', ok: true, status: 'unknown' });
    this.cache.delete(pageId);
    return { replaced: before.length > 0, wasInvalid: before[0]?.status === 'invalid' };
  }

  /** The default token of a channel's pages (numbers), if one is configured. */
  private defaultFor(channel: PageChannel | undefined): string | undefined {
    return channel === 'whatsapp' ? this.deps.defaultWhatsAppToken : this.deps.defaultToken;
  }

  /**
   * The token to send with for a page: its own, else its channel's default, else null (dry run).
   * Without a channel the Page default applies (Messenger and Instagram share it).
   */
  async resolve(pageId: string, channel?: PageChannel): Promise<ResolvedToken | null> {
    const registered = await this.registered(pageId);
    if (registered) return registered;
    const fallback = this.defaultFor(channel);
    return fallback ? { token: fallback, status: 'unknown', source: 'default', restrictedReason: null } : null;
  }

  /** The page's own token, through a short per-process cache (a send must not cost a query). */
  private async registered(pageId: string): Promise<ResolvedToken | null> {
    const cached = this.cache.get(pageId);
    if (cached && Date.now() - cached.at < (this.deps.cacheMs ?? 1000)) return cached.value;
    const rows = await this.deps.db
      .select({ sealed: pages.tokenSealed, status: pages.tokenStatus, restrictedReason: pages.restrictedReason })
      .from(pages)
      .where(eq(pages.pageId, pageId));
    const row = rows[0];
    const value: ResolvedToken | null = row
      ? {
          token: this.deps.sealer.open(row.sealed, aad(pageId)),
          status: row.status as TokenStatus,
          source: 'registered',
          restrictedReason: row.restrictedReason,
        }
      : null;
    this.cache.set(pageId, { at: Date.now(), value });
    return value;
  }

  /**
   * Graph said the token is dead (190/102) or debug_token said invalid. A page that used the default
   * token gets its own row (holding the sealed default) so its state can be tracked and replaced.
   */
  async markInvalid(pageId: string, channel: PageChannel, reason: string): Promise<void> {
    await this.#markState(
      pageId,
      channel,
      { tokenStatus: 'invalid', monitoringStatus: 'critical', invalidatedAt: new Date(), invalidReason: reason },
      { action: 'invalidated', ok: false, isValid: false, status: 'critical', error: reason },
    );
  }

  /**
   * Meta restricted the sending account (WhatsApp spam limit, locked or restricted account): its
   * token still works, but every send fails alike until a person acts, so sends are held. A number
   * that used the default token gets its own row, as in markInvalid.
   */
  async markRestricted(pageId: string, channel: PageChannel, reason: string): Promise<void> {
    await this.#markState(
      pageId,
      channel,
      { restrictedAt: new Date(), restrictedReason: reason },
      { action: 'restricted', ok: false, status: 'critical', error: reason },
    );
  }

  /**
   * Sets a page's state, giving a page that used the default token a row of its own (holding the
   * sealed default), and logs the change.
   */
  async #markState(
    pageId: string,
    channel: PageChannel,
    state: Partial<typeof pages.$inferInsert>,
    log: Omit<typeof tokenRefreshLog.$inferInsert, 'pageId'>,
  ): Promise<void> {
    const { db, sealer } = this.deps;
    const updated = await db
      .update(pages)
      .set({ ...state, updatedAt: new Date() })
      .where(eq(pages.pageId, pageId))
      .returning({ pageId: pages.pageId });
    const fallback = this.defaultFor(channel);
    if (updated.length === 0 && fallback) {
      await db
        .insert(pages)
        .values({
          pageId,
          channel,
          tokenSealed: sealer.seal(fallback, aad(pageId)),
          tokenKeyId: sealer.currentKeyId,
          ...state,
        })
        .onConflictDoNothing();
    }
    await db.insert(tokenRefreshLog).values({ pageId, ...log });
    this.cache.delete(pageId);
  }

  /** Records the Business Account a registered WhatsApp number belongs to (a no-op when already known). */
  async recordBusinessAccount(pageId: string, wabaId: string): Promise<void> {
    await this.deps.db
      .update(pages)
      .set({ wabaId })
      .where(
        and(eq(pages.pageId, pageId), eq(pages.channel, 'whatsapp'), sql`${pages.wabaId} is distinct from ${wabaId}`),
      );
  }

  /** The token as stored now, past this process's cache (after a change made elsewhere). */
  async resolveFresh(pageId: string, channel?: PageChannel): Promise<ResolvedToken | null> {
    this.cache.delete(pageId);
    return this.resolve(pageId, channel);
  }

  /** Every registered page, without its token. */
  async list() {
    return this.deps.db
      .select({
        pageId: pages.pageId,
        channel: pages.channel,
        tokenKind: pages.tokenKind,
        tokenStatus: pages.tokenStatus,
        monitoringStatus: pages.monitoringStatus,
        expiresAt: pages.expiresAt,
        dataAccessExpiresAt: pages.dataAccessExpiresAt,
        neverExpires: pages.neverExpires,
        scopes: pages.scopes,
        lastCheckedAt: pages.lastCheckedAt,
        invalidatedAt: pages.invalidatedAt,
        invalidReason: pages.invalidReason,
        restrictedAt: pages.restrictedAt,
        restrictedReason: pages.restrictedReason,
        wabaId: pages.wabaId,
        tokenIssuedAt: pages.tokenIssuedAt,
        updatedAt: pages.updatedAt,
      })
      .from(pages)
      .orderBy(pages.pageId);
  }

  /** Pages whose token is known dead (health reports `degraded`). */
  async invalidCount(): Promise<number> {
    const rows = await this.deps.db
      .select({ n: sql<number>`count(*)::int` })
      .from(pages)
      .where(eq(pages.tokenStatus, 'invalid'));
    return rows[0]?.n ?? 0;
  }

  /** Every registered token, opened, for the token check (never logged, never returned by an API). */
  async checkTargets(): Promise<CheckTarget[]> {
    const rows = await this.deps.db
      .select({
        pageId: pages.pageId,
        channel: pages.channel,
        kind: pages.tokenKind,
        sealed: pages.tokenSealed,
        tokenStatus: pages.tokenStatus,
        tokenIssuedAt: pages.tokenIssuedAt,
        expiresAt: pages.expiresAt,
        wabaId: pages.wabaId,
      })
      .from(pages)
      .orderBy(pages.pageId);
    return rows.map((row) => {
      let token: string | null = null;
      try {
        token = this.deps.sealer.open(row.sealed, aad(row.pageId));
      } catch {
        token = null;
      }
      return {
        ...row,
        channel: row.channel as PageChannel,
        kind: row.kind === 'instagram_login' ? 'instagram_login' : 'page',
        tokenStatus: row.tokenStatus as TokenStatus,
        token,
      };
    });
  }

  /**
   * Stores what debug_token said about the token that was checked (`sealedSeen`): if a new token was
   * registered meanwhile, nothing is written, so a check of the old token cannot condemn the new one.
   */
  async recordCheck(
    pageId: string,
    sealedSeen: string,
    outcome: CheckOutcome,
  ): Promise<{ updated: boolean; becameInvalid: boolean; becameValid: boolean }> {
    const { db } = this.deps;
    const now = new Date();
    const before = await db
      .select({ status: pages.tokenStatus })
      .from(pages)
      .where(and(eq(pages.pageId, pageId), eq(pages.tokenSealed, sealedSeen)));
    const previous = before[0]?.status;
    if (previous === undefined) return { updated: false, becameInvalid: false, becameValid: false };
    const facts = {
      monitoringStatus: outcome.status,
      expiresAt: outcome.expiresAt,
      dataAccessExpiresAt: outcome.dataAccessExpiresAt,
      neverExpires: outcome.neverExpires,
      scopes: outcome.scopes,
      lastCheckedAt: now,
      updatedAt: now,
    };
    const set = outcome.isValid
      ? { ...facts, tokenStatus: 'valid', invalidatedAt: null, invalidReason: null }
      : previous === 'invalid'
        ? { ...facts, tokenStatus: 'invalid' }
        : {
            ...facts,
            tokenStatus: 'invalid',
            invalidatedAt: now,
            invalidReason: outcome.reason ?? 'debug_token: invalid',
          };
    const updated = await db
      .update(pages)
      .set(set)
      .where(and(eq(pages.pageId, pageId), eq(pages.tokenSealed, sealedSeen)))
      .returning({ pageId: pages.pageId });
    this.cache.delete(pageId);
    if (updated.length === 0) return { updated: false, becameInvalid: false, becameValid: false };
    const becameInvalid = !outcome.isValid && previous !== 'invalid';
    if (becameInvalid) {
      await db.insert(tokenRefreshLog).values({
        pageId,
        action: 'invalidated',
        ok: false,
        isValid: false,
        status: 'critical',
        error: outcome.reason ?? 'debug_token: invalid',
      });
    }
    return { updated: true, becameInvalid, becameValid: outcome.isValid && previous === 'invalid' };
  }

  /** A check that could not ask Meta (no app id): the page's monitoring status and check time only. */
  async recordCheckStatus(pageId: string, status: MonitoringStatus): Promise<void> {
    const now = new Date();
    await this.deps.db
      .update(pages)
      .set({ monitoringStatus: status, lastCheckedAt: now, updatedAt: now })
      .where(eq(pages.pageId, pageId));
  }

  /** Stores a refreshed Instagram-Login token in place of `sealedSeen`; false if the token was replaced meanwhile. */
  async storeRefreshedToken(
    pageId: string,
    sealedSeen: string,
    accessToken: string,
    expiresAt: Date,
  ): Promise<boolean> {
    const { db, sealer } = this.deps;
    const now = new Date();
    const updated = await db
      .update(pages)
      .set({
        tokenSealed: sealer.seal(accessToken, aad(pageId)),
        tokenKeyId: sealer.currentKeyId,
        tokenStatus: 'valid',
        expiresAt,
        neverExpires: false,
        tokenIssuedAt: now,
        invalidatedAt: null,
        invalidReason: null,
        updatedAt: now,
      })
      .where(and(eq(pages.pageId, pageId), eq(pages.tokenSealed, sealedSeen)))
      .returning({ pageId: pages.pageId });
    this.cache.delete(pageId);
    return updated.length > 0;
  }

  /** Pages whose (not already invalid) token expires within `withinMs` (health reports `degraded`). */
  async expiringCount(withinMs: number, now: Date = new Date()): Promise<number> {
    const rows = await this.deps.db
      .select({ n: sql<number>`count(*)::int` })
      .from(pages)
      .where(
        and(
          ne(pages.tokenStatus, 'invalid'),
          eq(pages.neverExpires, false),
          isNotNull(pages.expiresAt),
          lte(pages.expiresAt, new Date(now.getTime() + withinMs)),
        ),
      );
    return rows[0]?.n ?? 0;
  }
}
