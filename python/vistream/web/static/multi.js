// The many-sources page: each source of a MultiPlayer as a live tile (its own WebSocket, newest
// frame wins), the run's summary, and one source at a time shown alone with its detections.
// Plain JS, no build step, no external resources; the protocol is in docs/web.md.
"use strict";

(function () {
  const SUMMARY_INTERVAL_MS = 1000;
  const RECONNECT_MIN_MS = 250;
  const RECONNECT_MAX_MS = 4000;

  const $ = (id) => document.getElementById(id);
  const el = {
    tiles: $("tiles"), template: $("tile-template"), summary: $("summary"), connection: $("connection"),
    back: $("back"), stop: $("stop"), focusPanel: $("focus-panel"), focusName: $("focus-name"),
    focusState: $("focus-state"), focusCounts: $("focus-counts"), detections: $("detections"),
    detectionsCount: $("detections-count"), chart: $("counts-chart"), legend: $("counts-legend"),
    main: document.querySelector("main"),
  };

  // For tests and benches: per source position, the frames drawn and the last index drawn.
  window.vistreamMulti = { frames: {}, lastIndex: {}, focused: null };

  const tiles = [];      // by position: {root, canvas, context, socket, state, rows, ...}
  let focused = null;    // the position shown alone, or null
  let runEnded = false;

  const { api, socketUrl } = window.vistreamHttp;

  function setConnection(status, text) {
    document.body.classList.remove("connecting", "connected", "disconnected");
    document.body.classList.add(status);
    el.connection.textContent = text;
    el.connection.dataset.status = status;
  }

  // ---- tiles -------------------------------------------------------------------------------------

  function makeTile(source) {
    const root = el.template.content.firstElementChild.cloneNode(true);
    root.dataset.position = String(source.position);
    root.dataset.name = source.name;
    const canvas = root.querySelector("canvas");
    const tile = {
      position: source.position, root, canvas, context: canvas.getContext("2d"),
      name: root.querySelector(".name"), stateText: root.querySelector(".tile-state"),
      index: root.querySelector(".index"), fps: root.querySelector(".fps"), drops: root.querySelector(".drops"),
      overlay: root.querySelector(".overlay"), socket: null, reconnectDelay: RECONNECT_MIN_MS,
      decoding: false, waiting: null, state: source, rows: [], rowsIndex: null, series: null,
    };
    tile.name.textContent = source.name;
    tile.name.title = source.label;
    root.setAttribute("aria-label", "source " + source.name);
    root.addEventListener("click", () => (focused === tile.position ? unfocus() : focus(tile.position)));
    root.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); focus(tile.position); }
    });
    window.vistreamMulti.frames[source.position] = 0;
    window.vistreamMulti.lastIndex[source.position] = -1;
    el.tiles.appendChild(root);
    tiles[source.position] = tile;
    showTileState(tile, source);
    connectTile(tile);
    return tile;
  }

  function connectTile(tile) {
    if (runEnded) return;
    let socket;
    try {
      socket = new WebSocket(socketUrl("/ws/" + tile.position));
    } catch (_) {
      retryTile(tile);
      return;
    }
    socket.binaryType = "blob";
    tile.socket = socket;
    let header = null;
    socket.onopen = () => {
      tile.reconnectDelay = RECONNECT_MIN_MS;
      tile.root.classList.remove("offline");
    };
    socket.onmessage = (event) => {
      if (typeof event.data !== "string") {
        receiveFrame(tile, event.data, header);
        header = null;
        return;
      }
      let message;
      try { message = JSON.parse(event.data); } catch (_) { return; }
      if (message.type === "frame") header = message;
      else if (message.type === "state") showTileState(tile, message);
      else if (message.type === "detections") showDetections(tile, message);
    };
    socket.onclose = () => {
      if (tile.socket !== socket) return;
      tile.socket = null;
      tile.root.classList.add("offline");
      tile.overlay.textContent = runEnded ? "run ended" : "reconnecting…";
      retryTile(tile);
    };
    socket.onerror = () => { /* onclose follows */ };
  }

  function retryTile(tile) {
    if (runEnded) return;
    const delay = tile.reconnectDelay;
    tile.reconnectDelay = Math.min(RECONNECT_MAX_MS, tile.reconnectDelay * 2);
    setTimeout(() => connectTile(tile), delay);
  }

  function receiveFrame(tile, blob, header) {
    if (tile.decoding) {
      tile.waiting = { blob, header };  // newest wins: an older waiting frame is dropped
      return;
    }
    draw(tile, blob, header);
  }

  async function draw(tile, blob, header) {
    tile.decoding = true;
    try {
      const bitmap = await createImageBitmap(blob);
      if (tile.canvas.width !== bitmap.width || tile.canvas.height !== bitmap.height) {
        tile.canvas.width = bitmap.width;
        tile.canvas.height = bitmap.height;
      }
      tile.context.drawImage(bitmap, 0, 0);
      bitmap.close();
      if (header) {
        tile.index.textContent = String(header.index);
        window.vistreamMulti.lastIndex[tile.position] = header.index;
      }
      window.vistreamMulti.frames[tile.position] += 1;
    } catch (_) {
      // an undecodable frame is skipped; the next one replaces it
    } finally {
      tile.decoding = false;
    }
    if (tile.waiting) {
      const next = tile.waiting;
      tile.waiting = null;
      draw(tile, next.blob, next.header);
    }
  }

  function showTileState(tile, state) {
    tile.state = state;
    tile.stateText.textContent = state.state;
    tile.fps.textContent = typeof state.fps === "number" ? state.fps.toFixed(1) : "–";
    tile.drops.textContent = String(state.drops);
    for (const name of ["starting", "running", "finished", "failed", "stopped"]) {
      tile.root.classList.toggle(name, state.state === name);
    }
    if (state.index >= 0 && window.vistreamMulti.frames[tile.position] === 0) tile.index.textContent = String(state.index);
    if (focused === tile.position) showFocusState(tile);
  }

  // ---- one source alone ---------------------------------------------------------------------------

  function focus(position) {
    const tile = tiles[position];
    if (!tile) return;
    if (focused !== null && tiles[focused]) tiles[focused].root.classList.remove("focus");
    focused = position;
    window.vistreamMulti.focused = position;
    tile.root.classList.add("focus");
    el.main.classList.add("focused");
    el.focusPanel.hidden = false;
    el.back.hidden = false;
    el.focusName.textContent = tile.state.name;
    showFocusState(tile);
    showRows(tile);
    drawSeries(tile);
    api("/api/sources/" + position).then((state) => {
      if (focused !== position) return;
      showTileState(tile, state);
      showDetections(tile, { index: state.index, rows: state.detections, series: state.series });
    }).catch(() => { /* the socket's messages follow */ });
  }

  function unfocus() {
    if (focused !== null && tiles[focused]) tiles[focused].root.classList.remove("focus");
    focused = null;
    window.vistreamMulti.focused = null;
    el.main.classList.remove("focused");
    el.focusPanel.hidden = true;
    el.back.hidden = true;
  }

  function showFocusState(tile) {
    const s = tile.state;
    const lines = [
      ["source", s.label], ["state", s.state], ["frame", s.index], ["frames", s.frames],
      ["fps", typeof s.fps === "number" ? s.fps.toFixed(1) : "–"], ["dropped", s.drops],
      ["reconnects", s.reconnects], ["latency", s.latency_ms + " ms"],
    ];
    el.focusState.replaceChildren();
    for (const [key, value] of lines) {
      const line = document.createElement("div");
      line.textContent = key + ": " + value;
      line.dataset.key = key;
      el.focusState.appendChild(line);
    }
    if (s.error) {
      const error = document.createElement("span");
      error.className = "error";
      error.textContent = s.error;
      el.focusState.appendChild(error);
    }
    el.focusCounts.replaceChildren();
    const counts = Object.entries(s.counts || {});
    if (counts.length === 0) {
      const empty = document.createElement("p");
      empty.className = "empty";
      empty.textContent = "no detections";
      el.focusCounts.appendChild(empty);
    }
    for (const [name, count] of counts) {
      const item = document.createElement("span");
      item.textContent = name + ": " + count;
      el.focusCounts.appendChild(item);
    }
  }

  function showDetections(tile, message) {
    tile.rows = message.rows || [];
    tile.rowsIndex = message.index;
    if (message.series) tile.series = message.series;
    if (focused === tile.position) {
      showRows(tile);
      drawSeries(tile);
    }
  }

  // The focused source's counts over time: its total and each class (static/chart.js draws).
  function drawSeries(tile) {
    const series = tile.series || { time: [], total: [], by_class: {} };
    const points = Array.isArray(series.total) ? series.total.length : 0;
    window.vistreamChart.draw(el.chart, el.legend, window.vistreamChart.seriesLines(series), points);
  }

  function showRows(tile) {
    const body = el.detections.tBodies[0];
    body.replaceChildren();
    for (const row of tile.rows) {
      const tr = document.createElement("tr");
      tr.dataset.trackId = row.track_id === null ? "" : String(row.track_id);
      const cells = [
        row.track_id === null ? "–" : String(row.track_id),
        row.class_name === null ? "–" : row.class_name,
        row.score === null ? "–" : row.score.toFixed(2),
        row.box.map((v) => Math.round(v)).join(", "),
      ];
      for (const text of cells) {
        const td = document.createElement("td");
        td.textContent = text;
        tr.appendChild(td);
      }
      body.appendChild(tr);
    }
    el.detections.dataset.index = tile.rowsIndex === null ? "" : String(tile.rowsIndex);
    el.detectionsCount.textContent = tile.rows.length + " on frame " + (tile.rowsIndex === null ? "–" : tile.rowsIndex);
  }

  // ---- the run -----------------------------------------------------------------------------------

  async function refreshSummary() {
    try {
      const run = await api("/api/sources");
      for (const source of run.sources) {
        if (!tiles[source.position]) makeTile(source);
      }
      const states = run.sources.map((s) => s.state);
      const running = states.filter((s) => s === "running").length;
      el.summary.textContent = run.sources.length + " sources · " + running + " running · " +
        run.frames + " frames · " + run.fps.toFixed(1) + " fps" + (run.running ? "" : " · stopping");
      setConnection("connected", "live");
    } catch (error) {
      if (error.status === 401) setConnection("disconnected", "unauthorized: open the URL with its ?token=");
      else {
        const anyTile = tiles.length > 0;
        if (anyTile) runEnded = tiles.every((t) => !t.socket);
        setConnection("disconnected", runEnded ? "the run ended" : "disconnected — retrying…");
      }
    }
  }

  el.back.addEventListener("click", unfocus);
  el.stop.addEventListener("click", async () => {
    el.stop.disabled = true;
    try { await api("/api/stop", {}); } catch (_) { el.stop.disabled = false; }
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") unfocus();
  });

  refreshSummary();
  setInterval(refreshSummary, SUMMARY_INTERVAL_MS);
})();
