// Drawing for the Patch Forcing viewer page: an image from its uint8 pixels, a per-patch map in the
// viridis colours (the ones of the trace GIFs) with the certain patches outlined, the colour bar of
// the maps, and a PNG of the panels on screen. Loaded before app.js, which uses it as window.patchforcingDraw.
"use strict";

window.patchforcingDraw = (() => {
  // matplotlib's viridis at 0, 1/4, 1/2, 3/4 and 1, interpolated linearly (as patchforcing.viz.render).
  const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  const CERTAIN = "#e3122b";

  function viridis(value) {
    const x = Math.min(Math.max(Number.isFinite(value) ? value : 0, 0), 1) * (VIRIDIS.length - 1);
    const i = Math.min(Math.floor(x), VIRIDIS.length - 2);
    const f = x - i;
    const c = VIRIDIS[i].map((a, j) => Math.round(a + (VIRIDIS[i + 1][j] - a) * f));
    return `rgb(${c[0]},${c[1]},${c[2]})`;
  }

  // encoded: base64 of size x size x channels uint8 pixels, row-major; drawn at the canvas's size (a
  // whole multiple of size) without smoothing, so every pixel is a square block.
  function image(canvas, encoded, size, channels) {
    const bytes = Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0));
    const small = document.createElement("canvas");
    small.width = small.height = size;
    const pixels = small.getContext("2d").createImageData(size, size);
    for (let i = 0; i < size * size; i++) {
      for (let c = 0; c < 3; c++) pixels.data[4 * i + c] = bytes[i * channels + (channels === 3 ? c : 0)];
      pixels.data[4 * i + 3] = 255;
    }
    small.getContext("2d").putImageData(pixels, 0, 0);
    const ctx = canvas.getContext("2d");
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(small, 0, 0, canvas.width, canvas.height);
  }

  // values: one per patch, row-major on a grid x grid layout, put in [0, 1] by scale; null: no map.
  function map(canvas, values, grid, scale, certain) {
    const ctx = canvas.getContext("2d");
    if (!values) {
      ctx.fillStyle = "#888";
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      ctx.fillStyle = "#fff";
      ctx.fillText("no difficulty head", 8, canvas.height / 2);
      return;
    }
    const cell = canvas.width / grid;
    values.forEach((v, i) => {
      ctx.fillStyle = viridis(scale(v));
      ctx.fillRect((i % grid) * cell, Math.floor(i / grid) * cell, cell, cell);
    });
    ctx.strokeStyle = CERTAIN;
    ctx.lineWidth = 2;
    for (const i of certain) ctx.strokeRect((i % grid) * cell + 1, Math.floor(i / grid) * cell + 1, cell - 2, cell - 2);
  }

  // The colour scale from 0 (left) to 1 (right), one column per pixel.
  function bar(canvas) {
    const ctx = canvas.getContext("2d");
    for (let x = 0; x < canvas.width; x++) {
      ctx.fillStyle = viridis(x / Math.max(canvas.width - 1, 1));
      ctx.fillRect(x, 0, 1, canvas.height);
    }
  }

  // rows: [{label, panels: [canvas, ...]}] -> a PNG data URL, one labelled row of panels per sampler.
  function framePNG(rows) {
    const gap = 6, header = 18;
    const panel = rows[0].panels[0].width;
    const out = document.createElement("canvas");
    out.width = 3 * panel + 4 * gap;
    out.height = rows.length * (panel + header + gap) + gap;
    const ctx = out.getContext("2d");
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, out.width, out.height);
    ctx.font = "12px sans-serif";
    rows.forEach((row, r) => {
      const top = gap + r * (panel + header + gap);
      ctx.fillStyle = "#000";
      ctx.fillText(row.label, gap, top + 12);
      row.panels.forEach((canvas, c) => ctx.drawImage(canvas, gap + c * (panel + gap), top + header));
    });
    return out.toDataURL("image/png");
  }

  return {image, map, bar, framePNG};
})();
