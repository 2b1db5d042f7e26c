// The counts-over-time line chart both vistream pages draw (no chart library: a canvas, its axes,
// one line per series, and a legend with each series' latest value).
"use strict";

window.vistreamChart = (function () {
  const COLORS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6",
                  "#bfef45", "#fabed4", "#469990", "#dcbeff", "#9a6324"];

  function formatTime(seconds) {
    if (typeof seconds !== "number" || !isFinite(seconds)) return "–";
    const minutes = Math.floor(seconds / 60);
    const rest = seconds - minutes * 60;
    return minutes + ":" + (rest < 10 ? "0" : "") + rest.toFixed(3);
  }

  // The lines of a counts series as the server sends it ({time, total, by_class}): the total
  // first (drawn thicker), then one per class, by name.
  function seriesLines(counts) {
    const times = Array.isArray(counts.time) ? counts.time : [];
    const lines = [];
    if (Array.isArray(counts.total)) lines.push({ name: "total", values: counts.total, times, width: 2 });
    const byClass = counts.by_class || {};
    for (const name of Object.keys(byClass).sort()) lines.push({ name, values: byClass[name], times, width: 1 });
    return lines;
  }

  // Draws `lines` ([{name, values, times, width, dash}]) on `canvas` against media time and
  // fills `legend`. canvas.dataset.points is how many points the chart holds (tests read it).
  function draw(canvas, legend, lines, points) {
    const scale = window.devicePixelRatio || 1;
    const cssWidth = canvas.clientWidth || canvas.width;
    const cssHeight = canvas.clientHeight || canvas.height;
    if (canvas.width !== Math.round(cssWidth * scale)) canvas.width = Math.round(cssWidth * scale);
    if (canvas.height !== Math.round(cssHeight * scale)) canvas.height = Math.round(cssHeight * scale);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(scale, 0, 0, scale, 0, 0);
    ctx.clearRect(0, 0, cssWidth, cssHeight);
    canvas.dataset.points = String(points);

    const pad = { left: 30, right: 8, top: 8, bottom: 18 };
    const plotWidth = cssWidth - pad.left - pad.right;
    const plotHeight = cssHeight - pad.top - pad.bottom;
    let tMin = Infinity, tMax = -Infinity, vMax = 1;
    for (const line of lines) {
      for (let i = 0; i < line.values.length; i++) {
        const t = line.times[i];
        if (typeof t === "number") { tMin = Math.min(tMin, t); tMax = Math.max(tMax, t); }
        if (typeof line.values[i] === "number") vMax = Math.max(vMax, line.values[i]);
      }
    }
    if (!isFinite(tMin)) { tMin = 0; tMax = 1; }
    if (tMax - tMin < 1e-6) tMax = tMin + 1;
    vMax = Math.ceil(vMax * 1.1);

    ctx.strokeStyle = "#3a3f47";
    ctx.fillStyle = "#9aa3ad";
    ctx.font = "10px sans-serif";
    ctx.lineWidth = 1;
    ctx.beginPath();
    for (const fraction of [0, 0.5, 1]) {
      const y = pad.top + plotHeight * (1 - fraction);
      ctx.moveTo(pad.left, y);
      ctx.lineTo(pad.left + plotWidth, y);
      ctx.fillText(String(Math.round(vMax * fraction)), 2, y + 3);
    }
    ctx.stroke();
    ctx.fillText(formatTime(tMin), pad.left, cssHeight - 4);
    const endLabel = formatTime(tMax);
    ctx.fillText(endLabel, pad.left + plotWidth - ctx.measureText(endLabel).width, cssHeight - 4);

    lines.forEach((line, i) => {
      line.color = i === 0 && line.name === "total" ? "#f5f5f5" : COLORS[i % COLORS.length];
    });
    // Drawn last to first, so the total stays visible over a single class with the same counts.
    lines.slice().reverse().forEach((line) => {
      ctx.strokeStyle = line.color;
      ctx.lineWidth = line.width;
      ctx.setLineDash(line.dash || []);
      ctx.beginPath();
      let started = false;
      for (let k = 0; k < line.values.length; k++) {
        const t = line.times[k], v = line.values[k];
        if (typeof t !== "number" || typeof v !== "number") continue;
        const x = pad.left + (t - tMin) / (tMax - tMin) * plotWidth;
        const y = pad.top + (1 - v / vMax) * plotHeight;
        if (started) ctx.lineTo(x, y); else { ctx.moveTo(x, y); started = true; }
      }
      ctx.stroke();
    });
    ctx.setLineDash([]);
    const items = document.createDocumentFragment();
    lines.forEach((line) => {
      const item = document.createElement("span");
      const swatch = document.createElement("i");
      swatch.style.background = line.color;
      item.appendChild(swatch);
      item.append(line.name + " " + (line.values.length ? line.values[line.values.length - 1] : "–"));
      items.appendChild(item);
    });
    legend.replaceChildren(items);
  }

  return { COLORS, formatTime, seriesLines, draw };
})();
