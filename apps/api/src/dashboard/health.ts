import { checkHealth } from '../routes/health.js';
import { escapeHtml as e } from '../views/escape-html.js';
import { describeWarning } from '../views/plain-language.js';
import { section } from './section.js';

const STATUS_WORDS = {
  ok: { text: 'Everything is working', className: 'ok' },
  degraded: { text: 'Working, but something needs attention', className: 'warn' },
  down: { text: 'Not working: the bot cannot reach its storage', className: 'bad' },
} as const;

const reach = (state: string) => (state === 'connected' ? 'reachable' : 'unreachable');

/** Is the bot up, and does anything need someone: each warning in words, with the next step. */
export const healthSection = section({
  id: 'health',
  title: 'Health',
  load: (deps) => checkHealth(deps.config, deps.resources),
  render(h) {
    const words = STATUS_WORDS[h.status];
    const warnings = h.warnings.map((code) => {
      const plain = describeWarning(code);
      return `<li class="warning" data-code="${e(code)}"><strong>${e(plain.text)}</strong> <span class="next">What to do: ${e(plain.next)}</span></li>`;
    });
    return `<p id="health-status" class="big ${words.className}" data-status="${e(h.status)}">${e(words.text)}</p>
${warnings.length > 0 ? `<ul class="warnings">${warnings.join('')}</ul>` : ''}
<div class="grid">
  <div class="card"><div>Database (PostgreSQL)</div><div class="${h.database === 'connected' ? 'ok' : 'bad'}">${e(reach(h.database))}</div></div>
  <div class="card"><div>Queue store (Redis)</div><div class="${h.redis === 'connected' ? 'ok' : 'bad'}">${e(reach(h.redis))}</div></div>
  <div class="card"><div>Messages waiting to be handled</div><div class="big">${e(h.queue_depth)}</div></div>
</div>`;
  },
});
