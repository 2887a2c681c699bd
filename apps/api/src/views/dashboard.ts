import { escapeHtml as e } from './escape-html.js';

/** Everything the on-call page shows, gathered by the route; this module only renders. */
export interface DashboardData {
  generatedAt: string;
  health: { status: string; database: string; redis: string; queue_depth: number; warnings: string[] };
  messages: { today: number; last_hour: number; total: number };
  users: number;
  repliesSent: number;
  queues: Record<string, Record<string, number>>;
  ai: {
    enabled: boolean;
    provider: string;
    model: string;
    configured: boolean;
    limits: { per_psid_per_min: number; global_per_min: number };
    counters: Record<string, number>;
    budget: { daily_spend_usd: number; daily_budget_usd: number | null; monthly_spend_usd: number; monthly_budget_usd: number | null };
  };
  token: { status_message: string; needs_refresh: boolean };
  pages: Array<{ page_id: string; channel: string; token_status: string; monitoring_status: string; days_left: number | null; never_expires: boolean }>;
  deadLetters: Array<{ id: string; queue: string; reason: string; error_code: number | null; failed_at: string | null; attempts: number; page_id: string | null }>;
}

const usd = (n: number | null) => (n === null ? 'no limit' : `$${n.toFixed(2)}`);

function table(headers: string[], rows: string[][], empty: string): string {
  if (rows.length === 0) return `<p class="muted">${e(empty)}</p>`;
  const head = headers.map((h) => `<th>${e(h)}</th>`).join('');
  // Cells arrive already escaped (some hold a button), see the callers.
  const body = rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('');
  return `<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

export function renderDashboard(d: DashboardData): string {
  const statusClass = d.health.status === 'ok' ? 'ok' : d.health.status === 'degraded' ? 'warn' : 'bad';
  const queueRows = Object.entries(d.queues).map(([name, c]) => [e(name), e(c.waiting ?? 0), e(c.active ?? 0), e(c.delayed ?? 0), e(c.failed ?? 0)]);
  const blocks = d.ai.counters;
  const pageRows = d.pages.map((p) => [
    e(p.page_id),
    e(p.channel),
    `<span class="${p.token_status === 'invalid' ? 'bad' : ''}">${e(p.token_status)}</span>`,
    e(p.monitoring_status),
    e(p.never_expires ? 'never expires' : p.days_left === null ? 'unknown' : `${p.days_left} days`),
  ]);
  const dlqRows = d.deadLetters.map((j) => [
    `<code>${e(j.id)}</code>`,
    e(j.reason),
    e(j.error_code ?? ''),
    e(j.failed_at ?? ''),
    e(j.attempts),
    e(j.page_id ?? ''),
    `<button type="button" class="replay" data-job-id="${e(j.id)}">Replay</button>`,
  ]);

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Switchboard — ops</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0 auto; max-width: 72rem; padding: 1rem; color: #1d1d1f; }
  h1 { font-size: 1.3rem; } h2 { font-size: 1.05rem; margin-top: 1.5rem; border-bottom: 1px solid #ddd; }
  .grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(12rem, 1fr)); gap: .75rem; }
  .card { border: 1px solid #ddd; border-radius: 6px; padding: .6rem .8rem; }
  .big { font-size: 1.6rem; font-weight: 600; }
  .ok { color: #137333; } .warn { color: #b06000; } .bad { color: #c5221f; } .muted { color: #666; }
  table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid #eee; vertical-align: top; }
  button { font: inherit; padding: .3rem .8rem; cursor: pointer; }
  #flash { min-height: 1.4em; font-weight: 600; }
</style>
</head>
<body>
<h1>Switchboard — operations</h1>
<p class="muted">Generated ${e(d.generatedAt)} · <a href="/ops/dashboard">refresh</a> · <a href="/ops/telemetry">telemetry</a> · <a href="/metrics">metrics</a></p>
<p id="flash" role="status"></p>

<h2>Health</h2>
<div class="grid">
  <div class="card"><div>Status</div><div id="health-status" class="big ${statusClass}">${e(d.health.status)}</div></div>
  <div class="card"><div>PostgreSQL</div><div class="big">${e(d.health.database)}</div></div>
  <div class="card"><div>Redis</div><div class="big">${e(d.health.redis)}</div></div>
  <div class="card"><div>Inbound queue depth</div><div class="big">${e(d.health.queue_depth)}</div></div>
</div>
${d.health.warnings.length > 0 ? `<p class="warn">Warnings: ${d.health.warnings.map(e).join(', ')}</p>` : ''}

<h2>Today</h2>
<div class="grid">
  <div class="card"><div>Messages today (UTC)</div><div id="messages-today" class="big">${e(d.messages.today)}</div></div>
  <div class="card"><div>Last hour</div><div class="big">${e(d.messages.last_hour)}</div></div>
  <div class="card"><div>All time</div><div class="big">${e(d.messages.total)}</div></div>
  <div class="card"><div>Users</div><div class="big">${e(d.users)}</div></div>
  <div class="card"><div>Replies sent</div><div class="big">${e(d.repliesSent)}</div></div>
</div>
${table(['queue', 'waiting', 'active', 'delayed', 'failed'], queueRows, 'No queues.')}

<h2>AI</h2>
<div class="grid">
  <div class="card">
    <div>Kill switch</div>
    <div id="ai-state" class="big ${d.ai.enabled ? 'ok' : 'bad'}" data-enabled="${d.ai.enabled ? 'true' : 'false'}">${d.ai.enabled ? 'ON' : 'OFF'}</div>
    <button type="button" id="ai-toggle">${d.ai.enabled ? 'Turn AI off' : 'Turn AI on'}</button>
  </div>
  <div class="card"><div>Provider</div><div>${e(d.ai.provider)} · <code>${e(d.ai.model)}</code></div><div class="${d.ai.configured ? 'muted' : 'warn'}">${d.ai.configured ? 'API key configured' : 'no API key: fallback replies only'}</div></div>
  <div class="card"><div>Limits</div><div>${e(d.ai.limits.global_per_min)} calls/min overall · ${e(d.ai.limits.per_psid_per_min)} calls/min per user</div>
    <div class="muted">blocked: ${e(blocks.ai_calls_blocked_global ?? 0)} overall · ${e(blocks.ai_calls_blocked_per_psid ?? 0)} per user · ${e(blocks.ai_budget_blocked ?? 0)} by budget</div></div>
  <div class="card"><div>Calls</div><div>${e(blocks.ai_calls ?? 0)} calls · ${e(blocks.ai_errors ?? 0)} errors · ${e(blocks.fallbacks ?? 0)} fallbacks</div></div>
  <div class="card"><div>Budget</div><div>today ${e(usd(d.ai.budget.daily_spend_usd))} of ${e(usd(d.ai.budget.daily_budget_usd))}</div><div>month ${e(usd(d.ai.budget.monthly_spend_usd))} of ${e(usd(d.ai.budget.monthly_budget_usd))}</div></div>
</div>

<h2>Page tokens</h2>
<p class="${d.token.needs_refresh ? 'warn' : 'muted'}">${e(d.token.status_message)}</p>
${table(['page', 'channel', 'token', 'monitoring', 'expires in'], pageRows, 'No pages registered.')}

<h2>Dead letters <span id="dlq-count" class="muted">(${e(d.deadLetters.length)})</span></h2>
<div id="dlq">${table(['job', 'reason', 'Graph code', 'failed at', 'attempts', 'page', ''], dlqRows, 'The dead-letter queue is empty.')}</div>

<script>
(() => {
  const flash = document.getElementById('flash');
  const say = (text, ok) => { flash.textContent = text; flash.className = ok ? 'ok' : 'bad'; };
  // Same-origin fetch: the browser re-sends the Basic credentials it used for this page.
  const post = (url, body) => fetch(url, {
    method: 'POST',
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const state = document.getElementById('ai-state');
  document.getElementById('ai-toggle').addEventListener('click', async (ev) => {
    const want = state.dataset.enabled !== 'true';
    if (!want && !confirm('Turn the AI off for every worker? Replies will use the fallback text.')) return;
    ev.target.disabled = true;
    try {
      const res = await post('/ops/ai/toggle', { enabled: want });
      if (!res.ok) throw new Error('HTTP ' + res.status);
      const { enabled } = await res.json();
      state.dataset.enabled = String(enabled);
      state.textContent = enabled ? 'ON' : 'OFF';
      state.className = 'big ' + (enabled ? 'ok' : 'bad');
      ev.target.textContent = enabled ? 'Turn AI off' : 'Turn AI on';
      say('AI turned ' + (enabled ? 'on' : 'off') + '.', true);
    } catch (err) {
      say('Toggle failed: ' + err.message, false);
    } finally {
      ev.target.disabled = false;
    }
  });
  for (const button of document.querySelectorAll('button.replay')) {
    button.addEventListener('click', async () => {
      const id = button.dataset.jobId;
      button.disabled = true;
      try {
        const res = await post('/ops/dlq/' + encodeURIComponent(id) + '/retry');
        if (res.status !== 202) throw new Error('HTTP ' + res.status);
        button.closest('tr').remove();
        say('Job ' + id + ' re-queued.', true);
      } catch (err) {
        button.disabled = false;
        say('Replay of ' + id + ' failed: ' + err.message, false);
      }
    });
  }
})();
</script>
</body>
</html>
`;
}
