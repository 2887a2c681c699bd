import { aiStatus } from '../routes/ops/ai.js';
import { escapeHtml as e } from '../views/escape-html.js';
import { section } from './section.js';

const usd = (n: number) => `$${n.toFixed(2)}`;
/** Spend against its limit: "$0.40 of $5.00", or "$0.40 (no limit)" when none is set. */
const spend = (spent: number, limit: number | null) =>
  limit === null ? `${usd(spent)} (no limit)` : `${usd(spent)} of ${usd(limit)}`;
/** "1 fallback", "2 fallbacks". */
const count = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/**
 * The AI kill switch, labelled by what customers get rather than by the switch's position, and
 * changed only after a confirmation that says what will happen.
 */
export const aiRepliesSection = section({
  id: 'ai',
  title: 'AI replies',
  load: aiStatus,
  render(ai) {
    const c = ai.counters;
    const running = ai.enabled;
    const state = running ? 'running' : 'stopped (fallback text is sent)';
    const ask = running ? 'Stop AI replies' : 'Resume AI replies';
    const question = running
      ? 'Stop AI replies for every conversation? Customers get the fallback text until you resume.'
      : 'Resume AI replies for every conversation?';
    const confirm = running ? 'Yes, stop AI replies' : 'Yes, resume AI replies';
    return `<div class="switch">
  <p id="ai-state" class="big ${running ? 'ok' : 'bad'}" data-enabled="${running ? 'true' : 'false'}">AI replies: ${e(state)}</p>
  <button type="button" id="ai-ask" data-action="ai-ask" aria-controls="ai-confirm" aria-expanded="false">${e(ask)}</button>
  <div id="ai-confirm" class="confirm" role="group" aria-labelledby="ai-question" hidden>
    <p id="ai-question">${e(question)}</p>
    <button type="button" id="ai-confirm-yes" data-action="ai-confirm" data-enabled="${running ? 'false' : 'true'}" class="${running ? 'danger' : ''}">${e(confirm)}</button>
    <button type="button" id="ai-confirm-no" data-action="ai-cancel">Cancel</button>
  </div>
</div>
<div class="grid">
  <div class="card"><div>Provider</div><div>${e(ai.provider)} · <code>${e(ai.model)}</code></div><div class="${ai.configured ? 'muted' : 'warn'}">${ai.configured ? 'API key configured' : 'No API key: only the fallback text is sent'}</div></div>
  <div class="card"><div>AI calls so far</div><div>${e(count(c.ai_calls ?? 0, 'AI call', 'AI calls'))} · ${e(count(c.ai_errors ?? 0, 'error', 'errors'))} · ${e(count(c.fallbacks ?? 0, 'fallback', 'fallbacks'))}</div>
    <div class="muted">held back by limits: ${e(c.ai_calls_blocked_global ?? 0)} overall · ${e(c.ai_calls_blocked_per_psid ?? 0)} per person · ${e(c.ai_budget_blocked ?? 0)} by budget</div></div>
  <div class="card"><div>Limits</div><div>${e(ai.limits.global_per_min)} AI calls a minute overall · ${e(ai.limits.per_psid_per_min)} per person</div></div>
  <div class="card"><div>Spend</div><div>today ${e(spend(ai.budget.daily_spend_usd, ai.budget.daily_budget_usd))}</div><div>this month ${e(spend(ai.budget.monthly_spend_usd, ai.budget.monthly_budget_usd))}</div>${ai.budget.exhausted ? '<div class="bad">Budget used up: fallback text is sent until it resets.</div>' : ''}</div>
</div>`;
  },
});
