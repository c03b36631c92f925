// Faces review: a show's (or one episode's) people as cards; every action is one versioned edit.
"use strict";

const SHOW = PARAMS.get("show") || "", EP = PARAMS.get("ep") || "";
const LIMIT = Math.min(500, Math.max(1, Number(PARAMS.get("per_page")) || 50)), RECOUNT_POLL_MS = 2000, FIND_DELAY_MS = 250, PICKER_MATCHES = 8;
// focusId and selected are person ids, never positions: a new search or page must not turn a
// remembered position into another person (j after a search, then x and m, merged the wrong ones).
const state = {view: null, offset: 0, selected: [], focusId: null, recount: null, problemKind: null};
const $ = (sel) => document.querySelector(sel);
const REASON_WORDS = {not_a_face: "not a face", ignore: "ignored"};
const words = (reason) => REASON_WORDS[reason] || String(reason).replaceAll("_", " ");
const cleanName = (value) => value.normalize("NFC").split(/\s+/).filter(Boolean).join(" ");
const fold = (text) => text.normalize("NFC").toLocaleLowerCase();

function query(extra = {}) {
  const q = new URLSearchParams({offset: String(state.offset), limit: String(LIMIT), ...extra});
  if (EP) q.set("ep_id", EP);
  if ($("#q").value.trim()) q.set("q", $("#q").value.trim());
  q.set("named", $("#named").value);
  if ($("#hidden").checked) q.set("hidden", "true");
  return `/shows/${encodeURIComponent(SHOW)}/people?${q}`;
}

// A problem stays until what caused it is over: a failed load until a load works, a refused edit
// until the next edit is saved, Reload or Dismiss (a recount landing must not wipe it).
function problem(message, kind = "load") {
  $("#problem").hidden = !message;
  $("#problem span").textContent = message || "";
  state.problemKind = message ? kind : null;
}

async function load() {
  try {
    render(await getJson(query()));
    if (state.problemKind === "load") problem("");
  } catch (e) {
    problem(e.message, "load");
  }
}

function render(view) {
  const drafts = unsavedNames(), typing = activeName(), onCards = focusOnCards();
  state.view = view;
  const live = new Set([...view.targets.map((t) => t.id), ...view.people.map((p) => p.id)]);
  state.selected = state.selected.filter((id) => live.has(id));  // people merged away are gone
  document.body.dataset.version = String(view.version);
  document.body.dataset.numbers = String(view.numbers_version ?? "");
  $("#scope").textContent = EP ? `· ${EP}` : `· ${SHOW}`;
  const counting = view.numbers_version !== view.version;
  const who = view.updated_by ? ` by ${view.updated_by}` : "";
  $("#status").textContent = `Version ${view.version}: ${view.reason || "no change yet"}${who}. ` +
    (counting ? `Recounting screen time in Dagster (the seconds shown are from version ${view.numbers_version ?? "–"})…`
              : "Screen time is up to date.");
  $("#status").classList.toggle("pending", counting);
  $("#undo").disabled = !view.can_undo;
  $("#undo").title = view.can_undo ? `undo: ${view.reason} (u)` : "nothing to undo";
  renderLinks(view);
  const namesakes = sameNames(view.targets);
  $("#people").replaceChildren(...view.people.map((p) => personCard(p, view, namesakes)));
  for (const pager of document.querySelectorAll(".pager")) {
    const end = Math.min(view.offset + view.people.length, view.total);
    pager.querySelector(".range").textContent = view.total ? `${view.offset + 1}–${end} of ${view.total} people` : "nobody here";
    pager.querySelector(".prev").disabled = view.offset === 0;
    pager.querySelector(".next").disabled = end >= view.total;
  }
  if (!view.people.some((p) => p.id === state.focusId)) state.focusId = null;
  if (onCards) refocus(onCards);
  restoreNames(drafts, typing);
  updateSelection();
  watchRecount(counting);
}

// What the reviewer typed and did not save yet survives a reload of the cards (a recount landing).
function unsavedNames() {
  const drafts = new Map();
  for (const input of document.querySelectorAll(".person .name")) {
    if (input.value !== input.dataset.saved) drafts.set(input.closest(".person").dataset.id, input.value);
  }
  return drafts;
}

function activeName() {
  const input = document.activeElement?.closest?.(".person .name");
  return input ? {id: input.closest(".person").dataset.id, start: input.selectionStart, end: input.selectionEnd} : null;
}

function restoreNames(drafts, typing) {
  for (const [id, value] of drafts) {
    const input = document.querySelector(`.person[data-id="${id}"] .name`);
    if (input) { input.value = value; checkLength(input); }
  }
  const input = typing && document.querySelector(`.person[data-id="${typing.id}"] .name`);
  if (input) {
    input.focus({preventScroll: true});
    input.setSelectionRange(typing.start, typing.end);
  }
}

// Keys act on the focused card and track: after an edit redraws the cards, the focus goes back
// to the same person (and the same track, if it is still theirs), so the next key acts there too.
function focusOnCards() {
  const active = document.activeElement;
  if (active && active !== document.body && !active.closest("#people")) return null;
  if (active?.closest?.(".person .name")) return null;  // restoreNames puts the caret back
  return {track: active?.closest?.(".track")?.dataset.track ?? null};
}

function refocus(where) {
  const card = currentCard();
  if (!card) return;
  const row = where.track && card.querySelector(`.track[data-track="${where.track}"]`);
  (row || card).focus({preventScroll: true});
}

function renderLinks(view) {
  const links = [];
  if (EP) {
    links.push(el("a", {href: api(`/review?show=${encodeURIComponent(SHOW)}`), textContent: `All of ${SHOW}`}));
    if (view.run_ids[EP]) {
      links.push(el("a", {href: `${DAGSTER_UI}/runs/${view.run_ids[EP]}`, target: "_blank", rel: "noopener",
                          textContent: `${EP}'s run in Dagster`}));
    }
  } else {
    for (const ep of view.episodes) {
      links.push(el("a", {href: api(`/review?show=${encodeURIComponent(SHOW)}&ep=${ep}`), textContent: ep}));
    }
  }
  $("#episode-links").replaceChildren(...links);
  const scope = EP ? `&ep=${EP}` : "";
  $("#screentime-link").href = api(`/screentime?show=${encodeURIComponent(SHOW)}${scope}`);
  $("#dagster-asset").href = `${DAGSTER_UI}/assets/show_people`;
}

function sameNames(targets) {
  const byName = new Map();
  for (const t of targets.filter((t) => t.named)) byName.set(fold(t.label), [...(byName.get(fold(t.label)) || []), t.id]);
  return byName;
}

function numbersLine(p) {
  const episodes = `${p.episodes} episode${p.episodes === 1 ? "" : "s"}`;
  const parts = p.tracks_total === 1 ? "1 track" : `${p.tracks_total} tracks`;
  if (p.hidden) return `left out (${words(p.hidden)}) · ${parts}`;
  if (p.tracks_counted === 0) return `every track left out · nothing counted · ${parts}`;
  if (p.seconds === null) return `not counted yet: Dagster recounts · ${p.tracks_counted} of ${parts} · ${episodes}`;
  return `${clock(p.seconds)} on screen · ${p.appearances} appearances · ${episodes}`;
}

function personCard(p, view, namesakes) {
  const node = document.getElementById("person-template").content.firstElementChild.cloneNode(true);
  node.dataset.id = String(p.id);
  node.dataset.seconds = String(p.seconds ?? "");
  node.querySelector(".select").addEventListener("change", () => toggleSelect(p.id));
  const face = node.querySelector(".face");
  if (p.crop) face.src = cropUrl(p.crop); else face.replaceWith(el("div", {className: "face none", textContent: "no crop"}));
  face.alt = p.label;
  const name = node.querySelector(".name");
  name.value = name.dataset.saved = p.name || "";
  name.placeholder = p.label;
  name.addEventListener("input", () => checkLength(name));
  node.querySelector(".rename").addEventListener("submit", (e) => {
    e.preventDefault();
    rename(p, name);
  });
  node.querySelector(".numbers").textContent = numbersLine(p);
  const others = p.name ? (namesakes.get(fold(p.name)) || []).filter((id) => id !== p.id) : [];
  const warning = node.querySelector(".namesake");
  warning.hidden = !others.length;
  warning.textContent = others.length ? `${others.map((id) => `person #${id}`).join(", ")} ${others.length === 1 ? "is" : "are"} `
    + `also named ${p.name}: merge them if they are one person, or tell them apart` : "";
  for (const button of node.querySelectorAll(".hide")) {
    if (p.hidden) {
      button.textContent = "Count again";
      if (button.dataset.reason !== p.hidden) button.hidden = true;
    }
    button.addEventListener("click", () => hidePerson(p, button.dataset.reason));
  }
  const tracks = node.querySelector(".tracks");
  tracks.append(...p.tracks.map((t) => trackRow(t, p, view)));
  if (p.tracks_total > p.tracks.length) {
    tracks.append(el("li", {className: "more", textContent: `and ${p.tracks_total - p.tracks.length} shorter tracks`}));
  }
  node.addEventListener("focusin", () => { state.focusId = p.id; });
  return node;
}

function checkLength(input) {
  const max = state.view?.name_max ?? 80, length = [...cleanName(input.value)].length;
  const over = length > max;
  input.classList.toggle("invalid", over);
  input.setAttribute("aria-invalid", String(over));
  input.title = over ? `${length} characters: a name is at most ${max}` : "";
}

function rename(p, input) {
  const value = cleanName(input.value), max = state.view.name_max, length = [...value].length;
  if (length > max) {
    problem(`Not saved: a name is at most ${max} characters (this one has ${length}); nothing was cut.`, "edit");
    input.focus();
    return;
  }
  if (value === (p.name || "")) {
    $("#status").textContent = `No change: ${p.label} is already ${value ? `named ${value}` : "unnamed"}.`;
    return;
  }
  edit({action: "rename", identity: p.id, name: value});
}

const hidePerson = (p, reason) => edit({action: "hide", identity: p.id, reason: p.hidden ? null : reason});
const excludeTrack = (t, reason) =>
  edit({action: "exclude_track", ep_id: t.ep_id, track: t.track, reason: t.excluded ? null : reason});
const split = (t) => edit({action: "move", ep_id: t.ep_id, track: t.track, to: null});

function trackRow(t, p, view) {
  const node = document.getElementById("track-template").content.firstElementChild.cloneNode(true);
  node.dataset.ep = t.ep_id;
  node.dataset.track = t.track;
  node.classList.toggle("excluded", Boolean(t.excluded));
  node.querySelector(".strip").append(...t.crops.map((c) =>
    el("img", {src: cropUrl(c), loading: "lazy", width: 56, height: 56, alt: `track ${t.track} at frame ${c.frame_index}`})));
  const notes = [t.excluded ? `left out (${words(t.excluded)})` : "", t.moved ? "moved here" : ""].filter(Boolean);
  node.querySelector(".track-facts").textContent =
    `${EP ? "" : `${t.ep_id} · `}track ${t.track} · ${clock(t.start_s)}–${clock(t.end_s)} · ${t.seconds.toFixed(1)} s` +
    (notes.length ? ` · ${notes.join(", ")}` : "");
  node.querySelector(".split").addEventListener("click", () => split(t));
  node.querySelector(".move").addEventListener("click", () => openPicker(node, t, p, view));
  for (const button of node.querySelectorAll(".exclude")) {
    if (t.excluded) {
      button.textContent = "Count again";
      if (button.dataset.reason !== t.excluded) button.hidden = true;
    }
    button.addEventListener("click", () => excludeTrack(t, button.dataset.reason));
  }
  node.track = t;
  return node;
}

// "Move to…" is a search over people with their faces: typing filters, the arrow keys only move
// the highlight, and nothing is moved until Enter or a click names the person.
function openPicker(row, t, p, view) {
  closePicker();
  const picker = document.getElementById("picker-template").content.firstElementChild.cloneNode(true);
  const input = picker.querySelector("input"), list = picker.querySelector(".matches");
  let matches = [], at = -1;
  const draw = () => {
    const q = fold(input.value.trim());
    const all = view.targets.filter((target) => target.id !== p.id && (!q || fold(target.label).includes(q)
      || `#${target.id}` === q || String(target.id) === q));
    all.sort((a, b) => Number(!fold(a.label).startsWith(q)) - Number(!fold(b.label).startsWith(q)));
    matches = all.slice(0, PICKER_MATCHES);
    at = Math.min(at, matches.length - 1);
    list.replaceChildren(...matches.map((target, i) => {
      const face = target.crop ? el("img", {src: cropUrl(target.crop), width: 40, height: 40, alt: "", loading: "lazy"})
                               : el("span", {className: "noface"});
      const item = el("li", {className: i === at ? "match current" : "match", role: "option"}, face,
                      el("span", {textContent: target.label}), el("small", {textContent: ` #${target.id}`}));
      item.dataset.id = String(target.id);
      item.addEventListener("mousedown", (e) => { e.preventDefault(); choose(target); });
      return item;
    }));
    picker.querySelector(".more").textContent = all.length > matches.length ? `${all.length - matches.length} more: type to narrow` : "";
  };
  const choose = (target) => {
    closePicker();
    edit({action: "move", ep_id: t.ep_id, track: t.track, to: target.id});
  };
  input.addEventListener("input", () => { at = -1; draw(); });
  input.addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      const n = matches.length;
      if (n) at = e.key === "ArrowDown" ? (at + 1) % n : at <= 0 ? n - 1 : at - 1;
      draw();
    } else if (e.key === "Enter") {
      e.preventDefault();
      const target = at >= 0 ? matches[at] : matches.length === 1 ? matches[0] : null;
      if (target) choose(target);
    } else if (e.key === "Escape") {
      e.preventDefault();
      e.stopPropagation();
      closePicker();
      row.focus();
    }
  });
  picker.addEventListener("focusout", (e) => { if (!picker.contains(e.relatedTarget)) closePicker(); });
  row.append(picker);
  draw();
  input.focus();
}

function closePicker() {
  const picker = document.querySelector(".picker");
  if (!picker || picker.dataset.closing) return;  // removing it blurs its input: focusout calls here again
  picker.dataset.closing = "1";
  picker.remove();
}

async function send(path, body) {
  const by = $("#by").value.trim() || "reviewer";
  localStorage.setItem("screentime.by", by);
  sessionStorage.setItem("screentime.token", $("#token").value);
  const base = state.view.version;
  try {
    const done = await postJson(path, {base_version: base, by, ...body}, $("#token").value);
    problem("");
    await load();
    $("#status").textContent = done.version === base ? "No change: that edit changes nothing, so no version was written."
      : `Saved version ${done.version}: ${done.reason}.` + namesakeNote();
    return true;
  } catch (e) {
    problem(e.status === 409 ? `Not saved: ${e.message}` : `Not saved (${e.status || "network"}): ${e.message}`, "edit");
    return false;
  }
}

function namesakeNote() {
  const twice = [...sameNames(state.view.targets).entries()].filter(([, ids]) => ids.length > 1);
  return twice.length ? ` Note: ${twice.map(([, ids]) => ids.map((id) => `#${id}`).join(" and ")).join("; ")} share a name.` : "";
}

const edit = (change) => send(`/shows/${encodeURIComponent(SHOW)}/people/edits`, {edit: change});
const undo = () => send(`/shows/${encodeURIComponent(SHOW)}/people/undo`, {});

async function merge() {
  if (state.selected.length < 2) return;
  const [into, ...others] = state.selected;
  if (await edit({action: "merge", into, identities: others})) {
    state.selected = [];
    updateSelection();
  }
}

function toggleSelect(id) {
  const at = state.selected.indexOf(id);
  if (at >= 0) state.selected.splice(at, 1); else state.selected.push(id);
  updateSelection();
}

function updateSelection() {
  for (const card of document.querySelectorAll(".person")) {
    const on = state.selected.includes(Number(card.dataset.id));
    card.classList.toggle("selected", on);
    card.querySelector(".select").checked = on;
  }
  const labels = state.selected.map((id) => state.view.targets.find((t) => t.id === id)?.label || `person ${id}`);
  $("#merge").disabled = state.selected.length < 2;
  $("#merge").textContent = state.selected.length < 2 ? "Merge selected"
    : `Merge ${labels.slice(1).join(", ")} into ${labels[0]}`;
}

function watchRecount(counting) {
  if (!counting || state.recount) return;
  state.recount = setInterval(async () => {
    try {
      const view = await getJson(query({limit: "1"}));
      if (view.numbers_version === view.version || view.version !== state.view.version) {
        clearInterval(state.recount);
        state.recount = null;
        await load();
      }
    } catch (e) { /* the API restarts: ask again */ }
  }, RECOUNT_POLL_MS);
}

function cards() {
  return [...document.querySelectorAll(".person")];
}

function currentCard() {
  return cards().find((c) => Number(c.dataset.id) === state.focusId);
}

function focusCard(step) {
  const all = cards();
  if (!all.length) return;
  const at = all.indexOf(currentCard());
  const next = at < 0 ? (step > 0 ? 0 : all.length - 1) : Math.max(0, Math.min(all.length - 1, at + step));
  state.focusId = Number(all[next].dataset.id);
  all[next].focus();
  all[next].scrollIntoView({block: "nearest"});
}

function focusTrack(step) {
  const card = currentCard();
  if (!card) return;
  const rows = [...card.querySelectorAll(".track")], at = rows.indexOf(document.activeElement?.closest(".track"));
  const next = rows[at < 0 ? (step > 0 ? 0 : rows.length - 1) : at + step];
  if (next) { next.focus(); next.scrollIntoView({block: "nearest"}); }
}

function focusedTrack() {
  const row = document.activeElement?.closest?.(".track");
  return row && row.closest(".person") === currentCard() ? row : null;
}

function page(step) {
  const next = state.offset + step * LIMIT;
  if (next < 0 || (step > 0 && next >= (state.view?.total ?? 0))) return;
  state.offset = next;
  state.focusId = null;
  load();
}

function leaveOut(reason) {
  const row = focusedTrack(), card = currentCard();
  if (row) { excludeTrack(row.track, reason); return; }
  const p = card && state.view.people.find((x) => x.id === Number(card.dataset.id));
  if (p) hidePerson(p, reason);
}

document.addEventListener("keydown", (e) => {
  const typing = e.target instanceof Element && e.target.closest('input:not([type="checkbox"]), select, textarea');
  if (typing || e.ctrlKey || e.metaKey || e.altKey) {
    if (e.key === "Escape" && typing) e.target.blur();
    return;
  }
  const current = currentCard();
  const keys = {
    j: () => focusCard(1), k: () => focusCard(-1), l: () => focusTrack(1), h: () => focusTrack(-1),
    m: merge, u: undo, "]": () => page(1), "[": () => page(-1),
    x: () => current && toggleSelect(Number(current.dataset.id)),
    n: () => { const name = current?.querySelector(".name"); if (name) { name.focus(); name.select(); } },
    s: () => { const row = focusedTrack(); if (row) split(row.track); },
    t: () => { const row = focusedTrack(); row?.querySelector(".move").click(); },
    f: () => leaveOut("not_a_face"), i: () => leaveOut("ignore"),
    "/": () => { $("#q").focus(); $("#q").select(); },
  };
  if (keys[e.key]) {
    e.preventDefault();
    keys[e.key]();
  }
});

let findTimer = null;
function find() {
  clearTimeout(findTimer);
  state.offset = 0;
  state.focusId = null;
  load();
}
$("#q").addEventListener("input", () => {
  clearTimeout(findTimer);
  findTimer = setTimeout(find, FIND_DELAY_MS);
});
$("#q").addEventListener("keydown", (e) => {
  if (e.key === "Escape") {  // empties the box and the filter with it
    e.preventDefault();
    e.stopPropagation();
    const had = $("#q").value !== "";
    $("#q").value = "";
    $("#q").blur();
    if (had) find();
  } else if (e.key === "Enter") {  // find now, and leave the box for the results (j: the first one)
    e.preventDefault();
    $("#q").blur();
    find();
  }
});
$("#q").addEventListener("search", () => { if (!$("#q").value) find(); });  // the box's own clear button
$("#named").addEventListener("change", find);
$("#hidden").addEventListener("change", find);
$("#merge").addEventListener("click", merge);
$("#undo").addEventListener("click", undo);
$("#reload").addEventListener("click", () => { problem(""); load(); });
$("#dismiss").addEventListener("click", () => problem(""));
for (const pager of document.querySelectorAll(".pager")) {
  pager.querySelector(".prev").addEventListener("click", () => page(-1));
  pager.querySelector(".next").addEventListener("click", () => page(1));
}
$("#by").value = localStorage.getItem("screentime.by") || "";
$("#token").value = sessionStorage.getItem("screentime.token") || "";
if (!SHOW) problem("Open this page as /review?show=<show> or /review?show=<show>&ep=<episode id>.");
else load();
