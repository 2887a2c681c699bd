import { MAX_AI_INSTRUCTIONS_CHARS, countChars } from '@switchboard/config';
import type { OpsDeps } from '../routes/ops/ops-deps.js';
import { escapeHtml as e } from '../views/escape-html.js';
import { section } from './section.js';

const SOURCE_WORDS = {
  page: 'This Page’s own instructions.',
  default: 'No instructions of its own: the default instructions below apply. Saving here gives the Page its own.',
  none: 'No instructions yet: the assistant answers without any.',
} as const;

async function load(deps: OpsDeps) {
  const pages = await deps.resources.pages.list();
  return Promise.all(
    pages.map(async (p) => ({
      pageId: p.pageId,
      channel: p.channel,
      ...(await deps.resources.instructions.resolve(p.pageId)),
    })),
  );
}

/**
 * What the assistant knows and how it speaks, per Page: one editor each, saved through
 * PUT /ops/pages/:pageId/instructions by the page's script. The dashboard never replaces this
 * section while an editor holds unsaved text or has the focus.
 */
export const instructionsSection = section({
  id: 'instructions',
  title: 'Instructions for the assistant',
  load,
  render(pages) {
    if (pages.length === 0)
      return '<p class="muted">No Page is registered yet: register a Page token to give it instructions.</p>';
    return pages
      .map((p) => {
        const id = `instructions-${p.pageId}`;
        const chars = countChars(p.instructions);
        return `<div class="editor" data-page-id="${e(p.pageId)}">
<label for="${e(id)}">Page <code>${e(p.pageId)}</code> (${e(p.channel)})</label>
<p class="muted" id="${e(id)}-source">${e(SOURCE_WORDS[p.source])}</p>
<textarea id="${e(id)}" rows="6" data-max="${MAX_AI_INSTRUCTIONS_CHARS}" aria-describedby="${e(id)}-source ${e(id)}-count">${e(p.instructions)}</textarea>
<div class="editor-bar"><span id="${e(id)}-count" class="count" aria-live="polite">${e(chars.toLocaleString('en-GB'))} / ${e(MAX_AI_INSTRUCTIONS_CHARS.toLocaleString('en-GB'))} characters</span>
<button type="button" id="${e(id)}-save" data-action="save-instructions" data-page-id="${e(p.pageId)}">Save instructions</button></div>
</div>`;
      })
      .join('');
  },
});
