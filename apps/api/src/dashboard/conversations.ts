import { desc, sql } from 'drizzle-orm';
import { conversations } from '@switchboard/db';
import { effectiveStatus, present } from '../routes/ops/conversations.js';
import type { OpsDeps } from '../routes/ops/ops-deps.js';
import { escapeHtml as e } from '../views/escape-html.js';
import { section } from './section.js';

/** Conversations shown per group; the rest are in GET /ops/conversations. */
const ROWS = 20;
/** How much of the user's hash identifies them on the page: enough to tell rows apart, no more. */
const USER_PREFIX = 8;

type Conversation = ReturnType<typeof present>;

const STATUS_WORDS: Record<string, { text: string; className: string }> = {
  waiting_for_human: { text: 'Waiting for a person', className: 'bad' },
  paused: { text: 'Paused', className: 'warn' },
  active: { text: 'The bot answers', className: 'ok' },
};

const REASON_WORDS: Record<string, string> = {
  user_asked: 'asked for a person',
  staff_replied: 'a person from your team replied',
  operator: 'paused by an operator',
  handover: 'another app has the conversation',
};

const CHANNEL_WORDS: Record<string, string> = { messenger: 'Messenger', instagram: 'Instagram', whatsapp: 'WhatsApp' };

const when = (iso: string) => `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;

async function load(deps: OpsDeps) {
  const { db } = deps.resources.dbh;
  const newest = [desc(conversations.lastMessageAt), desc(conversations.id)] as const;
  const inStatus = (status: string) =>
    db
      .select()
      .from(conversations)
      .where(sql`${effectiveStatus} = ${status}`)
      .orderBy(...newest)
      .limit(ROWS);
  const [waiting, paused, active] = await Promise.all([
    inStatus('waiting_for_human'),
    inStatus('paused'),
    inStatus('active'),
  ]);
  const now = Date.now();
  return {
    conversations: [...waiting, ...paused, ...active].map((row) => present(row, now)),
    pauseMinutes: Math.max(1, Math.round(deps.config.handoff.pauseMs / 60_000)),
  };
}

function renderOne(c: Conversation, pauseMinutes: number): string {
  const id = e(c.id);
  const status = STATUS_WORDS[c.status] ?? { text: c.status, className: 'muted' };
  const reason = c.pause_reason ? ` · ${e(REASON_WORDS[c.pause_reason] ?? c.pause_reason)}` : '';
  const until = c.paused_until
    ? ` · <span class="muted">the bot is silent until ${e(when(c.paused_until))}</span>`
    : '';
  const silent = c.status !== 'active';
  const action = silent
    ? `<button type="button" id="resume-${id}" data-action="conv-resume" data-conversation-id="${id}">Resume</button>`
    : `<button type="button" id="pause-ask-${id}" data-action="conv-pause-ask" data-conversation-id="${id}" aria-expanded="false" aria-controls="pause-${id}">Pause…</button>`;
  const pauseForm = silent
    ? ''
    : `<form class="confirm pause-form" id="pause-${id}" data-conversation-id="${id}" hidden>
<label for="pause-minutes-${id}">Keep the bot silent for</label> <input type="number" id="pause-minutes-${id}" name="minutes" min="1" max="43200" step="1" value="${e(pauseMinutes)}" required> minutes
<div class="form-bar"><button type="submit" class="danger" id="pause-yes-${id}">Pause</button><button type="button" data-action="conv-pause-cancel" data-conversation-id="${id}">Cancel</button></div>
</form>`;
  return `<li class="conv" data-conversation-id="${id}" data-status="${e(c.status)}">
<p class="conv-status"><strong class="${status.className}">${e(status.text)}</strong>${reason}${until}</p>
<p class="muted conv-facts">${e(CHANNEL_WORDS[c.channel] ?? c.channel)}, Page ${e(c.page_id)}, user <code title="the start of the user's hash">${e(c.user.slice(0, USER_PREFIX))}</code>, last message ${e(when(c.last_message_at))}, ${e(c.messages)} message${c.messages === 1 ? '' : 's'}</p>
<div class="conv-actions"><button type="button" id="transcript-ask-${id}" data-action="conv-transcript" data-conversation-id="${id}" aria-expanded="false" aria-controls="transcript-${id}">Show transcript</button>${action}</div>
${pauseForm}
<div class="transcript" id="transcript-${id}" hidden></div>
</li>`;
}

/**
 * Who is talking with the bot: conversations waiting for a person first, then paused ones, then the
 * most recent where the bot answers, each with Pause or Resume. Transcripts are never in the page:
 * "Show transcript" fetches the conversation, so the read is audit-logged when someone reads it.
 */
export const conversationsSection = section({
  id: 'conversations',
  title: 'Conversations',
  heading: ({ conversations: list }) => {
    const waiting = list.filter((c) => c.status === 'waiting_for_human').length;
    return `Conversations <span id="conversations-waiting" class="${waiting > 0 ? 'bad' : 'muted'}">(${e(waiting)} waiting for a person)</span>`;
  },
  load,
  render({ conversations: list, pauseMinutes }) {
    if (list.length === 0) return '<p id="conversations-empty" class="muted">No conversations yet.</p>';
    return `<ul class="convs">${list.map((c) => renderOne(c, pauseMinutes)).join('')}</ul>`;
  },
});
