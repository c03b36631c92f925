// Shared by the review and Screentime pages: the API's address, crops, numbers, errors.
"use strict";

const DAGSTER_UI = document.querySelector('meta[name="dagster-ui-url"]').content.replace(/\/$/, "");
const PARAMS = new URLSearchParams(window.location.search);
const api = (path) => new URL(path, window.location.href).toString();
const cropUrl = (c) => api(`/crops/${c.ep_id}/${c.run_id}/${c.track_id}/${c.frame_index}.jpg`);
const showOf = (ep) => ep.replace(/-s\d+e\d+$/, "");

function clock(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  return h ? `${h}:${String(m).padStart(2, "0")}:${String(r).padStart(2, "0")}` : `${m}:${String(r).padStart(2, "0")}`;
}

class ApiError extends Error {
  constructor(status, detail) { super(detail); this.status = status; }
}

async function getJson(path) {
  const res = await fetch(api(path));
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new ApiError(res.status, body.detail || `${res.status} ${res.statusText}`);
  return body;
}

async function postJson(path, body, token) {
  const headers = {"Content-Type": "application/json"};
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(api(path), {method: "POST", headers, body: JSON.stringify(body)});
  const answer = await res.json().catch(() => ({}));
  if (!res.ok) throw new ApiError(res.status, answer.detail || `${res.status} ${res.statusText}`);
  return answer;
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props);
  node.append(...children);
  return node;
}
