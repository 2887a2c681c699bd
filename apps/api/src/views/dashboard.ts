import { escapeHtml as e } from './escape-html.js';

export interface RenderedSection {
  id: string;
  /** Escaped HTML. */
  heading: string;
  /** Escaped HTML. */
  body: string;
}

const STYLE = `
  :root { color-scheme: light; --fg: #1d1d1f; --muted: #5f6368; --line: #dadce0; --focus: #1a73e8; }
  *, *::before, *::after { box-sizing: border-box; }
  body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 72rem; padding: 1rem; color: var(--fg); }
  td, p, li, code, figcaption { overflow-wrap: anywhere; }
  h1 { font-size: 1.35rem; margin: 0 0 .25rem; } h2 { font-size: 1.1rem; margin: 1.75rem 0 .75rem; padding-bottom: .25rem; border-bottom: 1px solid var(--line); }
  h3 { font-size: 1rem; margin: 1rem 0 .5rem; }
  .top { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; }
  .grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 10rem), 1fr)); gap: .75rem; }
  .card { border: 1px solid var(--line); border-radius: 8px; padding: .6rem .8rem; }
  .big { font-size: 1.35rem; font-weight: 600; margin: .25rem 0; }
  .ok { color: #137333; } .warn { color: #a04d00; } .bad { color: #c5221f; } .muted, .next { color: var(--muted); }
  .next { display: block; }
  ul.warnings, ul.replays, ul.actions { padding-left: 1.2rem; } ul.warnings li, ul.replays li, ul.actions li { margin-bottom: .5rem; }
  .table-wrap { overflow-x: auto; max-width: 100%; }
  table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: .4rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
  button { font: inherit; white-space: nowrap; padding: .45rem .9rem; min-height: 2.5rem; cursor: pointer; border: 1px solid #5f6368; border-radius: 6px; background: #fff; color: var(--fg); }
  button:hover { background: #f1f3f4; } button.danger { background: #c5221f; border-color: #c5221f; color: #fff; }
  button:disabled { opacity: .6; cursor: default; }
  :focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
  .switch { margin-bottom: 1rem; }
  td.num { white-space: nowrap; }
  .confirm { margin-top: .6rem; padding: .6rem .8rem; border: 2px solid #a04d00; border-radius: 8px; background: #fff8e1; }
  .confirm p { margin: 0 0 .5rem; } .confirm button { margin: 0 .4rem .4rem 0; }
  #flash { min-height: 1.5em; font-weight: 600; margin: .5rem 0; }
  .charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 24rem), 1fr)); gap: 1rem; margin-top: 1rem; }
  figure.chart { margin: 0; } figure.chart svg { width: 100%; height: auto; display: block; font: 17px system-ui, sans-serif; fill: var(--muted); }
  .axis { stroke: var(--line); }
  .s-ai { fill: #1a73e8; background: #1a73e8; } .s-fallback { fill: #f9ab00; background: #f9ab00; } .s-paused { fill: #9334e6; background: #9334e6; } .s-failed { fill: #d93025; background: #d93025; }
  .legend-row { display: flex; flex-wrap: wrap; gap: .25rem 1rem; font-size: .9rem; }
  .swatch { display: inline-block; width: .8rem; height: .8rem; border-radius: 2px; margin-right: .3rem; vertical-align: -.05rem; }
  .editor { margin-bottom: 1.25rem; } .editor label { font-weight: 600; display: block; }
  textarea { width: 100%; font: inherit; padding: .5rem; border: 1px solid #5f6368; border-radius: 6px; resize: vertical; }
  .editor-bar { display: flex; flex-wrap: wrap; gap: .5rem; justify-content: space-between; align-items: center; margin-top: .4rem; }
  .count.over { color: #c5221f; font-weight: 600; }
  ul.convs { list-style: none; padding: 0; margin: 0; }
  li.conv { border: 1px solid var(--line); border-radius: 8px; padding: .5rem .8rem; margin-bottom: .6rem; }
  li.conv[data-status="waiting_for_human"] { border-color: #c5221f; border-width: 2px; }
  .conv p { margin: 0 0 .3rem; }
  .conv-actions, .form-bar { display: flex; flex-wrap: wrap; gap: .4rem; margin-top: .3rem; }
  .pause-form input { font: inherit; width: 6rem; padding: .35rem; border: 1px solid #5f6368; border-radius: 6px; }
  ol.turns { list-style: none; padding: 0; margin: .6rem 0 0; display: flex; flex-direction: column; gap: .4rem; }
  li.turn { max-width: min(100%, 36rem); padding: .4rem .7rem; border-radius: 10px; background: #f1f3f4; white-space: pre-wrap; overflow-wrap: anywhere; }
  li.turn-bot { align-self: flex-end; background: #e8f0fe; } li.turn-staff { align-self: flex-end; background: #e6f4ea; }
  .turn-meta { display: block; font-size: .85rem; color: var(--muted); white-space: normal; }
  .dry-run { font-weight: 600; color: #a04d00; }
  .sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
  @media (max-width: 40rem) {
    body { padding: .75rem; }
    figure.chart svg { font-size: 24px; }
    table.cards thead { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
    table.cards tr { display: block; border: 1px solid var(--line); border-radius: 8px; margin-bottom: .6rem; padding: .3rem .5rem; }
    table.cards td { display: block; border: 0; padding: .2rem 0; }
    table.cards td[data-label]::before { content: attr(data-label) ": "; font-weight: 600; }
  }
`;

/**
 * The ops dashboard's page: a header, then each section in its own element that the page's
 * script (public/dashboard.js, served same-origin) refreshes in place.
 */
export function renderDashboard(generatedAt: string, scriptUrl: string, sections: RenderedSection[]): string {
  const body = sections
    .map(
      (s) => `<section id="section-${e(s.id)}" data-section="${e(s.id)}" aria-labelledby="heading-${e(s.id)}">
<h2 id="heading-${e(s.id)}">${s.heading}</h2>
${s.body}
</section>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Switchboard — operations</title>
<link rel="icon" href="/favicon.ico" type="image/svg+xml">
<style>${STYLE}</style>
<script src="${e(scriptUrl)}" defer></script>
</head>
<body>
<header>
<h1>Switchboard — operations</h1>
<div class="top"><span class="muted">Updated <time id="generated-at" datetime="${e(generatedAt)}">${e(generatedAt.slice(11, 19))} UTC</time>; refreshes every 20 seconds.</span>
<button type="button" id="refresh" data-action="refresh">Refresh now</button></div>
<p id="flash" role="status" aria-live="polite"></p>
</header>
<main>
${body}
</main>
</body>
</html>
`;
}
