// The ops dashboard's behaviour: refresh the sections in place, the AI switch with its
// confirmation, replays, the instructions editors, and conversations (transcripts, pause, resume). Served same-origin, so the page's CSP
// allows no inline script; fetches re-send the Basic credentials the browser used for the page.
'use strict';

const REFRESH_MS = 20_000;

const flash = (text, ok) => {
  const el = document.getElementById('flash');
  el.textContent = text;
  el.className = ok ? 'ok' : 'bad';
};

/** A section is left alone while someone is busy in it: unsaved text, the focus in an editor, an open confirmation. */
function busy(section) {
  for (const area of section.querySelectorAll('textarea')) if (area.value !== area.defaultValue) return true;
  const active = document.activeElement;
  if (active && section.contains(active) && (active.tagName === 'TEXTAREA' || active.tagName === 'INPUT')) return true;
  return [...section.querySelectorAll('.confirm')].some((c) => !c.hidden);
}

/** Open transcripts move into the section's fresh copy, with their buttons' state: a refresh closes none. */
function carryOpenTranscripts(current, next) {
  for (const open of current.querySelectorAll('.transcript:not([hidden])')) {
    const fresh = next.querySelector('#' + CSS.escape(open.id));
    if (!fresh) continue;
    fresh.replaceWith(open);
    const button = next.querySelector('[aria-controls="' + open.id + '"]');
    if (button) {
      button.textContent = 'Hide transcript';
      button.setAttribute('aria-expanded', 'true');
    }
  }
}

let refreshing = null;

async function refresh() {
  if (refreshing) return refreshing;
  refreshing = (async () => {
    const res = await fetch('/ops/dashboard', { headers: { accept: 'text/html' }, cache: 'no-store' });
    if (!res.ok) throw new Error('HTTP ' + res.status);
    const fresh = new DOMParser().parseFromString(await res.text(), 'text/html');
    const focusedId = document.activeElement && document.activeElement.id;
    for (const next of fresh.querySelectorAll('section[data-section]')) {
      const current = document.querySelector('section[data-section="' + next.dataset.section + '"]');
      if (!current) {
        document.querySelector('main').append(document.adoptNode(next));
        continue;
      }
      if (busy(current)) continue;
      const adopted = document.adoptNode(next);
      carryOpenTranscripts(current, adopted);
      current.replaceWith(adopted);
    }
    const stamp = fresh.getElementById('generated-at');
    if (stamp) document.getElementById('generated-at').replaceWith(document.adoptNode(stamp));
    // Keyboard users keep their place when the element they were on was redrawn.
    if (focusedId && document.activeElement === document.body) document.getElementById(focusedId)?.focus();
    for (const area of document.querySelectorAll('textarea[data-max]')) showCount(area);
  })().finally(() => {
    refreshing = null;
  });
  return refreshing;
}

function showCount(area) {
  const max = Number(area.dataset.max);
  const n = [...area.value].length;
  const count = document.getElementById(area.id + '-count');
  count.textContent =
    n.toLocaleString('en-GB') +
    ' / ' +
    max.toLocaleString('en-GB') +
    ' characters' +
    (n > max ? ': too long to save' : '');
  count.classList.toggle('over', n > max);
  document.getElementById(area.id + '-save').disabled = n > max;
}

async function send(method, url, body) {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(json.message || 'HTTP ' + res.status);
  return json;
}

const confirmBox = () => document.getElementById('ai-confirm');

const TURN_LABELS = { user: 'Customer', bot: 'Bot', staff: 'Your team' };
const conversationUrl = (id) => '/ops/conversations/' + encodeURIComponent(id);
const when = (iso) => iso.slice(0, 10) + ' ' + iso.slice(11, 16) + ' UTC';

/** The turns as a chat, built from text nodes: a customer's words never become markup. */
function showTranscript(box, turns) {
  box.replaceChildren();
  if (turns.length === 0) {
    const p = document.createElement('p');
    p.className = 'muted';
    p.textContent = 'No messages are kept for this conversation (they expire, or memory is off).';
    box.append(p);
    return;
  }
  const list = document.createElement('ol');
  list.className = 'turns';
  list.setAttribute('aria-label', 'Transcript, oldest first');
  for (const turn of turns) {
    const item = document.createElement('li');
    item.className = 'turn turn-' + turn.from;
    const meta = document.createElement('span');
    meta.className = 'turn-meta';
    meta.textContent = (TURN_LABELS[turn.from] || turn.from) + ', ' + when(turn.at);
    if (turn.dry_run) {
      const dry = document.createElement('span');
      dry.className = 'dry-run';
      dry.textContent = ': would have been sent (dry run)';
      meta.append(dry);
    }
    item.append(meta, document.createTextNode(turn.text));
    list.append(item);
  }
  box.append(list);
}

function closePauseForm(id) {
  document.getElementById('pause-' + id).hidden = true;
  const ask = document.getElementById('pause-ask-' + id);
  ask.setAttribute('aria-expanded', 'false');
  ask.focus();
}

async function pauseConversation(form) {
  const id = form.dataset.conversationId;
  const minutes = Number(form.elements.minutes.value);
  const done = await send('POST', conversationUrl(id) + '/pause', { minutes });
  form.hidden = true;
  await refresh();
  document.getElementById('resume-' + id)?.focus();
  flash('The bot is silent in that conversation until ' + when(done.paused_until) + '.', true);
}

const actions = {
  refresh: () => refresh(),
  'ai-ask': (button) => {
    confirmBox().hidden = false;
    button.setAttribute('aria-expanded', 'true');
    document.getElementById('ai-confirm-yes').focus();
  },
  'ai-cancel': () => {
    confirmBox().hidden = true;
    document.getElementById('ai-ask').setAttribute('aria-expanded', 'false');
    document.getElementById('ai-ask').focus();
  },
  'ai-confirm': async (button) => {
    const enabled = button.dataset.enabled === 'true';
    const result = await send('POST', '/ops/ai/toggle', { enabled });
    confirmBox().hidden = true;
    await refresh();
    document.getElementById('ai-ask')?.focus();
    flash(
      result.enabled ? 'AI replies are running again.' : 'AI replies are stopped: customers get the fallback text.',
      true,
    );
  },
  'tokens-check': async () => {
    const { check } = await send('POST', '/ops/tokens/check');
    await refresh();
    document.querySelector('[data-action="tokens-check"]')?.focus();
    if (check.valid + check.invalid === 0) return flash('No token could be checked: see “What to do” above.', false);
    flash(
      'Tokens checked: ' +
        check.valid +
        ' working, ' +
        check.invalid +
        ' not working' +
        (check.failed > 0 ? ', ' + check.failed + ' could not be asked' : '') +
        '.',
      check.invalid === 0 && check.failed === 0,
    );
  },
  replay: async (button) => {
    const id = button.dataset.jobId;
    await send('POST', '/ops/dlq/' + encodeURIComponent(id) + '/retry');
    await refresh();
    flash('Queued again; its result appears under “Replays in the last 24 hours”.', true);
  },
  'conv-transcript': async (button) => {
    const id = button.dataset.conversationId;
    const box = document.getElementById('transcript-' + id);
    if (!box.hidden) {
      box.hidden = true;
      box.replaceChildren();
      button.textContent = 'Show transcript';
      button.setAttribute('aria-expanded', 'false');
      return;
    }
    // Fetched only now, so the read is audit-logged when someone reads it.
    const conversation = await send('GET', conversationUrl(id));
    showTranscript(box, conversation.turns);
    box.hidden = false;
    button.textContent = 'Hide transcript';
    button.setAttribute('aria-expanded', 'true');
  },
  'conv-pause-ask': (button) => {
    const id = button.dataset.conversationId;
    document.getElementById('pause-' + id).hidden = false;
    button.setAttribute('aria-expanded', 'true');
    document.getElementById('pause-minutes-' + id).focus();
  },
  'conv-pause-cancel': (button) => closePauseForm(button.dataset.conversationId),
  'conv-resume': async (button) => {
    await send('POST', conversationUrl(button.dataset.conversationId) + '/resume');
    await refresh();
    document.getElementById('pause-ask-' + button.dataset.conversationId)?.focus();
    flash('The bot answers that conversation again from the next message.', true);
  },
  'save-instructions': async (button) => {
    const pageId = button.dataset.pageId;
    const area = document.getElementById('instructions-' + pageId);
    const url = '/ops/pages/' + encodeURIComponent(pageId) + '/instructions';
    await send('PUT', url, { instructions: area.value });
    const stored = await send('GET', url);
    area.value = stored.instructions;
    area.defaultValue = stored.instructions;
    showCount(area);
    flash('Instructions for Page ' + pageId + ' saved.', true);
  },
};

document.addEventListener('click', async (event) => {
  const button = event.target.closest('button[data-action]');
  if (!button || !actions[button.dataset.action]) return;
  button.disabled = true;
  try {
    await actions[button.dataset.action](button);
  } catch (err) {
    flash('That did not work: ' + err.message, false);
  } finally {
    if (button.isConnected) button.disabled = false;
  }
});

document.addEventListener('submit', async (event) => {
  const form = event.target.closest('form.pause-form');
  if (!form) return;
  event.preventDefault();
  const button = form.querySelector('button[type="submit"]');
  button.disabled = true;
  try {
    await pauseConversation(form);
  } catch (err) {
    flash('That did not work: ' + err.message, false);
  } finally {
    if (button.isConnected) button.disabled = false;
  }
});

// Escape answers an open confirmation with Cancel.
document.addEventListener('keydown', (event) => {
  if (event.key !== 'Escape') return;
  if (confirmBox() && !confirmBox().hidden) actions['ai-cancel']();
  const form = event.target.closest && event.target.closest('form.pause-form');
  if (form && !form.hidden) closePauseForm(form.dataset.conversationId);
});

document.addEventListener('input', (event) => {
  if (event.target.matches('textarea[data-max]')) showCount(event.target);
});

setInterval(() => {
  if (!document.hidden) refresh().catch((err) => flash('Could not refresh: ' + err.message, false));
}, REFRESH_MS);
