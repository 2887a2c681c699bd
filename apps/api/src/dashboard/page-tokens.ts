import { CHECK_STEP } from '../routes/ops/token-refresh-status.js';
import { tokenRefreshStatus } from '../routes/ops/token-summary.js';
import { escapeHtml as e } from '../views/escape-html.js';
import { describeTokenState } from '../views/plain-language.js';
import { section } from './section.js';

const PRIORITY_WORDS = { critical: 'Now', high: 'Soon', medium: 'When you can', low: 'For information' } as const;

/** The API's last step, as a person on this page takes it: the button below the list. */
const CHECK_STEP_HERE = 'Press “Check tokens now” below, and see that the Page reads “Working”.';
const stepHere = (step: string) => (step === CHECK_STEP ? CHECK_STEP_HERE : step);

/** Each Page's token, its state in words, and the steps GET /ops/token-refresh-status asks for. */
export const pageTokensSection = section({
  id: 'tokens',
  title: 'Page tokens',
  // The one rating every ops view uses (token-summary.ts), so the page and the API never disagree.
  load: (deps) => tokenRefreshStatus(deps),
  render({ refresh_monitoring: m }) {
    const rows = m.pages.map(
      (p) => `<tr><td data-label="Page"><code>${e(p.page_id)}</code></td><td data-label="Channel">${e(p.channel)}</td>
<td data-label="State" class="${p.monitoring_status === 'critical' ? 'bad' : p.monitoring_status === 'warning' ? 'warn' : ''}">${e(describeTokenState(p.monitoring_status, p.days_left, p.reasons))}</td></tr>`,
    );
    const actions = m.actions_needed.map(
      (a) =>
        `<li class="action"><strong>${e(PRIORITY_WORDS[a.priority])}:</strong> ${e(a.message)}${a.instructions.length > 0 ? `<ol>${a.instructions.map((i) => `<li>${e(stepHere(i))}</li>`).join('')}</ol>` : ''}</li>`,
    );
    return `${rows.length === 0 ? '<p class="muted">No Page has registered its own token.</p>' : `<div class="table-wrap"><table class="cards"><thead><tr><th scope="col">Page</th><th scope="col">Channel</th><th scope="col">State</th></tr></thead><tbody>${rows.join('')}</tbody></table></div>`}
${actions.length === 0 ? '<p class="ok">Nothing to do.</p>' : `<h3>What to do</h3><ul class="actions">${actions.join('')}</ul>`}
<p><button type="button" data-action="tokens-check">Check tokens now</button> <span class="muted">Asks Meta about every token and restores dropped webhook subscriptions; it also runs daily.</span></p>`;
  },
});
