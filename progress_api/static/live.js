// Live pages: follow a show's people versions over Server-Sent Events (GET /shows/<show>/events).
// followShow(show, onVersions) calls onVersions({show, version, numbers_version, updated_by,
// updated_at, reason, change}) at once and after every edit, link or recount, by anyone. The
// browser's EventSource reconnects by itself after a dropped connection; when it gives up (or
// has no EventSource) this polls the same route's data every 5 s. Self-contained: no other script.
"use strict";

function followShow(show, onVersions, pollMs = 5000) {
  const url = new URL(`/shows/${encodeURIComponent(show)}/events`, window.location.href).toString();
  let last = "", timer = null, source = null;
  const deliver = (data) => {
    const key = `${data.version}.${data.numbers_version}`;
    if (key === last) return;
    last = key;
    onVersions(data);
  };
  const poll = () => {  // without SSE: the people view says both versions
    if (timer) return;
    const people = new URL(`/shows/${encodeURIComponent(show)}/people?limit=1`, window.location.href).toString();
    const tick = () => fetch(people).then((r) => (r.ok ? r.json() : null))
      .then((v) => v && deliver({show, version: v.version, numbers_version: v.numbers_version})).catch(() => {});
    tick();
    timer = setInterval(tick, pollMs);
  };
  if (!window.EventSource) poll();
  else {
    source = new EventSource(url);
    source.addEventListener("versions", (e) => deliver(JSON.parse(e.data)));
    source.addEventListener("error", () => { if (source.readyState === EventSource.CLOSED) poll(); });
  }
  return {close() { if (source) source.close(); if (timer) clearInterval(timer); }};
}
