// The Screentime page: a bar chart (plain SVG) and an episode x person table of the show's table.
"use strict";

const SHOW = PARAMS.get("show") || "", EP = PARAMS.get("ep") || "", SEASON = PARAMS.get("season") || "";
const BARS = 40, ROW = 38, LABEL_W = 220, LABEL_X = 40, LABEL_GAP = 8, CHART_W = 900;
const SVG = "http://www.w3.org/2000/svg";
let loading = null, loadAgain = false;

function svg(tag, attrs = {}, text = "") {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text) node.textContent = text;
  return node;
}

function scopeQuery() {
  const q = new URLSearchParams();
  if (EP) q.set("ep_id", EP); else if (SEASON) q.set("season", SEASON);
  return q.toString() ? `?${q}` : "";
}

function people(rows) {
  const byId = new Map();
  for (const r of rows) {
    const p = byId.get(r.identity_id) || {id: r.identity_id, name: r.name, named: r.named, seconds: 0,
                                          appearances: 0, crop: null, best: -1, episodes: new Map()};
    p.seconds += r.seconds;
    p.appearances += r.appearances;
    p.episodes.set(r.ep_id, (p.episodes.get(r.ep_id) || 0) + r.seconds);
    if (r.crop && r.seconds > p.best) { p.crop = r.crop; p.best = r.seconds; }
    byId.set(r.identity_id, p);
  }
  return [...byId.values()].sort((a, b) => b.seconds - a.seconds || a.id - b.id);
}

function chart(persons) {
  const shown = persons.slice(0, BARS), max = Math.max(1, ...shown.map((p) => p.seconds));
  const height = Math.max(ROW, shown.length * ROW);
  const root = svg("svg", {viewBox: `0 0 ${CHART_W} ${height}`, width: "100%", role: "img",
                           "aria-label": "seconds on screen per person"});
  shown.forEach((p, i) => {
    const y = i * ROW, width = ((CHART_W - LABEL_W - 90) * p.seconds) / max;
    const g = svg("g", {class: "bar", "data-id": p.id, "data-seconds": p.seconds.toFixed(3)});
    if (p.crop) g.append(svg("image", {href: cropUrl(p.crop), x: 0, y: y + 3, width: 32, height: 32,
                                        preserveAspectRatio: "xMidYMid slice"}));
    g.append(svg("text", {x: LABEL_X, y: y + 23, class: p.named ? "label" : "label unnamed"}, p.name));
    g.append(svg("rect", {x: LABEL_W, y: y + 8, width: Math.max(1, width), height: ROW - 16, rx: 3}));
    g.append(svg("text", {x: LABEL_W + width + 8, y: y + 23, class: "value"}, `${clock(p.seconds)}`));
    g.append(svg("title", {}, `${p.name}: ${p.seconds.toFixed(1)} s, ${p.appearances} appearances`));
    root.append(g);
  });
  const more = persons.length - shown.length;
  document.getElementById("chart").replaceChildren(root,
    ...(more > 0 ? [el("figcaption", {textContent: `and ${more} more people in the table below`})] : []));
  for (const label of root.querySelectorAll("text.label")) fit(label, LABEL_W - LABEL_X - LABEL_GAP);
}

// A name longer than its column is cut with an ellipsis where it would reach the bar (the bar's
// <title> and the table keep the whole name): measured, as glyph widths differ by script and font.
function fit(text, width) {
  const whole = [...text.textContent];
  if (text.getComputedTextLength() <= width) return;
  let lo = 0, hi = whole.length;
  while (lo < hi) {  // the longest prefix that fits with its ellipsis
    const mid = Math.ceil((lo + hi) / 2);
    text.textContent = `${whole.slice(0, mid).join("").trimEnd()}…`;
    if (text.getComputedTextLength() <= width) lo = mid; else hi = mid - 1;
  }
  text.textContent = `${whole.slice(0, lo).join("").trimEnd()}…`;
}

function table(persons, episodes) {
  const head = el("tr", {}, el("th", {textContent: "person"}), ...episodes.map((ep) => el("th", {textContent: ep})),
                  el("th", {textContent: "total"}));
  const rows = persons.map((p) => el("tr", {},
    el("th", {textContent: p.name, title: p.name, className: p.named ? "" : "unnamed"}),
    ...episodes.map((ep) => el("td", {textContent: p.episodes.has(ep) ? p.episodes.get(ep).toFixed(1) : ""})),
    el("td", {textContent: p.seconds.toFixed(1), className: "total"})));
  rows.forEach((tr, i) => { tr.dataset.id = String(persons[i].id); });
  document.getElementById("table").replaceChildren(el("thead", {}, head), el("tbody", {}, ...rows));
}

function scopes(view) {
  const select = document.getElementById("scope-select");
  const base = `/screentime?show=${encodeURIComponent(SHOW)}`;
  const options = [[base, `the whole show`]];
  const seasons = [...new Set(view.all_episodes.map((ep) => Number(ep.match(/-s(\d+)e\d+$/)[1])))];
  for (const s of seasons) options.push([`${base}&season=${s}`, `season ${s}`]);
  for (const ep of view.all_episodes) options.push([`${base}&ep=${ep}`, ep]);
  const here = EP ? `${base}&ep=${EP}` : SEASON ? `${base}&season=${Number(SEASON)}` : base;
  select.replaceChildren(...options.map(([href, label]) => el("option", {value: href, textContent: label, selected: href === here})));
  select.onchange = () => { window.location.href = api(select.value); };
}

async function load() {
  try {
    const [view, all] = await Promise.all([
      getJson(`/shows/${encodeURIComponent(SHOW)}/screentime${scopeQuery()}`),
      getJson(`/shows/${encodeURIComponent(SHOW)}/screentime`),
    ]);
    view.all_episodes = all.episodes;
    document.body.dataset.numbers = String(view.numbers_version ?? "");
    document.body.dataset.version = String(view.version);
    document.getElementById("scope").textContent = `· ${EP || (SEASON ? `${SHOW} season ${Number(SEASON)}` : SHOW)}`;
    const counting = view.numbers_version !== view.version;
    document.getElementById("status").textContent = counting
      ? `The people changed (version ${view.version}); Dagster is recounting. These numbers are from version ${view.numbers_version ?? "–"}.`
      : `Counted at version ${view.version} of ${SHOW}'s people.`;
    document.getElementById("status").classList.toggle("pending", counting);
    const persons = people(view.rows);
    chart(persons);
    table(persons, view.episodes);
    document.getElementById("table-title").textContent = EP ? "Per person" : "Episode × person";
    scopes(view);
    for (const kind of ["csv", "parquet"]) {
      document.getElementById(kind).href = api(`/shows/${encodeURIComponent(SHOW)}/screentime.${kind}${scopeQuery()}`);
    }
    const scope = EP ? `&ep=${EP}` : "";
    document.getElementById("review-link").href = api(`/review?show=${encodeURIComponent(SHOW)}${scope}`);
    document.getElementById("dagster-asset").href = `${DAGSTER_UI}/assets/show_people`;
    document.getElementById("problem").hidden = true;
  } catch (e) {
    document.getElementById("problem").hidden = false;
    document.querySelector("#problem span").textContent = e.message;
  }
}

// One load at a time; a change seen during a load loads again once it is done.
function refresh() {
  if (loading) { loadAgain = true; return; }
  loading = load().finally(() => {
    loading = null;
    if (loadAgain) { loadAgain = false; refresh(); }
  });
}

// Live: another reviewer's edit (a new version) or Dagster's recount (a new numbers version) loads
// the new names and numbers; the page never goes on saying a version that is no longer the one counted.
function onVersions(v) {
  const shown = document.body.dataset;
  if (String(v.version) !== shown.version || String(v.numbers_version ?? "") !== shown.numbers) refresh();
}

if (!SHOW) {
  document.getElementById("problem").hidden = false;
  document.querySelector("#problem span").textContent = "Open this page as /screentime?show=<show>[&season=<n>|&ep=<episode id>].";
} else {
  refresh();
  followShow(SHOW, onVersions);
}
