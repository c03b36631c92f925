// The live page: episode cards updated by Server-Sent Events, with polling as the fallback.
"use strict";

const DAGSTER_UI = document.querySelector('meta[name="dagster-ui-url"]').content.replace(/\/$/, "");
const COUNTS = [["frames_analyzed", "frames analysed"], ["detections", "detections"], ["tracks", "tracks"],
                ["frames_saved", "frames saved"], ["crops_saved", "crops saved"]];
const POLL_MS = 1000, LIST_MS = 5000, SSE_RETRIES = 3;
// `?transport=poll` forces the fallback (for old proxies that buffer event streams, and for tests).
const FORCE_POLL = new URLSearchParams(window.location.search).get("transport") === "poll";
const cards = new Map();  // ep_id -> {el, run, source, timer, ended}

const terminal = (r) => r.phase === "done" || r.phase === "error";
const api = (path) => new URL(path, window.location.href).toString();

function card(ep) {
  let c = cards.get(ep);
  if (!c) {
    const el = document.getElementById("episode-template").content.firstElementChild.cloneNode(true);
    el.dataset.ep = ep;
    el.querySelector(".ep").textContent = ep;
    document.getElementById("episodes").prepend(el);
    document.getElementById("empty").hidden = true;
    c = {el, run: null, source: null, timer: null, ended: false};
    cards.set(ep, c);
  }
  return c;
}

function duration(s) {
  if (s === null || s === undefined) return "ETA …";
  s = Math.round(s);
  return `ETA ${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function fillList(dl, pairs) {
  dl.replaceChildren();
  for (const [name, value] of pairs) {
    const dt = document.createElement("dt"), dd = document.createElement("dd");
    dt.textContent = name;
    dd.textContent = value;
    dl.append(dt, dd);
  }
}

function render(r) {
  const c = card(r.ep_id), el = c.el;
  if (c.run && c.run !== r.run_id && !c.ended) return;  // a record of another run than the one followed
  c.run = r.run_id;
  c.ended = terminal(r);
  const pct = Math.round(r.ratio * 1000) / 10;
  Object.assign(el.dataset, {phase: r.phase, ratio: String(r.ratio), run: r.run_id, seq: String(r.seq)});
  el.querySelector(".phase").textContent = r.phase;
  el.querySelector(".fill").style.width = `${pct}%`;
  el.querySelector(".bar").setAttribute("aria-valuenow", String(pct));
  el.querySelector(".percent").textContent = `${pct.toFixed(1)}%`;
  el.querySelector(".frames").textContent = `${r.frames_done} / ${r.frames_total} frames`;
  el.querySelector(".eta").textContent = duration(r.eta_seconds);
  el.querySelector(".fps").textContent = `${(r.fps || 0).toFixed(1)} fps`;
  el.querySelector(".device").textContent = r.device ? `device ${r.device}` : "";
  const summary = el.querySelector(".summary"), error = el.querySelector(".error");
  summary.hidden = r.phase !== "done";
  error.hidden = r.phase !== "error";
  if (r.phase === "done") {
    fillList(summary.querySelector(".counts"), COUNTS.map(([k, name]) => [name, (r.counts || {})[k] ?? "–"]));
    // Only what the run wrote: frames are listed when the run saved them.
    fillList(summary.querySelector(".artifacts"), Object.entries(r.artifacts || {}));
    summary.querySelector(".run-link").href = `${DAGSTER_UI}/runs/${r.run_id}`;
    // The show's slug is the episode id without its -sNNeNN tail.
    const show = encodeURIComponent(r.ep_id.replace(/-s\d+e\d+$/, "")), ep = encodeURIComponent(r.ep_id);
    summary.querySelector(".review-link").href = api(`/review?show=${show}&ep=${ep}`);
    summary.querySelector(".screentime-link").href = api(`/screentime?show=${show}&ep=${ep}`);
  }
  if (r.phase === "error") error.textContent = `${r.error_type || "error"}: ${r.error || ""}`;
}

function stop(c) {
  if (c.source) c.source.close();
  if (c.timer) clearInterval(c.timer);
  c.source = c.timer = null;
}

function poll(ep, run) {
  const c = card(ep);
  stop(c);
  c.el.querySelector(".live").textContent = "polling";
  const tick = async () => {
    try {
      const res = await fetch(api(`/episodes/${ep}/progress`));
      if (!res.ok) return;
      const r = await res.json();
      if (run && r.run_id !== run && !c.ended) return;  // the launched run has not written yet
      render(r);
      if (terminal(r)) stop(c);
    } catch (e) { /* the API restarts: keep polling */ }
  };
  c.timer = setInterval(tick, POLL_MS);
  tick();
}

function follow(ep, run) {
  const c = card(ep);
  stop(c);
  c.run = run;
  c.ended = false;
  if (!window.EventSource || FORCE_POLL) return poll(ep, run);
  const source = new EventSource(api(`/episodes/${ep}/events?run_id=${encodeURIComponent(run)}`));
  let failures = 0;
  const onRecord = (e) => {
    failures = 0;
    const r = JSON.parse(e.data);
    render(r);
    if (terminal(r)) stop(c);
  };
  source.addEventListener("progress", onRecord);
  source.addEventListener("done", onRecord);
  // `error` is both our terminal event (it has data) and EventSource's connection error (no data).
  source.addEventListener("error", (e) => {
    if (e.data) return onRecord(e);
    failures += 1;
    if (source.readyState === EventSource.CLOSED || failures >= SSE_RETRIES) poll(ep, run);
  });
  c.source = source;
  c.el.querySelector(".live").textContent = "live (SSE)";
}

async function refreshList() {
  try {
    const res = await fetch(api("/episodes"));
    if (!res.ok) return;
    for (const e of (await res.json()).episodes.slice().reverse()) {
      const c = cards.get(e.ep_id);
      if (c && c.run === e.run_id) continue;  // already shown (and followed while it runs)
      if (c && !c.ended) continue;  // following a launched run that has not written yet
      if (terminal(e)) {
        const full = await fetch(api(`/episodes/${e.ep_id}/progress`));
        if (full.ok) render(await full.json());
      } else {
        follow(e.ep_id, e.run_id);
      }
    }
  } catch (e) { /* the API restarts: try again on the next tick */ }
}

function formBody(form) {
  const f = new FormData(form);
  return {
    ep_id: f.get("ep_id").trim(), video: f.get("video").trim(), fps: Number(f.get("fps") || 0),
    jpeg_quality: Number(f.get("jpeg_quality") || 90), device: f.get("device"),
    save_frames: f.get("save_frames") === "on", save_crops: f.get("save_crops") === "on",
  };
}

function describe(detail) {
  if (Array.isArray(detail)) return detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ");
  return String(detail);
}

async function launch(event) {
  event.preventDefault();
  const form = event.target, status = document.getElementById("run-status");
  const token = new FormData(form).get("token");
  const headers = {"Content-Type": "application/json", "Accept": "application/json"};
  if (token) headers.Authorization = `Bearer ${token}`;
  status.className = "";
  status.textContent = "launching…";
  try {
    const res = await fetch(api("/jobs/detect_track"), {method: "POST", headers, body: JSON.stringify(formBody(form))});
    const body = await res.json();
    if (!res.ok) throw new Error(describe(body.detail));
    status.innerHTML = "";
    status.append(`launched run ${body.run_id} `);
    const link = Object.assign(document.createElement("a"), {href: body.dagster_run_url, textContent: "(Dagster UI)", target: "_blank"});
    status.append(link);
    const c = card(body.ep_id);
    c.el.dataset.phase = "launched";
    c.el.querySelector(".phase").textContent = "launched";
    c.el.querySelector(".summary").hidden = true;
    c.el.querySelector(".error").hidden = true;
    follow(body.ep_id, body.run_id);
  } catch (e) {
    status.className = "error";
    status.textContent = `could not launch: ${e.message}`;
  }
}

document.getElementById("run-form").addEventListener("submit", launch);
refreshList();
setInterval(refreshList, LIST_MS);
