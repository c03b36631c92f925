// Faces review: a show's (or one episode's) people as cards; every action is one versioned edit.
"use strict";

const SHOW = PARAMS.get("show") || "", EP = PARAMS.get("ep") || "";
const LIMIT = Math.min(500, Math.max(1, Number(PARAMS.get("per_page")) || 50)), FIND_DELAY_MS = 250, PICKER_MATCHES = 8;
const TILE_PX = 44, LIKELY_SHOWN = 2, ZOOM_HOVER_MS = 250;
// A card's face strip shows one page of the person's tracks, as many as fit its width.
const TILES = Math.min(500, Math.max(1, Number(PARAMS.get("tracks_per_page"))
  || Math.max(4, Math.floor((document.getElementById("people").clientWidth - 200) / TILE_PX))));
// focusId and selected are person ids, never positions: a new search or page must not turn a
// remembered position into another person (j after a search, then x and m, merged the wrong ones).
// trackAt: person id -> the first track shown on their card (the card's page of tracks).
const state = {view: null, offset: 0, selected: [], focusId: null, problemKind: null,
               trackAt: new Map(), likely: new Map(), zoom: {timer: null, pinned: false}};
const $ = (sel) => document.querySelector(sel);
const REASON_WORDS = {not_a_face: "not a face", ignore: "ignored"};
const words = (reason) => REASON_WORDS[reason] || String(reason).replaceAll("_", " ");
const cleanName = (value) => value.normalize("NFC").split(/\s+/).filter(Boolean).join(" ");
const fold = (text) => text.normalize("NFC").toLocaleLowerCase();

function query(extra = {}) {
  const q = new URLSearchParams({offset: String(state.offset), limit: String(LIMIT), tracks: String(TILES), ...extra});
  if (EP) q.set("ep_id", EP);
  if ($("#q").value.trim()) q.set("q", $("#q").value.trim());
  q.set("named", $("#named").value);
  if ($("#hidden").checked) q.set("hidden", "true");
  if ($("#unreviewed").checked) q.set("reviewed", "false");
  q.set("sort", $("#sort").value);
  return `/shows/${encodeURIComponent(SHOW)}/people?${q}`;
}

const showPath = (rest) => `/shows/${encodeURIComponent(SHOW)}/${rest}`;

function tracksPath(id, offset) {
  const q = new URLSearchParams({offset: String(offset), limit: String(TILES)});
  if (EP) q.set("ep_id", EP);
  return showPath(`people/${id}/tracks?${q}`);
}

// The cards paged on in their tracks get that page before they are drawn (so the focus can go back to a track there).
async function trackPages(view) {
  await Promise.all(view.people.map(async (p) => {
    let at = state.trackAt.get(p.id) || 0;
    if (at >= p.tracks_total) at = Math.max(0, Math.floor((p.tracks_total - 1) / TILES) * TILES);
    state.trackAt.set(p.id, at);
    if (at > 0) p.tracks = (await getJson(tracksPath(p.id, at))).tracks;
  }));
}

// Each person's likeliest matches ("same person?"), for the cards; a failure leaves the cards without them.
async function likelyMatches(version) {
  if (state.likelyVersion === version) return;
  try {
    const found = await getJson(showPath(`matches?limit=${LIKELY_SHOWN}`));
    state.likely = new Map(found.people.map((p) => [p.id, p.matches]));
    state.likelyVersion = version;
  } catch (e) { state.likely = new Map(); }
}

async function suggestionsLink() {
  const link = $("#suggestions-link"), scope = EP ? `&ep=${EP}` : "";
  link.href = api(`/suggestions?show=${encodeURIComponent(SHOW)}${scope}`);
  try {
    const q = new URLSearchParams({limit: "1"});
    if (EP) q.set("ep_id", EP);
    const found = await getJson(showPath(`suggestions?${q}`));
    link.textContent = `Same person? ${found.total} suggestion${found.total === 1 ? "" : "s"}`;
    link.classList.toggle("none", found.total === 0);
  } catch (e) { link.textContent = "Same person? suggestions"; }
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
    const view = await getJson(query());
    await Promise.all([trackPages(view), likelyMatches(view.version)]);
    if (olderThanShown(view)) return;  // a load that began before another one's newer edit ended
    render(view);
    if (state.problemKind === "load") problem("");
    suggestionsLink();
  } catch (e) {
    problem(e.message, "load");
  }
}

function olderThanShown(view) {
  const shown = document.body.dataset;
  return view.version < Number(shown.version ?? -1) ||
    (view.version === Number(shown.version) && (view.numbers_version ?? -1) < Number(shown.numbers || -1));
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
              : "Screen time is up to date.") + namesakeNote();  // said on every redraw (a live reload too)
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
  if (p.crop) {
    face.src = cropUrl(p.crop);
    zoomable(face, p.crop, {label: p.label});
  } else {
    face.replaceWith(el("div", {className: "face none", textContent: "no crop"}));
  }
  face.alt = p.label;
  const reviewed = node.querySelector(".reviewed");
  reviewed.checked = Boolean(p.reviewed);
  reviewed.closest("label").title = p.reviewed ? `reviewed by ${p.reviewed} (r takes the mark back)` : "reviewed: nothing left to fix (r)";
  reviewed.addEventListener("change", () => markReviewed(p));
  node.classList.toggle("is-reviewed", Boolean(p.reviewed));
  likelyChips(node.querySelector(".likely"), p, view);
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
  drawTracks(node, p, view);
  node.querySelector(".tracks-prev").addEventListener("click", () => trackPage(node, -1));
  node.querySelector(".tracks-next").addEventListener("click", () => trackPage(node, 1));
  node.person = p;
  node.addEventListener("focusin", () => { state.focusId = p.id; });
  return node;
}

// The card's face strip: one tile per track (its best face), one page of them; the pager says where.
function drawTracks(node, p, view) {
  const at = state.trackAt.get(p.id) || 0;
  node.querySelector(".tracks").replaceChildren(...p.tracks.map((t) => trackRow(t, p, view)));
  const pager = node.querySelector(".track-pager");
  pager.hidden = p.tracks_total <= TILES;
  pager.querySelector(".tracks-range").textContent =
    `tracks ${at + 1}–${Math.min(at + p.tracks.length, p.tracks_total)} of ${p.tracks_total}`;
  pager.querySelector(".tracks-prev").disabled = at === 0;
  pager.querySelector(".tracks-next").disabled = at + TILES >= p.tracks_total;
}

async function trackPage(node, step, focus = null) {
  const p = node.person, at = (state.trackAt.get(p.id) || 0) + step * TILES;
  if (at < 0 || at >= p.tracks_total) return false;
  try {
    p.tracks = (await getJson(tracksPath(p.id, at))).tracks;
  } catch (e) {
    problem(e.message, "load");
    return false;
  }
  state.trackAt.set(p.id, at);
  drawTracks(node, p, state.view);
  const rows = [...node.querySelectorAll(".track")];
  (focus === "last" ? rows[rows.length - 1] : focus === "first" ? rows[0] : null)?.focus();
  return true;
}

// A card's likeliest matches: their faces and distances; a click ticks both people for a merge
// (the named one, else this card, is kept), so `m` or Merge then joins them.
function likelyChips(box, p, view) {
  const matches = (state.likely.get(p.id) || []).slice(0, LIKELY_SHOWN);
  box.hidden = !matches.length;
  if (!matches.length) return;
  box.replaceChildren(el("span", {className: "likely-q", textContent: "same as?"}), ...matches.map((m) => {
    const target = view.targets.find((t) => t.id === m.id);
    const chip = el("button", {type: "button", className: "likely-chip quiet",
                               title: `tick ${p.label} and ${m.label} to merge them (distance ${m.distance.toFixed(2)})`});
    chip.dataset.id = String(m.id);
    if (target?.crop) {
      const img = el("img", {src: cropUrl(target.crop), width: 22, height: 22, alt: "", loading: "lazy"});
      zoomable(img, target.crop, {label: m.label});
      chip.append(img);
    }
    chip.append(el("span", {textContent: `${m.label} ${m.distance.toFixed(2)}`}));
    chip.addEventListener("click", () => {
      const other = view.targets.find((t) => t.id === m.id);
      state.selected = other?.named && !p.name ? [m.id, p.id] : [p.id, m.id];
      updateSelection();
    });
    return chip;
  }));
}

const markReviewed = (p) =>
  edit({action: "reviewed", identity: p.id, reviewer: p.reviewed ? null : ($("#by").value.trim() || "reviewer")});

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
  node.classList.toggle("moved", Boolean(t.moved));
  const tile = node.querySelector(".tile"), who = {label: p.label, track: t.track};
  if (t.crops.length) {
    tile.src = cropUrl(t.crops[0]);
    tile.alt = `track ${t.track}`;
    zoomable(tile, t.crops[0], who);
  } else {
    tile.replaceWith(el("span", {className: "tile none", textContent: t.track}));
  }
  node.title = `track ${t.track} · ${clock(t.start_s)} · ${t.seconds.toFixed(1)} s`;
  node.querySelector(".strip").append(...t.crops.map((c) => {
    const img = el("img", {src: cropUrl(c), loading: "lazy", width: 56, height: 56,
                           alt: `track ${t.track} at frame ${c.frame_index}`});
    zoomable(img, c, who);
    return img;
  }));
  node.addEventListener("focusin", () => {  // the detail opens towards the card's middle
    const tile = node.getBoundingClientRect(), within = node.closest(".person").getBoundingClientRect();
    node.classList.toggle("flip", tile.left - within.left > within.width / 2);
  });
  const notes = [t.excluded ? `left out (${words(t.excluded)})` : "", t.moved ? "moved here" : ""].filter(Boolean);
  node.querySelector(".track-facts").textContent =
    `${EP ? "" : `${t.ep_id} · `}track ${t.track} · ${clock(t.start_s)}–${clock(t.end_s)} · ${t.seconds.toFixed(1)} s` +
    (notes.length ? ` · ${notes.join(", ")}` : "");
  node.querySelector(".split").addEventListener("click", () => split(t));
  node.querySelector(".cut").addEventListener("click", () => openCutter(node, t, p, view));
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
// the highlight, and nothing is moved until Enter or a click names the person. `then` (a split
// inside the track) is what choosing a person does instead of moving the whole track.
function openPicker(row, t, p, view, then = null) {
  closePicker();
  const picker = document.getElementById("picker-template").content.firstElementChild.cloneNode(true);
  const input = picker.querySelector("input"), list = picker.querySelector(".matches");
  if (then) {
    input.placeholder = then.placeholder;
    input.setAttribute("aria-label", then.placeholder);
  }
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
    if (then) then.choose(target);
    else edit({action: "move", ep_id: t.ep_id, track: t.track, to: target.id});
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
  row.querySelector(".track-detail").append(picker);
  draw();
  input.focus();
}

function closePicker() {
  for (const picker of document.querySelectorAll(".picker, .cutter")) {
    if (picker.dataset.closing) continue;  // removing it blurs its input: focusout calls here again
    picker.dataset.closing = "1";
    picker.remove();
  }
}

// Split inside a track: the track's crops in time order; the reviewer picks the first crop of the
// other face (a click, or ←/→ and Enter), then who the frames from there on are: a new person, or
// someone found as in "Move to…". One split_track edit, made on the version the page shows.
async function openCutter(row, t, p, view) {
  closePicker();
  const cutter = document.getElementById("cutter-template").content.firstElementChild.cloneNode(true);
  const list = cutter.querySelector(".cut-crops"), then = cutter.querySelector(".cut-then");
  row.querySelector(".track-detail").append(cutter);
  cutter.focus();
  const close = () => { closePicker(); row.focus(); };
  cutter.addEventListener("keydown", (e) => {
    if (e.key === "Escape") {
      e.preventDefault();
      e.stopPropagation();
      close();
    } else if ((e.key === "ArrowRight" || e.key === "ArrowLeft") && e.target.closest(".cut-crop")) {
      e.preventDefault();
      const all = [...list.querySelectorAll(".cut-crop:not(:disabled)")], at = all.indexOf(e.target.closest(".cut-crop"));
      all[Math.max(0, Math.min(all.length - 1, at + (e.key === "ArrowRight" ? 1 : -1)))]?.focus();
    }
  });
  cutter.addEventListener("focusout", (e) => { if (!cutter.contains(e.relatedTarget)) closePicker(); });
  let found;
  try {
    found = await getJson(showPath(`episodes/${encodeURIComponent(t.ep_id)}/tracks/${encodeURIComponent(t.track)}/crops`));
  } catch (e) {
    cutter.querySelector(".cut-q").textContent = `The track's faces could not be read: ${e.message}`;
    return;
  }
  const choose = (crop) => {
    for (const b of list.querySelectorAll(".cut-crop")) b.classList.toggle("after", Number(b.dataset.frame) >= crop.frame_index);
    cutter.dataset.frame = String(crop.frame_index);
    then.hidden = false;
    then.querySelector(".cut-at").textContent = `${moment(crop.timestamp_s)} (frame ${crop.frame_index})`;
    then.querySelector(".cut-new").focus();
  };
  const splitTo = (frame, to) => edit({action: "split_track", ep_id: t.ep_id, track: t.track, frame, to});
  then.querySelector(".cut-new").addEventListener("click", () => splitTo(Number(cutter.dataset.frame), null));
  then.querySelector(".cut-to").addEventListener("click", () => {
    const frame = Number(cutter.dataset.frame);
    openPicker(row, t, p, view, {placeholder: `frames from ${frame} on are: type a name or a number`,
                                 choose: (target) => splitTo(frame, target.id)});
  });
  list.replaceChildren(...found.crops.map((c) => {
    const first = c.frame_index <= found.first_frame;  // nothing of the track before it: no cut there
    const button = el("button", {type: "button", className: "cut-crop", disabled: first,
                                 title: first ? "the track starts here" : `the other face starts here: frame ${c.frame_index}`},
                      el("img", {src: cropUrl(c), width: 48, height: 48, alt: `frame ${c.frame_index}`, loading: "lazy"}),
                      el("small", {textContent: moment(c.timestamp_s)}));
    button.dataset.frame = String(c.frame_index);
    button.addEventListener("click", () => choose(c));
    return button;
  }));
  const more = found.total > found.crops.length ? ` (${found.crops.length} of its ${found.total} crops, spread over it)` : "";
  cutter.querySelector(".cut-q").textContent = list.querySelector(".cut-crop:not(:disabled)")
    ? `Where does the other face start? Pick its first crop${more}.` : "This track has too few crops to split at one.";
  list.querySelector(".cut-crop:not(:disabled)")?.focus();
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
      : `Saved version ${done.version}: ${done.reason}.` + recountNote() + namesakeNote();
    return true;
  } catch (e) {
    problem(e.status === 409 ? `Not saved: ${e.message}` : `Not saved (${e.status || "network"}): ${e.message}`, "edit");
    return false;
  }
}

function recountNote() {  // the saved line keeps saying that the seconds are being recounted
  const v = state.view;
  return v.numbers_version !== v.version ? ` Recounting screen time in Dagster (the seconds shown are from version ${v.numbers_version ?? "–"})…` : "";
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

// Live: another reviewer's edit, a link or Dagster's recount changes a version; load again then.
// One load at a time, the page's first one included, and a load only while the versions said live
// are newer than the ones the page shows: the versions the event stream says as the page opens are
// the ones its first load shows, so they load nothing again (a second load would redraw the cards,
// and a chooser opened meanwhile, under a reviewer who starts at once). An open "Move to…" or split
// chooser is not redrawn away under the reviewer: the load waits until it closes (its edit is
// checked against the newest version anyway). live.js: followShow.
function followVersions() {
  let loading = null, latest = null, waiting = false;
  const run = () => {
    if (loading || !latest || !newer(latest)) return;
    if (document.querySelector(".picker, .cutter")) {
      if (!waiting) { waiting = true; setTimeout(() => { waiting = false; run(); }, 300); }
      return;
    }
    loading = load().finally(() => { loading = null; run(); });
  };
  loading = load().finally(() => { loading = null; run(); });
  followShow(SHOW, (v) => { latest = v; run(); });
}

// Whether versions (of the people, of the numbers counted) are newer than the ones the page shows.
function newer(v) {
  const shown = document.body.dataset;
  return v.version > Number(shown.version ?? -1) || (v.numbers_version ?? -1) > Number(shown.numbers || -1);
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
  if (next) { next.focus(); next.scrollIntoView({block: "nearest"}); return; }
  if (at >= 0) trackPage(card, step, step > 0 ? "first" : "last");  // past the strip: its next page
}

// --- the larger view: any crop, with its frame when the run saved frames, its moment, and the video there ---

const frameUrl = (c) => api(`/frames/${c.ep_id}/${c.run_id}/${c.frame_index}.jpg`);
const videoUrl = (ep) => api(`/episodes/${ep}/video`);

function moment(seconds) {  // 754.5 -> "12:34.5"
  if (seconds === null || seconds === undefined) return "–";
  const tenths = Math.round(seconds * 10), s = Math.floor(tenths / 10), h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60), rest = `${String(s % 60).padStart(2, "0")}.${tenths % 10}`;
  return h ? `${h}:${String(m).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
}

// Hovering a face shows it larger (until the pointer leaves); a click keeps it open.
function zoomable(img, crop, who) {
  img.classList.add("zoomable");
  img.addEventListener("mouseenter", () => {
    clearTimeout(state.zoom.timer);
    if (!state.zoom.pinned) state.zoom.timer = setTimeout(() => openZoom(crop, who, false), ZOOM_HOVER_MS);
  });
  img.addEventListener("mouseleave", () => {
    clearTimeout(state.zoom.timer);
    if (!state.zoom.pinned) state.zoom.timer = setTimeout(closeZoom, ZOOM_HOVER_MS);
  });
  img.addEventListener("click", (e) => {
    if (img.closest(".likely-chip")) e.stopPropagation();  // the face, not the chip's tick
    openZoom(crop, who, true);
  });
}

function openZoom(crop, who, pinned) {
  clearTimeout(state.zoom.timer);
  const zoom = $("#zoom"), pic = zoom.querySelector(".zoom-pic");
  state.zoom.pinned = pinned;
  zoom.classList.toggle("pinned", pinned);
  zoom.dataset.ep = crop.ep_id;
  zoom.dataset.frameIndex = String(crop.frame_index);
  const img = el("img", {alt: `${who.label} at frame ${crop.frame_index}`}), box = el("div", {className: "zoom-box", hidden: true});
  pic.replaceChildren(img, box);
  const alone = (why) => {
    zoom.dataset.shows = "crop";
    img.src = cropUrl(crop);
    zoom.querySelector(".zoom-context").textContent = `The crop alone: ${why}.`;
  };
  if (crop.frame) {
    zoom.dataset.shows = "frame";
    img.src = frameUrl(crop);
    zoom.querySelector(".zoom-context").textContent = "The whole frame, the face boxed.";
    img.addEventListener("load", () => placeBox(img, box, crop.box), {once: true});
    img.addEventListener("error", () => alone("its frame could not be read"), {once: true});
  } else {
    alone("this run saved no frames (run it with --save-frames to see the frame around each face)");
  }
  const where = `${EP ? "" : `${crop.ep_id} `}at ${moment(crop.timestamp_s)}`;
  zoom.querySelector(".zoom-what").textContent =
    `${who.label}${who.track ? ` · track ${who.track}` : ""} · ${where} (frame ${crop.frame_index})`;
  const play = zoom.querySelector(".zoom-play");
  if (state.view?.videos?.[crop.ep_id] && crop.timestamp_s !== null && crop.timestamp_s !== undefined) {
    const at = `${videoUrl(crop.ep_id)}#t=${crop.timestamp_s.toFixed(1)}`;
    const button = el("button", {type: "button", className: "zoom-video", textContent: `▶ Play from ${moment(crop.timestamp_s)}`});
    button.addEventListener("click", () => playAt(at));
    play.replaceChildren(button, " ", el("a", {href: at, target: "_blank", rel: "noopener", className: "zoom-link",
                                                textContent: "open the episode there"}));
  } else {
    play.textContent = "The episode's video is not reachable from the API, so it cannot be played here.";
  }
  zoom.hidden = false;
}

function placeBox(img, box, xyxy) {
  if (!xyxy || !img.naturalWidth) return;
  const sx = img.clientWidth / img.naturalWidth, sy = img.clientHeight / img.naturalHeight;
  Object.assign(box.style, {left: `${xyxy[0] * sx}px`, top: `${xyxy[1] * sy}px`,
                            width: `${(xyxy[2] - xyxy[0]) * sx}px`, height: `${(xyxy[3] - xyxy[1]) * sy}px`});
  box.hidden = false;
}

function playAt(url) {
  const zoom = $("#zoom");
  state.zoom.pinned = true;
  zoom.classList.add("pinned");
  zoom.dataset.shows = "video";
  zoom.querySelector(".zoom-pic").replaceChildren(el("video", {src: url, controls: true, autoplay: true, muted: true}));
}

function closeZoom() {
  clearTimeout(state.zoom.timer);
  state.zoom.pinned = false;
  $("#zoom").hidden = true;
  $("#zoom .zoom-pic").replaceChildren();  // stops a video playing
}

function zoomFocused() {
  const row = focusedTrack(), card = currentCard();
  const p = card && state.view.people.find((x) => x.id === Number(card.dataset.id));
  if (row?.track.crops.length) openZoom(row.track.crops[0], {label: p?.label || "", track: row.track.track}, true);
  else if (p?.crop) openZoom(p.crop, {label: p.label}, true);
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
  if (e.key === "Escape" && !$("#zoom").hidden) {
    e.preventDefault();
    closeZoom();
    return;
  }
  const current = currentCard();
  const keys = {
    j: () => focusCard(1), k: () => focusCard(-1), l: () => focusTrack(1), h: () => focusTrack(-1),
    m: merge, u: undo, "]": () => page(1), "[": () => page(-1),
    x: () => current && toggleSelect(Number(current.dataset.id)),
    n: () => { const name = current?.querySelector(".name"); if (name) { name.focus(); name.select(); } },
    s: () => { const row = focusedTrack(); if (row) split(row.track); },
    c: () => { const row = focusedTrack(); row?.querySelector(".cut").click(); },
    t: () => { const row = focusedTrack(); row?.querySelector(".move").click(); },
    f: () => leaveOut("not_a_face"), i: () => leaveOut("ignore"), o: zoomFocused,
    r: () => { const p = current && state.view.people.find((x) => x.id === Number(current.dataset.id)); if (p) markReviewed(p); },
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
$("#unreviewed").addEventListener("change", find);
$("#sort").addEventListener("change", find);
$("#zoom .zoom-close").addEventListener("click", closeZoom);
$("#zoom").addEventListener("mouseenter", () => clearTimeout(state.zoom.timer));
$("#zoom").addEventListener("mouseleave", () => { if (!state.zoom.pinned) state.zoom.timer = setTimeout(closeZoom, ZOOM_HOVER_MS); });
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
else followVersions();  // the first load too
