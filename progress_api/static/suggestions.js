// "Same person?": one pair of a show's people at a time, nearest first; accept merges, reject remembers.
"use strict";

const SHOW = PARAMS.get("show") || "", EP = PARAMS.get("ep") || "";
const LIMIT = 50, NEXT_SHOWN = 8;
const state = {view: null, pair: null, skipped: new Set(), busy: false};
const $ = (sel) => document.querySelector(sel);
const pairKey = (p) => `${p.a.id}-${p.b.id}`;

function problem(message) {
  $("#problem").hidden = !message;
  $("#problem span").textContent = message || "";
}

async function load() {
  const q = new URLSearchParams({limit: String(LIMIT)});
  if (EP) q.set("ep_id", EP);
  try {
    render(await getJson(`/shows/${encodeURIComponent(SHOW)}/suggestions?${q}`));
    problem("");
  } catch (e) {
    problem(e.message);
  }
}

function render(view) {
  state.view = view;
  document.body.dataset.version = String(view.version);
  $("#scope").textContent = EP ? `· ${EP}` : `· ${SHOW}`;
  const scope = EP ? `&ep=${EP}` : "";
  $("#review-link").href = api(`/review?show=${encodeURIComponent(SHOW)}${scope}`);
  $("#screentime-link").href = api(`/screentime?show=${encodeURIComponent(SHOW)}${scope}`);
  const counting = view.numbers_version !== view.version;
  $("#status").textContent = `Version ${view.version}. ` +
    (counting ? "Recounting screen time in Dagster…" : "Screen time is up to date.");
  $("#status").classList.toggle("pending", counting);
  const open = view.pairs.filter((p) => !state.skipped.has(pairKey(p)));
  const skipped = view.pairs.filter((p) => state.skipped.has(pairKey(p)));
  const queue = [...open, ...skipped];  // skipped pairs come back once the others are decided
  state.pair = queue[0] || null;
  $("#count").textContent = `${view.total} pair${view.total === 1 ? "" : "s"} to decide` +
    (view.rejected ? ` · ${view.rejected} said not the same` : "");
  $("#pair").hidden = !state.pair;
  $("#done").hidden = Boolean(state.pair);
  document.body.dataset.pair = state.pair ? pairKey(state.pair) : "";
  if (state.pair) {
    side($("#side-a"), state.pair.a);
    side($("#side-b"), state.pair.b);
    const where = state.pair.scope === "episode" ? `both in ${state.pair.episodes[0]}` : state.pair.episodes.join(" and ");
    $("#pair .distance").textContent = `face distance ${state.pair.distance.toFixed(2)} · ${where}`;
    $("#accept").title = `merge ${state.pair.b.label} into ${state.pair.a.label} (a)`;
  }
  $("#next").replaceChildren(...queue.slice(1, 1 + NEXT_SHOWN).map(nextRow));
  busy(false);
}

function side(node, person) {
  node.dataset.id = String(person.id);
  node.querySelector(".label").textContent = person.label;
  const episodes = person.episodes.length === 1 ? person.episodes[0] : `${person.episodes.length} episodes`;
  node.querySelector(".facts").textContent =
    `${person.seconds === null ? "not counted yet" : `${clock(person.seconds)} on screen`} · ${episodes}`;
  node.querySelector(".faces").replaceChildren(...person.crops.map((c) =>
    el("img", {src: cropUrl(c), alt: `${person.label}, ${c.ep_id} track ${c.track_id} frame ${c.frame_index}`})));
}

function nextRow(p) {
  const face = (s) => s.crops.length ? el("img", {src: cropUrl(s.crops[0]), alt: s.label, loading: "lazy"}) : "";
  return el("li", {className: state.skipped.has(pairKey(p)) ? "skipped" : ""},
    face(p.a), face(p.b), `${p.a.label} and ${p.b.label} · ${p.distance.toFixed(2)}`);
}

function busy(on) {
  state.busy = on;
  $("#pair").classList.toggle("busy", on);
  for (const b of document.querySelectorAll(".verdict button")) b.disabled = on;
  document.body.dataset.ready = on ? "" : "1";
}

async function decide(path, body) {
  if (!state.pair || state.busy) return;
  busy(true);
  const by = $("#by").value.trim() || "reviewer";
  localStorage.setItem("screentime.by", by);
  sessionStorage.setItem("screentime.token", $("#token").value);
  try {
    const done = await postJson(path, {base_version: state.view.version, by, ...body}, $("#token").value);
    problem("");
    await load();
    $("#status").textContent = `Saved version ${done.version}: ${done.reason}. ` + $("#status").textContent;
  } catch (e) {
    problem(e.status === 409 ? `Not saved: ${e.message}` : `Not saved (${e.status || "network"}): ${e.message}`);
    busy(false);
  }
}

const accept = () => state.pair && decide(`/shows/${encodeURIComponent(SHOW)}/people/edits`,
  {edit: {action: "merge", into: state.pair.a.id, identities: [state.pair.b.id]}});
const reject = () => state.pair && decide(`/shows/${encodeURIComponent(SHOW)}/suggestions/not-same`,
  {a: state.pair.a.id, b: state.pair.b.id});

function skip() {
  if (!state.pair || state.busy) return;
  state.skipped.add(pairKey(state.pair));
  render(state.view);
}

document.addEventListener("keydown", (e) => {
  const typing = e.target instanceof Element && e.target.closest("input, select, textarea");
  if (typing || e.ctrlKey || e.metaKey || e.altKey) {
    if (e.key === "Escape") e.target.blur();
    return;
  }
  const keys = {a: accept, y: accept, r: reject, n: reject, s: skip};
  if (keys[e.key]) {
    e.preventDefault();
    keys[e.key]();
  }
});

$("#accept").addEventListener("click", accept);
$("#reject").addEventListener("click", reject);
$("#skip").addEventListener("click", skip);
$("#reload").addEventListener("click", load);
$("#by").value = localStorage.getItem("screentime.by") || "";
$("#token").value = sessionStorage.getItem("screentime.token") || "";
if (!SHOW) problem("Open this page as /suggestions?show=<show> or /suggestions?show=<show>&ep=<episode id>.");
else load();
