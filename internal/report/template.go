package report

import "html/template"

// attentionTmpl is the viewer page. Everything is inline: the data is JSON in the
// script, the image a PNG data URI, the boxes SVG; canvases are drawn by the script.
var attentionTmpl = template.Must(template.New("attention").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{.Title}}</title>
<style>
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 16px 24px; color: #1b1f24; background: #fff; }
h1 { font-size: 20px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 18px 0 6px; }
.notes { color: #57606a; margin: 0 0 10px; }
.notes div { margin: 1px 0; }
#controls { display: flex; gap: 14px; align-items: center; padding: 8px 10px; background: #f6f8fa; border: 1px solid #d0d7de; border-radius: 6px; margin-bottom: 12px; }
#controls label { font-weight: 600; }
select, button { font: inherit; padding: 2px 6px; }
#main { display: flex; gap: 24px; align-items: flex-start; flex-wrap: wrap; }
#blocks { display: grid; grid-template-columns: auto auto; gap: 12px 18px; }
figure { margin: 0; }
figcaption { font-weight: 600; margin-bottom: 4px; }
figcaption span { font-weight: 400; color: #57606a; }
canvas { display: block; }
#side { max-width: 460px; }
#side svg { border: 1px solid #d0d7de; background: #eaeef2; max-width: 440px; height: auto; image-rendering: pixelated; }
.hint { color: #57606a; font-size: 12px; }
#overview { cursor: pointer; border: 1px solid #d0d7de; }
#tip { position: fixed; pointer-events: none; background: #1b1f24; color: #fff; padding: 3px 7px; border-radius: 4px; font-size: 12px; display: none; white-space: nowrap; z-index: 10; }
.legend { display: inline-block; width: 120px; height: 10px; background: linear-gradient(to right, rgb(247,251,255), rgb(8,48,107)); vertical-align: middle; border: 1px solid #d0d7de; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<div class="notes">{{range .Notes}}<div>{{.}}</div>{{end}}</div>
<div id="controls">
  <span><label for="layer">Layer</label> <select id="layer"></select></span>
  <span><label for="head">Head</label> <select id="head"></select></span>
  <button id="prev" title="previous head (←)">◀</button><button id="next" title="next head (→)">▶</button>
  <span class="hint">0 <span class="legend"></span> 1 &nbsp; each block min-max rescaled per layer over its heads; rows attend to columns; ← → step through heads</span>
</div>
<div id="main">
  <div id="blocks"></div>
  <div id="side">
    <h2 style="margin-top:0">Regions</h2>
    <svg id="img" viewBox="0 0 {{.W}} {{.H}}" width="440" xmlns="http://www.w3.org/2000/svg">
      {{if .Image}}<image href="{{.Image}}" x="0" y="0" width="{{.W}}" height="{{.H}}"/>{{end}}
      <g id="boxes"></g>
    </svg>
    <div class="hint">Box numbers are the region tokens 1..n; [IMG] is the whole image. Hover a row of <b>text → region</b> to shade each box by how much that token attends to it.</div>
  </div>
</div>
<h2>All layers × heads</h2>
<div class="hint">Each thumbnail is [text | regions] × [text | regions] of one head (rows: layers, columns: heads). Click one to select it.</div>
<canvas id="overview"></canvas>
<div id="tip"></div>
<script>
"use strict";
const D = {{.Data}};
function bytes(s) { const b = atob(s); const a = new Uint8Array(b.length); for (let i = 0; i < b.length; i++) a[i] = b.charCodeAt(i); return a; }
const blocks = D.Blocks.map(bytes);
const raw = D.Raw ? new Float32Array(bytes(D.Raw).buffer) : null;
const spans = [[0, D.NumText], [D.NumText, D.NumText + D.NumRegions]];
const palette = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#9a6324", "#800000", "#469990", "#000075", "#808000"];
let layer = D.Layers - 1, head = 0;

function val(b, l, h, i, j) {
  const [rows, cols] = D.Shapes[b];
  if (h < 0) { let s = 0; for (let k = 0; k < D.Heads; k++) s += blocks[b][((l * D.Heads + k) * rows + i) * cols + j]; return s / D.Heads / 255; }
  return blocks[b][((l * D.Heads + h) * rows + i) * cols + j] / 255;
}
function rawVal(l, h, r, c) {
  if (!raw) return null;
  if (h < 0) { let s = 0; for (let k = 0; k < D.Heads; k++) s += raw[((l * D.Heads + k) * D.L + r) * D.L + c]; return s / D.Heads; }
  return raw[((l * D.Heads + h) * D.L + r) * D.L + c];
}
function color(v) {
  v = Math.max(0, Math.min(1, v));
  return "rgb(" + Math.round(247 - 239 * v) + "," + Math.round(251 - 203 * v) + "," + Math.round(255 - 148 * v) + ")";
}

const canvases = [];
for (let b = 0; b < 4; b++) {
  const fig = document.createElement("figure");
  const cap = document.createElement("figcaption");
  cap.innerHTML = D.Names[b] + " <span>(" + D.Shapes[b][0] + " × " + D.Shapes[b][1] + ")</span>";
  const cv = document.createElement("canvas");
  fig.appendChild(cap); fig.appendChild(cv);
  document.getElementById("blocks").appendChild(fig);
  canvases.push(cv);
  cv.addEventListener("mousemove", e => hover(b, cv, e));
  cv.addEventListener("mouseleave", () => { document.getElementById("tip").style.display = "none"; shade(null); });
}

function drawBlock(b) {
  const cv = canvases[b], [rows, cols] = D.Shapes[b];
  const rs = spans[b >> 1][0], cs = spans[b & 1][0];
  const cell = Math.max(4, Math.min(22, Math.floor(300 / Math.max(rows, cols))));
  const ctx0 = cv.getContext("2d");
  ctx0.font = "11px system-ui, sans-serif";
  let lw = 0, lh = 0;
  for (let i = 0; i < rows; i++) lw = Math.max(lw, ctx0.measureText(D.Tokens[rs + i]).width);
  for (let j = 0; j < cols; j++) lh = Math.max(lh, ctx0.measureText(D.Tokens[cs + j]).width);
  lw = Math.ceil(lw) + 6; lh = Math.ceil(lh) + 6;
  cv.width = lw + cols * cell + 1; cv.height = lh + rows * cell + 1;
  const ctx = cv.getContext("2d");
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillStyle = "#1b1f24"; ctx.textBaseline = "middle";
  ctx.textAlign = "right";
  for (let i = 0; i < rows; i++) ctx.fillText(D.Tokens[rs + i], lw - 4, lh + i * cell + cell / 2);
  ctx.save(); ctx.textAlign = "left";
  for (let j = 0; j < cols; j++) { ctx.save(); ctx.translate(lw + j * cell + cell / 2, lh - 4); ctx.rotate(-Math.PI / 2); ctx.fillText(D.Tokens[cs + j], 0, 0); ctx.restore(); }
  ctx.restore();
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) {
    ctx.fillStyle = color(val(b, layer, head, i, j));
    ctx.fillRect(lw + j * cell, lh + i * cell, cell, cell);
  }
  ctx.strokeStyle = "#d0d7de"; ctx.strokeRect(lw + 0.5, lh + 0.5, cols * cell, rows * cell);
  cv._g = { cell, lw, lh, rows, cols, rs, cs };
}

function hover(b, cv, e) {
  const g = cv._g, r = cv.getBoundingClientRect();
  const x = (e.clientX - r.left) * cv.width / r.width - g.lw, y = (e.clientY - r.top) * cv.height / r.height - g.lh;
  const i = Math.floor(y / g.cell), j = Math.floor(x / g.cell), tip = document.getElementById("tip");
  if (i < 0 || j < 0 || i >= g.rows || j >= g.cols) { tip.style.display = "none"; shade(null); return; }
  const p = rawVal(layer, head, g.rs + i, g.cs + j);
  tip.textContent = D.Tokens[g.rs + i] + " → " + D.Tokens[g.cs + j] + ": rescaled " + val(b, layer, head, i, j).toFixed(3) + (p === null ? "" : ", probability " + p.toFixed(4));
  tip.style.left = (e.clientX + 14) + "px"; tip.style.top = (e.clientY + 10) + "px"; tip.style.display = "block";
  if (b === 1) { const v = []; for (let k = 0; k < g.cols; k++) v.push(val(1, layer, head, i, k)); shade(v, null); }
  else if (b === 3) shade(null, [i, j]);
  else if (b === 2) shade(null, [i]);
  else shade(null);
}

// Region slot k (0-based among the NumRegions) of box n (0-based among D.Boxes).
const firstBox = D.ImageBox ? 1 : 0;
function drawBoxes() {
  const g = document.getElementById("boxes"), ns = "http://www.w3.org/2000/svg";
  const sw = Math.max(1, Math.max(D.W, D.H) / 220), fs = Math.max(9, Math.max(D.W, D.H) / 22);
  D.Boxes.forEach((bx, n) => {
    const c = palette[n % palette.length];
    const rect = document.createElementNS(ns, "rect");
    rect.setAttribute("x", bx[0]); rect.setAttribute("y", bx[1]);
    rect.setAttribute("width", Math.max(1, bx[2] - bx[0])); rect.setAttribute("height", Math.max(1, bx[3] - bx[1]));
    rect.setAttribute("fill", c); rect.setAttribute("fill-opacity", "0"); rect.setAttribute("stroke", c); rect.setAttribute("stroke-width", sw);
    rect.id = "box" + n;
    const lab = document.createElementNS(ns, "text");
    lab.setAttribute("x", bx[0] + sw); lab.setAttribute("y", bx[1] + fs); lab.setAttribute("font-size", fs);
    lab.setAttribute("fill", "#fff"); lab.setAttribute("stroke", c); lab.setAttribute("stroke-width", fs / 6); lab.setAttribute("paint-order", "stroke");
    lab.setAttribute("font-weight", "700"); lab.textContent = String(n + 1) + (D.Labels && D.Labels[n] ? " " + D.Labels[n] : "");
    g.appendChild(rect); g.appendChild(lab);
  });
}
function shade(values, picked) {
  D.Boxes.forEach((_, n) => {
    const rect = document.getElementById("box" + n), k = n + firstBox;
    let o = 0, w = Math.max(1, Math.max(D.W, D.H) / 220);
    if (values) o = 0.75 * values[k];
    if (picked && picked.includes(k)) { o = 0.45; w *= 3; }
    rect.setAttribute("fill-opacity", o.toFixed(3)); rect.setAttribute("stroke-width", w);
  });
}

function drawOverview() {
  const n = D.NumText + D.NumRegions, t = Math.max(1, Math.floor(60 / n)), size = n * t, gap = 6, top = 16, left = 34;
  const cv = document.getElementById("overview");
  cv.width = left + D.Heads * (size + gap); cv.height = top + D.Layers * (size + gap);
  const ctx = cv.getContext("2d");
  ctx.font = "11px system-ui, sans-serif"; ctx.fillStyle = "#57606a"; ctx.textBaseline = "middle";
  for (let h = 0; h < D.Heads; h++) ctx.fillText("h" + h, left + h * (size + gap) + size / 2 - 6, 8);
  for (let l = 0; l < D.Layers; l++) ctx.fillText("L" + l, 2, top + l * (size + gap) + size / 2);
  for (let l = 0; l < D.Layers; l++) for (let h = 0; h < D.Heads; h++) {
    const x0 = left + h * (size + gap), y0 = top + l * (size + gap);
    for (let b = 0; b < 4; b++) {
      const [rows, cols] = D.Shapes[b], ry = (b >> 1) ? D.NumText : 0, cx = (b & 1) ? D.NumText : 0;
      for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) {
        ctx.fillStyle = color(val(b, l, h, i, j));
        ctx.fillRect(x0 + (cx + j) * t, y0 + (ry + i) * t, t, t);
      }
    }
    if (l === layer && (h === head || head < 0)) { ctx.strokeStyle = "#cf222e"; ctx.lineWidth = 2; ctx.strokeRect(x0 - 2, y0 - 2, size + 4, size + 4); }
  }
  cv._g = { size, gap, top, left };
}
document.getElementById("overview").addEventListener("click", e => {
  const cv = e.currentTarget, g = cv._g, r = cv.getBoundingClientRect();
  const x = (e.clientX - r.left) * cv.width / r.width - g.left, y = (e.clientY - r.top) * cv.height / r.height - g.top;
  const h = Math.floor(x / (g.size + g.gap)), l = Math.floor(y / (g.size + g.gap));
  if (h >= 0 && h < D.Heads && l >= 0 && l < D.Layers) select(l, h);
});

const ls = document.getElementById("layer"), hs = document.getElementById("head");
for (let l = 0; l < D.Layers; l++) ls.add(new Option(String(l), l));
hs.add(new Option("mean of heads", -1));
for (let h = 0; h < D.Heads; h++) hs.add(new Option(String(h), h));
ls.onchange = () => select(+ls.value, head);
hs.onchange = () => select(layer, +hs.value);
document.getElementById("prev").onclick = () => step(-1);
document.getElementById("next").onclick = () => step(1);
document.addEventListener("keydown", e => { if (e.key === "ArrowLeft") step(-1); if (e.key === "ArrowRight") step(1); });
function step(d) {
  let k = layer * D.Heads + Math.max(head, 0) + d, n = D.Layers * D.Heads;
  k = (k + n) % n; select(Math.floor(k / D.Heads), k % D.Heads);
}
// #layer=L&head=H preselects a map (head -1: mean of heads), e.g. for links and screenshots.
const hp = new URLSearchParams(location.hash.slice(1));
if (hp.has("layer")) layer = Math.max(0, Math.min(D.Layers - 1, parseInt(hp.get("layer"), 10) || 0));
if (hp.has("head")) head = Math.max(-1, Math.min(D.Heads - 1, parseInt(hp.get("head"), 10) || 0));
function select(l, h) {
  layer = l; head = h; ls.value = l; hs.value = h;
  for (let b = 0; b < 4; b++) drawBlock(b);
  drawOverview();
  history.replaceState(null, "", "#layer=" + l + "&head=" + h);
}
drawBoxes();
select(layer, head);
</script>
</body>
</html>
`))
