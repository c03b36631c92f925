// Faces review: a show's (or one episode's) people as cards; every action is one versioned edit.
"use strict";

const SHOW = PARAMS.get("show") || "", EP = PARAMS.get("ep") || "";
const LIMIT = 50, RECOUNT_POLL_MS = 2000, FIND_DELAY_MS = 250;
const state = {view: null, offset: 0, selected: [], focus: -1, recount: null};
const $ = (sel) => document.querySelector(sel);

function query(extra = {}) {
  const q = new URLSearchParams({offset: String(state.offset), limit: String(LIMIT), ...extra});
  if (EP) q.set("ep_id", EP);
  if ($("#q").value.trim()) q.set("q", $("#q").value.trim());
  q.set("named", $("#named").value);
  if ($("#hidden").checked) q.set("hidden", "true");
  return `/shows/${encodeURIComponent(SHOW)}/people?${q}`;
}

function problem(message) {
  $("#problem").hidden = !message;
  $("#problem span").textContent = message || "";
}

async function load() {
  try {
    render(await getJson(query()));
    problem("");
  } catch (e) {
    problem(e.message);
  }
}

function render(view) {
  state.view = view;
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
  const list = $("#people");
  list.replaceChildren(...view.people.map((p) => personCard(p, view)));
  for (const pager of document.querySelectorAll(".pager")) {
    const end = Math.min(view.offset + view.people.length, view.total);
    pager.querySelector(".range").textContent = view.total ? `${view.offset + 1}–${end} of ${view.total} people` : "nobody here";
    pager.querySelector(".prev").disabled = view.offset === 0;
    pager.querySelector(".next").disabled = end >= view.total;
  }
  state.focus = Math.min(state.focus, view.people.length - 1);
  updateSelection();
  watchRecount(counting);
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

function personCard(p, view) {
  const node = document.getElementById("person-template").content.firstElementChild.cloneNode(true);
  node.dataset.id = String(p.id);
  node.dataset.seconds = String(p.seconds ?? "");
  node.classList.toggle("selected", state.selected.includes(p.id));
  node.querySelector(".select").checked = state.selected.includes(p.id);
  node.querySelector(".select").addEventListener("change", () => toggleSelect(p.id));
  const face = node.querySelector(".face");
  if (p.crop) face.src = cropUrl(p.crop); else face.replaceWith(el("div", {className: "face none", textContent: "no crop"}));
  face.alt = p.label;
  const name = node.querySelector(".name");
  name.value = p.name || "";
  name.placeholder = p.label;
  node.querySelector(".rename").addEventListener("submit", (e) => {
    e.preventDefault();
    edit({action: "rename", identity: p.id, name: name.value});
  });
  const seconds = p.seconds === null ? "not counted yet" : `${clock(p.seconds)} on screen`;
  node.querySelector(".numbers").textContent =
    `${seconds} · ${p.appearances ?? "–"} appearances · ${p.episodes} episode${p.episodes === 1 ? "" : "s"}` +
    (p.hidden ? ` · left out (${p.hidden.replace("_", " ")})` : "");
  for (const button of node.querySelectorAll(".hide")) {
    if (p.hidden) {
      button.textContent = "Count again";
      if (button.dataset.reason !== p.hidden) button.hidden = true;
    }
    button.addEventListener("click", () =>
      edit({action: "hide", identity: p.id, reason: p.hidden ? null : button.dataset.reason}));
  }
  const tracks = node.querySelector(".tracks");
  tracks.append(...p.tracks.map((t) => trackRow(t, p, view)));
  if (p.tracks_total > p.tracks.length) {
    tracks.append(el("li", {className: "more", textContent: `and ${p.tracks_total - p.tracks.length} shorter tracks`}));
  }
  node.addEventListener("focusin", () => { state.focus = [...node.parentNode.children].indexOf(node); });
  return node;
}

function trackRow(t, p, view) {
  const node = document.getElementById("track-template").content.firstElementChild.cloneNode(true);
  node.dataset.ep = t.ep_id;
  node.dataset.track = t.track;
  node.classList.toggle("excluded", Boolean(t.excluded));
  node.querySelector(".strip").append(...t.crops.map((c) =>
    el("img", {src: cropUrl(c), loading: "lazy", width: 56, height: 56, alt: `track ${t.track} at frame ${c.frame_index}`})));
  const notes = [t.excluded ? `left out (${t.excluded.replace("_", " ")})` : "", t.moved ? "moved here" : ""].filter(Boolean);
  node.querySelector(".track-facts").textContent =
    `${EP ? "" : `${t.ep_id} · `}track ${t.track} · ${clock(t.start_s)}–${clock(t.end_s)} · ${t.seconds.toFixed(1)} s` +
    (notes.length ? ` · ${notes.join(", ")}` : "");
  node.querySelector(".split").addEventListener("click", () =>
    edit({action: "move", ep_id: t.ep_id, track: t.track, to: null}));
  const move = node.querySelector(".move");
  // Filled when first used: a select per track with every person in it would be hundreds of
  // thousands of elements on a big show, and seconds to draw a page.
  const fill = () => {
    if (move.options.length > 1) return;
    move.append(...view.targets.filter((target) => target.id !== p.id).map((target) =>
      el("option", {value: String(target.id), textContent: target.label})));
  };
  move.addEventListener("focus", fill);
  move.addEventListener("pointerdown", fill);
  move.addEventListener("change", () => {
    if (move.value) edit({action: "move", ep_id: t.ep_id, track: t.track, to: Number(move.value)});
  });
  for (const button of node.querySelectorAll(".exclude")) {
    if (t.excluded) {
      button.textContent = "Count again";
      if (button.dataset.reason !== t.excluded) button.hidden = true;
    }
    button.addEventListener("click", () =>
      edit({action: "exclude_track", ep_id: t.ep_id, track: t.track, reason: t.excluded ? null : button.dataset.reason}));
  }
  return node;
}

async function send(path, body) {
  const by = $("#by").value.trim() || "reviewer";
  localStorage.setItem("screentime.by", by);
  sessionStorage.setItem("screentime.token", $("#token").value);
  try {
    const done = await postJson(path, {base_version: state.view.version, by, ...body}, $("#token").value);
    problem("");
    $("#status").textContent = `Saved version ${done.version}: ${done.reason}.`;
    await load();
    return true;
  } catch (e) {
    problem(e.status === 409 ? `Not saved: ${e.message}` : `Not saved (${e.status || "network"}): ${e.message}`);
    return false;
  }
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

function focusCard(step) {
  const cards = [...document.querySelectorAll(".person")];
  if (!cards.length) return;
  state.focus = Math.max(0, Math.min(cards.length - 1, state.focus + step));
  cards[state.focus].focus();
  cards[state.focus].scrollIntoView({block: "nearest"});
}

document.addEventListener("keydown", (e) => {
  const typing = e.target instanceof Element && e.target.closest('input:not([type="checkbox"]), select, textarea');
  if (typing || e.ctrlKey || e.metaKey || e.altKey) {
    if (e.key === "Escape") e.target.blur();
    return;
  }
  const cards = [...document.querySelectorAll(".person")], current = cards[state.focus];
  const keys = {
    j: () => focusCard(1), k: () => focusCard(-1), m: merge, u: undo,
    x: () => current && toggleSelect(Number(current.dataset.id)),
    n: () => current && current.querySelector(".name").focus(),
    "/": () => $("#q").focus(),
  };
  if (keys[e.key]) {
    e.preventDefault();
    keys[e.key]();
  }
});

let findTimer = null;
$("#q").addEventListener("input", () => {
  clearTimeout(findTimer);
  findTimer = setTimeout(() => { state.offset = 0; load(); }, FIND_DELAY_MS);
});
$("#named").addEventListener("change", () => { state.offset = 0; load(); });
$("#hidden").addEventListener("change", () => { state.offset = 0; load(); });
$("#merge").addEventListener("click", merge);
$("#undo").addEventListener("click", undo);
$("#reload").addEventListener("click", load);
for (const pager of document.querySelectorAll(".pager")) {
  pager.querySelector(".prev").addEventListener("click", () => { state.offset = Math.max(0, state.offset - LIMIT); load(); });
  pager.querySelector(".next").addEventListener("click", () => { state.offset += LIMIT; load(); });
}
$("#by").value = localStorage.getItem("screentime.by") || "";
$("#token").value = sessionStorage.getItem("screentime.token") || "";
if (!SHOW) problem("Open this page as /review?show=<show> or /review?show=<show>&ep=<episode id>.");
else load();
