// The vistream page: live annotated video over a WebSocket, playback controls with the window's
// semantics, the pipeline's panels and its live parameters. Plain JS, no build step, no external
// resources; it talks to the server only through the protocol in docs/web.md.
"use strict";

(function () {
  const RECONNECT_MIN_MS = 250;
  const RECONNECT_MAX_MS = 4000;
  const PARAM_DEBOUNCE_MS = 150;
  const LATENCY_RECORDS = 1000;
  const ZONE_SERIES_LENGTH = 300;
  const SPEEDS = [0.0625, 0.125, 0.25, 0.5, 1, 2, 4, 8, 16];

  const $ = (id) => document.getElementById(id);
  const el = {
    video: $("video"), index: $("frame-index"), time: $("frame-time"), fps: $("fps"), dropped: $("dropped"),
    hudSpeed: $("hud-speed"), pause: $("pause"), stepBack: $("step-back"), stepForward: $("step-forward"),
    seek: $("seek"), position: $("position"), speed: $("speed"), detections: $("detections"),
    detectionsCount: $("detections-count"), chart: $("counts-chart"), legend: $("counts-legend"),
    zones: $("zones"), timings: $("timings"), params: $("params"), connection: $("connection"),
    overlay: $("overlay"), source: $("source"), controlError: $("control-error"),
  };
  const videoContext = el.video.getContext("2d");

  // For the latency bench: when each frame was published by the server and drawn here.
  window.vistreamFrames = [];

  const page = {
    state: null,          // the last /api/state (or WS state message)
    panels: null,         // the last dashboard JSON
    highlighted: null,    // track id the server highlights, or null
    serverHighlighted: undefined,  // the last highlight a panels snapshot reported
    requestedSpeed: null, // a speed sent to the server whose answer has not come back yet
    seekDragging: false,  // the user holds the seek bar: do not move it under their finger
    socket: null,
    reconnectDelay: RECONNECT_MIN_MS,
    reconnectTimer: null,
    zoneSeries: {},       // zone name -> [{time, value}]: the server sends only current zone counts
  };

  // ---- HTTP and WebSocket ----------------------------------------------------------------------

  const { api } = window.vistreamHttp;
  const socketUrl = () => window.vistreamHttp.socketUrl("/ws");

  function setConnection(status, text) {
    document.body.classList.remove("connecting", "connected", "disconnected");
    document.body.classList.add(status);
    el.connection.textContent = text;
    el.connection.dataset.status = status;
    el.overlay.textContent = text;
  }

  function connect() {
    page.reconnectTimer = null;
    let socket;
    try {
      socket = new WebSocket(socketUrl());
    } catch (_) {
      scheduleReconnect();
      return;
    }
    socket.binaryType = "blob";
    page.socket = socket;
    let pendingMeta = null;  // the text header that announces the next binary JPEG
    socket.onopen = () => {
      page.reconnectDelay = RECONNECT_MIN_MS;
      setConnection("connected", "live");
      refreshAll();
    };
    socket.onmessage = (event) => {
      if (typeof event.data === "string") {
        let message;
        try { message = JSON.parse(event.data); } catch (_) { return; }
        if (message.type === "frame") pendingMeta = message;
        else if (message.type === "state") showState(message);
        else if (message.type === "panels") showPanels(message);
        else if (message.type === "error") el.controlError.textContent = message.error;
      } else {
        receiveFrame(event.data, pendingMeta);
        pendingMeta = null;
      }
    };
    socket.onclose = () => {
      if (page.socket !== socket) return;
      page.socket = null;
      setConnection("disconnected", "disconnected — reconnecting…");
      scheduleReconnect();
    };
    socket.onerror = () => { /* onclose follows and reconnects */ };
  }

  function scheduleReconnect() {
    if (page.reconnectTimer !== null) return;
    const delay = page.reconnectDelay;
    page.reconnectDelay = Math.min(RECONNECT_MAX_MS, page.reconnectDelay * 2);
    page.reconnectTimer = setTimeout(async () => {
      // A plain request first: a server that refuses the token says so (a refused WS handshake
      // only shows up as a close without a reason).
      try {
        await api("/api/state");
      } catch (error) {
        if (error.status === 401) {
          setConnection("disconnected", "unauthorized: open the URL with its ?token=");
          page.reconnectTimer = null;
          scheduleReconnect();
          return;
        }
      }
      connect();
    }, delay);
  }

  async function refreshAll() {
    try { showState(await api("/api/state")); } catch (_) { /* the socket's state messages follow */ }
    try { showPanels(await api("/api/panels")); } catch (_) { /* idem */ }
    loadParams();
  }

  // ---- video: newest wins ----------------------------------------------------------------------

  let decoding = false;
  let waitingFrame = null;  // the newest frame that arrived while another was being decoded

  function receiveFrame(blob, meta) {
    if (decoding) {
      waitingFrame = { blob, meta };  // replaces (drops) any frame that was waiting
      return;
    }
    decodeAndDraw(blob, meta);
  }

  async function decodeAndDraw(blob, meta) {
    decoding = true;
    try {
      const bitmap = await createImageBitmap(blob);
      if (el.video.width !== bitmap.width || el.video.height !== bitmap.height) {
        el.video.width = bitmap.width;
        el.video.height = bitmap.height;
      }
      videoContext.drawImage(bitmap, 0, 0);
      bitmap.close();
      if (meta) {
        showFramePosition(meta.index, meta.time);
        window.vistreamFrames.push({ index: meta.index, published_at: meta.published_at, shown_at: Date.now() });
        if (window.vistreamFrames.length > LATENCY_RECORDS) window.vistreamFrames.shift();
      }
    } catch (_) {
      // an undecodable frame is skipped; the next one replaces it
    } finally {
      decoding = false;
    }
    if (waitingFrame) {
      const next = waitingFrame;
      waitingFrame = null;
      decodeAndDraw(next.blob, next.meta);
    }
  }

  const formatTime = window.vistreamChart.formatTime;

  function showFramePosition(index, time) {
    el.index.textContent = String(index);
    el.time.textContent = formatTime(time);
    if (!page.seekDragging && typeof time === "number") {
      el.seek.value = String(time);
      el.position.textContent = formatTime(time);
    }
  }

  // ---- state and controls ----------------------------------------------------------------------

  function showState(state) {
    if (!state || typeof state !== "object") return;
    page.state = state;
    if (state.source !== undefined) el.source.textContent = state.source;
    if (typeof state.fps === "number") el.fps.textContent = state.fps.toFixed(1);
    if (state.dropped !== undefined) el.dropped.textContent = String(state.dropped);
    el.pause.textContent = state.paused ? "play" : "pause";
    el.pause.setAttribute("aria-pressed", state.paused ? "true" : "false");
    document.body.classList.toggle("paused", !!state.paused);
    if (typeof state.duration === "number" && state.duration > 0) {
      el.seek.max = String(state.duration);
      el.seek.disabled = false;
    } else {
      el.seek.disabled = true;  // a live source has no timeline to seek in
    }
    if (typeof state.speed === "number") {
      el.hudSpeed.textContent = state.speed === 1 ? "" : state.speed + "×";
      if (document.activeElement !== el.speed) el.speed.value = closestSpeed(state.speed);
    }
    // Before the first frame arrives (or while none flow) the state tells where the player is.
    if (window.vistreamFrames.length === 0 && typeof state.index === "number" && state.index >= 0) {
      showFramePosition(state.index, state.time);
    } else if (!page.seekDragging && typeof state.time === "number") {
      el.position.textContent = formatTime(state.time);
    }
  }

  function closestSpeed(speed) {
    let best = SPEEDS[0];
    for (const s of SPEEDS) if (Math.abs(Math.log(s / speed)) < Math.abs(Math.log(best / speed))) best = s;
    return String(best);
  }

  async function control(body) {
    try {
      el.controlError.textContent = "";
      showState(await api("/api/control", body));
    } catch (error) {
      el.controlError.textContent = error.message;
    }
  }

  function togglePause() { control({ action: "toggle" }); }
  function step(frames) { control({ action: "step", frames }); }
  function seekTo(time) {
    const duration = page.state && page.state.duration;
    if (typeof duration === "number" && duration > 0) time = Math.min(Math.max(0, time), duration);
    control({ action: "seek", time: Math.max(0, time) });
  }
  function currentTime() {
    const t = page.state && page.state.time;
    return typeof t === "number" ? t : Number(el.seek.value) || 0;
  }
  // The speed asked for and not yet confirmed: "]" pressed right after choosing 2x in the select
  // doubles 2x, not the 1x a state sent before the request was answered still shows.
  function currentSpeed() {
    if (page.requestedSpeed !== null && page.requestedSpeed !== undefined) return page.requestedSpeed;
    return (page.state && page.state.speed) || 1;
  }
  async function setSpeed(speed) {
    speed = Math.min(16, Math.max(0.0625, speed));
    el.speed.value = closestSpeed(speed);
    page.requestedSpeed = speed;
    await control({ action: "speed", speed });
    if (page.requestedSpeed === speed) page.requestedSpeed = null;  // the answer's state holds it now
  }

  // A clicked button keeps no focus: the keys below stay the window's keys (space on a focused
  // button would press it as well as toggle pause).
  for (const button of [el.pause, el.stepBack, el.stepForward]) {
    button.addEventListener("mousedown", (event) => event.preventDefault());
  }
  el.pause.addEventListener("click", togglePause);
  el.stepBack.addEventListener("click", () => step(-1));
  el.stepForward.addEventListener("click", () => step(1));
  el.speed.addEventListener("change", () => setSpeed(Number(el.speed.value)));
  // Dragging shows the target position; the seek happens once, on release.
  el.seek.addEventListener("pointerdown", () => { page.seekDragging = true; });
  el.seek.addEventListener("input", () => {
    page.seekDragging = true;
    el.position.textContent = formatTime(Number(el.seek.value));
  });
  el.seek.addEventListener("change", () => {
    page.seekDragging = false;
    seekTo(Number(el.seek.value));
  });
  el.seek.addEventListener("pointerup", () => { setTimeout(() => { page.seekDragging = false; }, 0); });

  // The window's keys (docs/api.md, Player display=True), minus quit and fullscreen.
  document.addEventListener("keydown", (event) => {
    const target = event.target;
    if (target && (target.tagName === "SELECT" || (target.tagName === "INPUT" && target !== el.seek))) return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const big = event.shiftKey ? 60 : 5;
    let handled = true;
    switch (event.key) {
      case " ": togglePause(); break;
      case ".": step(1); break;
      case ",": step(-1); break;
      case "ArrowRight": seekTo(currentTime() + big); break;
      case "ArrowLeft": seekTo(currentTime() - big); break;
      case "Home": seekTo(0); break;
      case "End": seekTo((page.state && page.state.duration) || 0); break;
      case "[": setSpeed(currentSpeed() / 2); break;
      case "]": setSpeed(currentSpeed() * 2); break;
      case "Backspace": setSpeed(1); break;
      default: handled = false;
    }
    if (handled) event.preventDefault();
  });
  document.addEventListener("keyup", (event) => {
    // A button focused with Tab would also be pressed by the space that toggled pause.
    if (event.key === " " && event.target && event.target.tagName === "BUTTON") event.preventDefault();
  });

  // ---- highlight -------------------------------------------------------------------------------

  async function toggleHighlight(trackId) {
    const next = page.highlighted === trackId ? null : trackId;
    page.highlighted = next;
    page.highlightRequested = true;  // see showPanels
    markHighlightedRow();
    try {
      await api("/api/highlight", { track_id: next });
    } catch (error) {
      el.controlError.textContent = error.message;
    }
  }

  // A click on the video picks the smallest tracked box under the pointer.
  el.video.addEventListener("click", (event) => {
    const panels = page.panels;
    if (!panels || !Array.isArray(panels.detections)) return;
    const rect = el.video.getBoundingClientRect();
    const sourceWidth = (page.state && page.state.width) || el.video.width;
    const sourceHeight = (page.state && page.state.height) || el.video.height;
    const x = (event.clientX - rect.left) * sourceWidth / rect.width;
    const y = (event.clientY - rect.top) * sourceHeight / rect.height;
    let best = null;
    let bestArea = Infinity;
    for (const d of panels.detections) {
      if (d.track_id === null || d.track_id === undefined || !d.box) continue;
      const [x1, y1, x2, y2] = d.box;
      const area = (x2 - x1) * (y2 - y1);
      if (x >= x1 && x <= x2 && y >= y1 && y <= y2 && area < bestArea) { best = d; bestArea = area; }
    }
    if (best) toggleHighlight(best.track_id);
  });

  el.detections.addEventListener("click", (event) => {
    const row = event.target.closest("tr[data-track-id]");
    if (!row || row.dataset.trackId === "") return;
    toggleHighlight(Number(row.dataset.trackId));
  });

  function markHighlightedRow() {
    for (const row of el.detections.tBodies[0].rows) {
      const selected = row.dataset.trackId !== "" && Number(row.dataset.trackId) === page.highlighted;
      row.classList.toggle("highlighted", selected);
      row.setAttribute("aria-selected", selected ? "true" : "false");
    }
  }

  // ---- panels ----------------------------------------------------------------------------------

  function showPanels(panels) {
    if (!panels || typeof panels !== "object") return;
    page.panels = panels;
    // The snapshot says what its frame was drawn with; while paused that lags a click here, so the
    // page adopts the server's highlight only when it changes (another tab, a reconnect).
    // After a click, snapshots drawn before it (still arriving, or re-sent while paused) are not
    // a change made elsewhere: wait until the server shows what was asked.
    if (panels.highlighted !== undefined) {
      if (page.highlightRequested) {
        if (panels.highlighted === page.highlighted) {
          page.highlightRequested = false;
          page.serverHighlighted = panels.highlighted;
        }
      } else if (panels.highlighted !== page.serverHighlighted) {
        page.serverHighlighted = panels.highlighted;
        page.highlighted = panels.highlighted;
      }
    }
    showDetections(panels.detections || []);
    rememberZones(panels);
    drawChart(panels.counts || {});
    showZones(panels.zones || {});
    showTimings(panels.timings || {});
  }

  function cell(row, text) {
    const td = document.createElement("td");
    td.textContent = text;
    row.appendChild(td);
  }

  let shownDetections = null;

  function showDetections(detections) {
    // Panels arrive at up to 5 Hz, also while paused: an unchanged table is left alone, so a row
    // under the pointer is not replaced as it is clicked.
    const key = JSON.stringify(detections);
    if (key === shownDetections) {
      markHighlightedRow();
      return;
    }
    shownDetections = key;
    const body = document.createElement("tbody");
    for (const d of detections) {
      const row = document.createElement("tr");
      const hasTrack = d.track_id !== null && d.track_id !== undefined;
      row.dataset.trackId = hasTrack ? String(d.track_id) : "";
      if (hasTrack) row.title = "click to highlight track " + d.track_id;
      cell(row, hasTrack ? String(d.track_id) : "–");
      cell(row, d.class_name !== undefined && d.class_name !== null ? String(d.class_name) : String(d.class_id));
      cell(row, typeof d.score === "number" ? d.score.toFixed(2) : "–");
      cell(row, Array.isArray(d.box) ? d.box.map((v) => Math.round(v)).join(", ") : "");
      body.appendChild(row);
    }
    el.detections.replaceChild(body, el.detections.tBodies[0]);
    el.detections.dataset.rows = String(detections.length);
    el.detectionsCount.textContent = "(" + detections.length + ")";
    markHighlightedRow();
  }

  function rememberZones(panels) {
    const zones = panels.zones || {};
    const time = panels.time;
    for (const [name, counts] of Object.entries(zones)) {
      const value = zoneValue(counts);
      if (value === null || typeof time !== "number") continue;
      const series = page.zoneSeries[name] || (page.zoneSeries[name] = []);
      const last = series[series.length - 1];
      if (last && time < last.time) series.length = 0;  // a seek back starts the series again
      if (!last || time !== last.time) series.push({ time, value });
      if (series.length > ZONE_SERIES_LENGTH) series.shift();
    }
  }

  function zoneValue(counts) {
    if (typeof counts === "number") return counts;
    if (!counts || typeof counts !== "object") return null;
    for (const key of ["occupancy", "count", "total"]) if (typeof counts[key] === "number") return counts[key];
    if (typeof counts.in === "number") return counts.in + (typeof counts.out === "number" ? counts.out : 0);
    return null;
  }

  // Counts over time (static/chart.js draws): total, per class, and zone counts.
  function drawChart(counts) {
    const lines = window.vistreamChart.seriesLines(counts);
    for (const name of Object.keys(page.zoneSeries).sort()) {
      const series = page.zoneSeries[name];
      lines.push({ name: "zone " + name, values: series.map((p) => p.value), times: series.map((p) => p.time),
                   width: 1, dash: [4, 3] });
    }
    const points = Array.isArray(counts.total) ? counts.total.length : (Array.isArray(counts.time) ? counts.time.length : 0);
    window.vistreamChart.draw(el.chart, el.legend, lines, points);
  }

  function showZones(zones) {
    const names = Object.keys(zones);
    if (names.length === 0) {
      el.zones.innerHTML = '<p class="empty">no zones</p>';
      return;
    }
    const keys = [];
    for (const name of names) {
      const counts = zones[name];
      if (counts && typeof counts === "object") {
        for (const key of Object.keys(counts)) if (!keys.includes(key)) keys.push(key);
      }
    }
    const table = document.createElement("table");
    const head = table.createTHead().insertRow();
    for (const title of ["zone / line", ...keys]) {
      const th = document.createElement("th");
      th.textContent = title;
      head.appendChild(th);
    }
    const body = table.createTBody();
    for (const name of names) {
      const row = body.insertRow();
      row.dataset.zone = name;
      cell(row, name);
      const counts = zones[name];
      for (const key of keys) {
        const value = counts && typeof counts === "object" ? counts[key] : counts;
        cell(row, value === undefined || value === null ? "" :
          (typeof value === "object" ? JSON.stringify(value) : String(value)));
      }
    }
    el.zones.replaceChildren(table);
  }

  // StageTimings.to_json(): {"frames", "detect", "track", "classify", "plugins": {name: stage},
  // "annotate", "total"}, each stage {"last_ms", "mean_ms", "runs"} or null (not run yet).
  function timingRows(timings) {
    const rows = [];
    const add = (name, stage) => {
      if (stage && typeof stage === "object" && (typeof stage.last_ms === "number" || typeof stage.mean_ms === "number")) {
        rows.push({ name, last: stage.last_ms, mean: stage.mean_ms });
      }
    };
    for (const [name, value] of Object.entries(timings)) {
      if (name === "frames") continue;
      if (name === "plugins" && value && typeof value === "object") {
        for (const [plugin, stage] of Object.entries(value)) add(plugin, stage);
      } else {
        add(name, value);
      }
    }
    return rows;
  }

  function showTimings(timings) {
    const rows = timingRows(timings);
    if (rows.length === 0) {
      el.timings.innerHTML = '<p class="empty">no timings</p>';
      return;
    }
    const total = rows.find((r) => r.name === "total");
    const scaleMs = Math.max(1e-3, ...rows.map((r) => Math.max(r.last || 0, r.mean || 0)),
                             total ? (total.mean || total.last || 0) : 0);
    const list = document.createDocumentFragment();
    for (const row of rows) {
      const item = document.createElement("div");
      item.className = "timing" + (row.name === "total" ? " total" : "");
      item.dataset.stage = row.name;
      const label = document.createElement("span");
      label.className = "name";
      label.textContent = row.name;
      const bar = document.createElement("span");
      bar.className = "bar";
      const fill = document.createElement("i");
      fill.style.width = (100 * (row.mean !== undefined ? row.mean : row.last) / scaleMs).toFixed(1) + "%";
      bar.appendChild(fill);
      const value = document.createElement("span");
      value.className = "value";
      const fmt = (v) => typeof v === "number" ? v.toFixed(1) : "–";
      value.textContent = fmt(row.last) + " / " + fmt(row.mean);
      item.append(label, bar, value);
      list.appendChild(item);
    }
    el.timings.replaceChildren(list);
  }

  // ---- parameters ------------------------------------------------------------------------------

  const paramTimers = new Map();

  async function loadParams() {
    try {
      showParams(await api("/api/params"));
    } catch (_) { /* shown again after the next reconnect */ }
  }

  function paramKey(p) { return p.plugin + "\u0000" + p.name; }

  function formatValue(p, value) {
    if (p.kind === "bool") return Number(value) ? "on" : "off";
    if (p.kind === "int") return String(Math.round(Number(value)));
    const decimals = Math.max(0, Math.min(6, -Math.floor(Math.log10(Number(p.step) || 0.01))));
    return Number(value).toFixed(decimals);
  }

  function showParams(list) {
    if (!Array.isArray(list)) return;
    if (list.length === 0) {
      el.params.innerHTML = '<p class="empty">no tunable parameters</p>';
      el.params.dataset.order = "";
      return;
    }
    const existing = new Map();
    for (const row of el.params.querySelectorAll(".param")) existing.set(row.dataset.key, row);
    const rows = list.map((p) => {
      const key = paramKey(p);
      const row = existing.get(key) || buildParam(p, key);
      const input = row.querySelector("input");
      // A value the user is still editing is not overwritten by the server's echo.
      if (!paramTimers.has(key) && document.activeElement !== input) {
        input.value = String(p.kind === "bool" ? Number(!!p.value) : p.value);
        row.querySelector("output").textContent = formatValue(p, p.value);
      }
      return row;
    });
    // Rows are moved only when the set of parameters changed: moving one would take the focus
    // from a slider the user is dragging.
    const order = list.map(paramKey).join("\u0001");
    if (el.params.dataset.order !== order) {
      el.params.replaceChildren(...rows);
      el.params.dataset.order = order;
    }
  }

  function buildParam(p, key) {
    const row = document.createElement("div");
    row.className = "param";
    row.dataset.key = key;
    const id = "param-" + (p.plugin + "-" + p.name).replace(/[^A-Za-z0-9_-]/g, "_");
    const label = document.createElement("label");
    label.htmlFor = id;
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = p.plugin + " · " + p.name;
    const output = document.createElement("output");
    output.setAttribute("for", id);
    label.append(name, " ", output);
    const input = document.createElement("input");
    input.type = "range";
    input.id = id;
    input.dataset.plugin = p.plugin;
    input.dataset.name = p.name;
    input.min = String(p.kind === "bool" ? 0 : p.minimum);
    input.max = String(p.kind === "bool" ? 1 : p.maximum);
    input.step = String(p.kind === "bool" ? 1 : (p.step || "any"));
    const doc = document.createElement("p");
    doc.className = "doc";
    doc.textContent = p.doc || "";
    const error = document.createElement("p");
    error.className = "error";
    error.setAttribute("role", "alert");
    input.addEventListener("input", () => {
      output.textContent = formatValue(p, input.value);
      clearTimeout(paramTimers.get(key));
      paramTimers.set(key, setTimeout(() => sendParam(p, input, error), PARAM_DEBOUNCE_MS));
    });
    row.append(label, input, doc, error);
    return row;
  }

  async function sendParam(p, input, errorBox) {
    const key = paramKey(p);
    let value = Number(input.value);
    if (p.kind === "int") value = Math.round(value);
    if (p.kind === "bool") value = value !== 0;
    try {
      const list = await api("/api/params", { plugin: p.plugin, name: p.name, value });
      paramTimers.delete(key);
      errorBox.textContent = "";
      input.removeAttribute("aria-invalid");
      showParams(list);
    } catch (error) {
      paramTimers.delete(key);
      errorBox.textContent = error.message;
      input.setAttribute("aria-invalid", "true");
    }
  }

  // ---- start -----------------------------------------------------------------------------------

  setConnection("connecting", "connecting…");
  connect();
})();
