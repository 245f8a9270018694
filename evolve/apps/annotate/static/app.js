// evolve-annotate page: plain JS, no build step. All annotation state lives on the server
// (GET /api/state); this page keeps only view settings, in localStorage, so a reload finds
// everything again. Heavy steps are server jobs: the page polls their progress.
"use strict";

const $ = (id) => document.getElementById(id);
const canvas = $("canvas");
const ctx = canvas.getContext("2d");

let server = null;          // last /api/state
let images = new Map();     // url -> HTMLImageElement (decoded)
let drawing = null;         // stroke being drawn: {points, positive, t0}
let playTimer = null;
let pollTimer = null;
let lastMaskVersion = -1;
let lastJobStatus = null;

const saved = JSON.parse(localStorage.getItem("evolve-annotate") || "{}");
const ui = Object.assign({frame: 0, view: "frame", eventsBlend: 0, maskOpacity: 55, showMask: true, objectId: 1,
                          tool: "scribble", positive: true, autoRun: true, video: false}, saved);

function save() {
  localStorage.setItem("evolve-annotate", JSON.stringify(ui));
}

// ------------------------------------------------------------------ server calls
async function api(path, body) {
  const opts = body === undefined ? {} : {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)};
  const res = await fetch(path, opts);
  let data = {};
  try { data = await res.json(); } catch (e) { data = {error: res.status === 413 ? "request too large" : `HTTP ${res.status}`}; }
  if (!res.ok) {
    const err = new Error(data.error || `HTTP ${res.status}`);
    err.status = res.status;
    err.data = data;
    throw err;
  }
  return data;
}

function message(level, text) {
  const div = document.createElement("div");
  div.className = `msg ${level}`;
  div.textContent = text;
  $("messages").prepend(div);
  while ($("messages").children.length > 30) $("messages").lastChild.remove();
}

async function act(path, body) {
  try {
    const data = await api(path, body);
    if (data.job) startPolling();
    await refresh();
    return data;
  } catch (e) {
    if (!(e.data && e.data.need_confirmation)) message("error", e.message);
    throw e;
  }
}

// ------------------------------------------------------------------ state -> page
const seenMessages = new Set();

// Refreshes overlap (the 250 ms job poll does not wait for the previous request), so an answer
// can arrive after a newer one; drawing it would show a finished job as running again and
// disable the buttons for up to 2 s. Only an answer newer than the one drawn is used.
let refreshSent = 0, refreshDrawn = 0;

async function refresh() {
  const mine = ++refreshSent;
  let st;
  try { st = await api("/api/state"); } catch (e) { $("job-status").textContent = "server unreachable"; return; }
  if (mine < refreshDrawn) return;
  refreshDrawn = mine;
  server = st;
  for (const m of st.messages) {
    const key = `${m.time}:${m.text}`;
    if (!seenMessages.has(key)) { seenMessages.add(key); message(m.level, m.text); }
  }
  $("networks").textContent = st.networks.ok ? st.networks.description : "no networks";
  $("networks").title = st.networks.error || "";
  $("out-root").textContent = `to ${st.workspace.out_root}`;
  const sel = $("seq-select");
  if (sel.options.length !== st.workspace.sequences.length) {
    sel.innerHTML = "";
    for (const name of st.workspace.sequences) sel.add(new Option(name, name));
  }
  if (st.current) sel.value = st.current;
  showJob(st.job);
  const seq = st.sequence;
  if (!seq) {
    $("canvas-note").textContent = st.workspace.sequences.length ? "open a sequence" : "no sequence";
    return;
  }
  ui.frame = Math.min(ui.frame, seq.num_frames - 1);
  $("timeline").max = seq.num_frames - 1;
  $("timeline").value = ui.frame;
  if (canvas.width !== seq.size[1] || canvas.height !== seq.size[0]) {
    canvas.width = seq.size[1];
    canvas.height = seq.size[0];
  }
  fitCanvas();
  renderObjects(seq);
  renderRounds(seq);
  renderTicks(seq);
  $("synth-btn").hidden = seq.has_events;
  $("events-note").textContent = seq.events_synthetic ? "events: synthesised from the frames (simulator)"
    : seq.has_events ? "events: recorded" : "events: none in this sequence";
  document.querySelector('input[name=view][value=normal]').disabled = !seq.has_normal;
  const busy = st.job && st.job.status === "running";
  for (const id of ["run-btn", "prop-both", "prop-fwd", "prop-bwd", "prop-none", "undo-btn", "clear-btn", "export-btn", "obj-add", "synth-btn", "weights-btn", "open-btn"]) {
    $(id).disabled = busy;
  }
  await draw(seq.mask_version !== lastMaskVersion);
  lastMaskVersion = seq.mask_version;
}

function showJob(job) {
  const bar = $("job-bar");
  if (!job) { $("job-status").textContent = "idle"; bar.value = 0; $("cancel-btn").disabled = true; return; }
  const running = job.status === "running";
  const frac = job.total ? job.done / job.total : (running ? 0 : 1);
  bar.value = frac;
  let text = `${job.kind}: ${job.status}`;
  if (running && job.total) text += ` ${job.done}/${job.total}` + (job.frame !== null ? ` (frame ${job.frame})` : "");
  if (!running && job.message) text += ` - ${job.message}`;
  $("job-status").textContent = text;
  $("job-status").dataset.status = job.status;
  $("job-status").dataset.kind = job.kind;
  $("job-status").dataset.id = job.id;
  $("cancel-btn").disabled = !running;
  const key = `${job.id}:${job.status}`;
  if (lastJobStatus !== key && !running && lastJobStatus !== null && lastJobStatus.startsWith(`${job.id}:`)) {
    if (job.status === "error") message("error", job.message);
    else if (job.message) message("info", job.message);
    if (job.kind === "interact" || job.kind === "propagate") lastMaskVersion = -1;
  }
  lastJobStatus = key;
}

function renderObjects(seq) {
  const box = $("objects");
  box.innerHTML = "";
  const entries = [{id: 0, colour: [0, 0, 0], label: "Background"}].concat(seq.objects.map((o) => ({...o, label: `Object ${o.id}`})));
  if (!entries.some((o) => o.id === ui.objectId)) ui.objectId = seq.objects.length ? seq.objects[0].id : 0;
  for (const o of entries) {
    const b = document.createElement("button");
    b.className = "obj-btn" + (o.id === ui.objectId ? " active" : "");
    b.dataset.id = o.id;
    b.innerHTML = `<span class="swatch" style="background: rgb(${o.colour.join(",")})"></span>${o.label}`;
    b.onclick = () => { ui.objectId = o.id; save(); renderObjects(seq); };
    box.appendChild(b);
  }
}

function renderRounds(seq) {
  const ol = $("rounds");
  ol.innerHTML = "";
  for (const r of seq.rounds) {
    const li = document.createElement("li");
    li.textContent = `frame ${r.frame}: ${r.strokes} stroke(s), ${r.direction}, ${r.frames_done} frames${r.cancelled ? " (cancelled)" : ""}, ${r.seconds.toFixed(1)} s`;
    ol.appendChild(li);
  }
}

function renderTicks(seq) {
  const c = $("ticks");
  const w = c.clientWidth || 800;
  c.width = w;
  const g = c.getContext("2d");
  g.clearRect(0, 0, w, c.height);
  const x = (t) => seq.num_frames > 1 ? 6 + (w - 12) * t / (seq.num_frames - 1) : w / 2;
  g.fillStyle = "#fff";
  for (const t of seq.annotated_frames) g.fillRect(x(t) - 1, 0, 3, c.height);
  if (seq.pending_frame !== null) { g.fillStyle = "#e8c547"; g.fillRect(x(seq.pending_frame) - 1, 0, 3, c.height); }
  g.fillStyle = "#6af";
  g.fillRect(x(ui.frame) - 1, 6, 3, 4);
}

// ------------------------------------------------------------------ drawing
function fitCanvas() {
  // the largest size that fits the stage's width and the window's height (frames of any size)
  const stage = $("stage").getBoundingClientRect();
  const availW = Math.max(200, stage.width);
  const availH = Math.max(200, window.innerHeight - 150);
  const s = Math.min(availW / canvas.width, availH / canvas.height);
  canvas.style.width = `${Math.floor(canvas.width * s)}px`;
  canvas.style.height = `${Math.floor(canvas.height * s)}px`;
  canvas.style.imageRendering = s >= 2 ? "pixelated" : "auto";
}
window.addEventListener("resize", () => { fitCanvas(); draw(false); });

function loadImage(url) {
  if (images.has(url)) return images.get(url);
  const p = new Promise((resolve) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => resolve(null);
    img.src = url;
  });
  images.set(url, p);
  if (images.size > 400) images.delete(images.keys().next().value);
  return p;
}

function frameUrl(seq, t, view) {
  return `/api/seq/${encodeURIComponent(seq.name)}/frame/${t}?view=${view}&v=${seq.events_version}`;
}

function maskUrl(seq, t) {
  return `/api/seq/${encodeURIComponent(seq.name)}/mask/${t}?v=${seq.mask_version}`;
}

async function draw(reloadMask) {
  const seq = server && server.sequence;
  if (!seq) return;
  document.body.dataset.ready = "0";
  const t = ui.frame;
  $("frame-label").textContent = `frame ${t} / ${seq.num_frames - 1}  (${seq.stems[t]})`;
  $("timeline").value = t;
  let view = ui.view;
  if (view === "events" && !seq.has_events) view = "frame";
  if (view === "normal" && !seq.has_normal) view = "frame";
  const [base, ev, mask] = await Promise.all([
    loadImage(frameUrl(seq, t, view)),
    ui.eventsBlend > 0 && seq.has_events && view !== "events" ? loadImage(frameUrl(seq, t, "events_layer")) : Promise.resolve(null),
    ui.showMask ? loadImage(maskUrl(seq, t)) : Promise.resolve(null),
  ]);
  if (t !== ui.frame) return;  // the user moved on meanwhile
  ctx.globalAlpha = 1;
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  if (base) ctx.drawImage(base, 0, 0, canvas.width, canvas.height);
  if (ev) { ctx.globalAlpha = ui.eventsBlend / 100; ctx.drawImage(ev, 0, 0, canvas.width, canvas.height); }
  let pixels = 0;
  if (mask) {
    ctx.globalAlpha = ui.maskOpacity / 100;
    ctx.drawImage(mask, 0, 0, canvas.width, canvas.height);
    pixels = countMaskPixels(mask);
  }
  ctx.globalAlpha = 1;
  drawStrokes(seq);
  $("mask-pixels").textContent = pixels;
  const notes = [];
  if (ui.view === "events" && !seq.has_events) notes.push("no events in this sequence (synthesise them)");
  if (seq.preview_frame === t) notes.push("preview (not committed: propagate or 'this frame only')");
  if (seq.events_synthetic && (view === "events" || ui.eventsBlend > 0)) notes.push("synthesised events");
  $("canvas-note").textContent = notes.join(" | ");
  document.body.dataset.ready = "1";
  document.body.dataset.frame = t;
}

const countCanvas = document.createElement("canvas");
function countMaskPixels(img) {
  countCanvas.width = img.naturalWidth;
  countCanvas.height = img.naturalHeight;
  const g = countCanvas.getContext("2d", {willReadFrequently: true});
  g.clearRect(0, 0, countCanvas.width, countCanvas.height);
  g.drawImage(img, 0, 0);
  const data = g.getImageData(0, 0, countCanvas.width, countCanvas.height).data;
  let n = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++;
  return n;
}

function strokeColour(seq, objectId, positive) {
  if (!positive) return "rgb(255,60,60)";
  if (objectId === 0) return "rgb(230,230,230)";
  const c = seq.palette[String(objectId)] || [255, 255, 0];
  return `rgb(${c.join(",")})`;
}

function drawPolyline(points, colour, dashed) {
  // a light halo under the object colour, so dark palette colours show on dark frames
  const scale = canvas.width / (canvas.getBoundingClientRect().width || canvas.width);  // frame px per CSS px
  const width = Math.max(1, 3 * scale);
  const px = points.map(([x, y]) => [x * canvas.width, y * canvas.height]);
  for (const [style, w] of [["rgba(255,255,255,0.9)", width + 2 * scale], [colour, width]]) {
    ctx.save();
    ctx.strokeStyle = style;
    ctx.fillStyle = style;
    ctx.lineWidth = w;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    if (dashed) ctx.setLineDash([6 * scale, 4 * scale]);
    ctx.beginPath();
    if (px.length === 1) {
      ctx.arc(px[0][0], px[0][1], w * 1.5, 0, 2 * Math.PI);
      ctx.fill();
    } else {
      ctx.moveTo(px[0][0], px[0][1]);
      for (const [x, y] of px.slice(1)) ctx.lineTo(x, y);
      ctx.stroke();
    }
    ctx.restore();
  }
}

function drawStrokes(seq) {
  if (seq.pending_frame === ui.frame) {
    for (const s of seq.pending_strokes) drawPolyline(s.points, strokeColour(seq, s.object_id, s.positive), !s.positive);
  }
  if (drawing) drawPolyline(drawing.points, strokeColour(seq, ui.objectId, drawing.positive), !drawing.positive);
}

// ------------------------------------------------------------------ frames, playback
function goto(t) {
  const seq = server && server.sequence;
  if (!seq) return;
  ui.frame = Math.max(0, Math.min(seq.num_frames - 1, t));
  save();
  renderTicks(seq);
  draw(false);
  // prefetch the next frames for playback
  for (let k = 1; k <= 3 && ui.frame + k < seq.num_frames; k++) loadImage(frameUrl(seq, ui.frame + k, ui.view));
}

function togglePlay() {
  if (playTimer) { clearInterval(playTimer); playTimer = null; $("play-btn").textContent = "Play"; return; }
  $("play-btn").textContent = "Pause";
  playTimer = setInterval(() => {
    const seq = server && server.sequence;
    if (!seq || ui.frame >= seq.num_frames - 1) { togglePlay(); return; }
    goto(ui.frame + 1);
  }, 100);
}

// ------------------------------------------------------------------ strokes
function normPoint(ev) {
  const r = canvas.getBoundingClientRect();
  const x = Math.min(1, Math.max(0, (ev.clientX - r.left) / r.width));
  const y = Math.min(1, Math.max(0, (ev.clientY - r.top) / r.height));
  return [x, y];
}

canvas.addEventListener("contextmenu", (ev) => ev.preventDefault());
canvas.addEventListener("pointerdown", (ev) => {
  const seq = server && server.sequence;
  if (!seq || (server.job && server.job.status === "running")) return;
  const positive = ev.button === 2 ? false : ui.positive;
  drawing = {points: [normPoint(ev)], positive, t0: performance.now()};
  canvas.setPointerCapture(ev.pointerId);
  ev.preventDefault();
});
canvas.addEventListener("pointermove", (ev) => {
  if (!drawing || ui.tool === "click") return;
  const p = normPoint(ev);
  const last = drawing.points[drawing.points.length - 1];
  if (Math.hypot((p[0] - last[0]) * canvas.width, (p[1] - last[1]) * canvas.height) >= 1) {
    drawing.points.push(p);
    draw(false);
  }
});
canvas.addEventListener("pointerup", async () => {
  if (!drawing) return;
  const stroke = drawing;
  drawing = null;
  await sendStroke(stroke);
});

async function sendStroke(stroke) {
  const seq = server.sequence;
  let objectId = ui.objectId;
  let positive = stroke.positive;
  if (objectId === 0 && !positive) { message("warning", "a negative stroke needs an object: drawn as background instead"); positive = true; }
  if (objectId > 0 && !seq.objects.some((o) => o.id === objectId)) {
    message("error", "add an object first (N)");
    return;
  }
  const points = ui.tool === "click" ? [stroke.points[0]] : stroke.points;
  const maxPts = server.limits.max_points_per_stroke;
  const sent = points.length > maxPts ? points.filter((_, i) => i % Math.ceil(points.length / maxPts) === 0) : points;
  try {
    await act("/api/strokes", {sequence: seq.name, frame: ui.frame, strokes: [{points: sent, object_id: objectId, positive,
      duration_ms: Math.round(performance.now() - stroke.t0)}]});
    if (ui.autoRun && server.sequence.objects.length) await act("/api/interact", {sequence: seq.name});
  } catch (e) { await refresh(); }
}

// ------------------------------------------------------------------ jobs
function startPolling() {
  if (pollTimer) return;
  pollTimer = setInterval(async () => {
    await refresh();
    if (!server || !server.job || server.job.status !== "running") { clearInterval(pollTimer); pollTimer = null; await refresh(); }
  }, 250);
}

// ------------------------------------------------------------------ actions
const seqName = () => server && server.sequence ? server.sequence.name : null;

async function propagate(direction) {
  if (!seqName()) return;
  try { await act("/api/propagate", {sequence: seqName(), direction}); } catch (e) { /* shown */ }
}

async function exportAll() {
  if (!seqName()) return;
  const body = {sequence: seqName(), overwrite: false, masks: true, scribbles: true, video: ui.video};
  try {
    await act("/api/export", body);
  } catch (e) {
    if (e.data && e.data.need_confirmation) {
      if (confirm(`${e.data.existing} file(s) exist already, e.g.\n${e.data.examples.join("\n")}\n\nOverwrite them?`)) {
        try { await act("/api/export", {...body, overwrite: true}); } catch (e2) { /* shown */ }
      } else {
        message("info", "export cancelled: nothing was written");
      }
    }
  }
}

async function addObject() {
  if (!seqName()) return;
  try {
    const data = await act("/api/objects", {sequence: seqName()});
    ui.objectId = data.object_id;
    save();
    await refresh();
  } catch (e) { /* shown */ }
}

function cycleObject() {
  const seq = server && server.sequence;
  if (!seq) return;
  const ids = [0].concat(seq.objects.map((o) => o.id));
  ui.objectId = ids[(ids.indexOf(ui.objectId) + 1) % ids.length];
  save();
  renderObjects(seq);
}

function setView(v) {
  ui.view = v;
  save();
  const r = document.querySelector(`input[name=view][value=${v}]`);
  if (r) r.checked = true;
  draw(false);
}

function setTool(t) {
  ui.tool = t;
  save();
  $(t === "click" ? "tool-click" : "tool-scribble").checked = true;
}

function togglePolarity() {
  ui.positive = !ui.positive;
  save();
  syncControls();
}

function syncControls() {
  $("polarity").textContent = ui.positive ? "Positive (+)" : "Negative (-)";
  $("polarity").classList.toggle("negative", !ui.positive);
  $("events-blend").value = ui.eventsBlend;
  $("mask-opacity").value = ui.maskOpacity;
  $("show-mask").checked = ui.showMask;
  $("auto-run").checked = ui.autoRun;
  $("export-video").checked = ui.video;
  const r = document.querySelector(`input[name=view][value=${ui.view}]`);
  if (r) r.checked = true;
  $(ui.tool === "click" ? "tool-click" : "tool-scribble").checked = true;
}

// ------------------------------------------------------------------ wiring
$("open-btn").onclick = () => act("/api/open", {sequence: $("seq-select").value}).catch(() => {});
$("cancel-btn").onclick = () => api("/api/job/cancel", {}).then(refresh).catch((e) => message("error", e.message));
$("timeline").oninput = (ev) => goto(Number(ev.target.value));
$("prev-btn").onclick = () => goto(ui.frame - 1);
$("next-btn").onclick = () => goto(ui.frame + 1);
$("play-btn").onclick = togglePlay;
for (const r of document.querySelectorAll("input[name=view]")) r.onchange = () => setView(r.value);
for (const r of document.querySelectorAll("input[name=tool]")) r.onchange = () => setTool(r.value);
$("events-blend").oninput = (ev) => { ui.eventsBlend = Number(ev.target.value); save(); draw(false); };
$("mask-opacity").oninput = (ev) => { ui.maskOpacity = Number(ev.target.value); save(); draw(false); };
$("show-mask").onchange = (ev) => { ui.showMask = ev.target.checked; save(); draw(false); };
$("auto-run").onchange = (ev) => { ui.autoRun = ev.target.checked; save(); };
$("export-video").onchange = (ev) => { ui.video = ev.target.checked; save(); };
$("polarity").onclick = togglePolarity;
$("obj-add").onclick = addObject;
$("run-btn").onclick = () => seqName() && act("/api/interact", {sequence: seqName()}).catch(() => {});
$("clear-btn").onclick = () => seqName() && act("/api/strokes/clear", {sequence: seqName()}).catch(() => {});
$("prop-both").onclick = () => propagate("both");
$("prop-fwd").onclick = () => propagate("forward");
$("prop-bwd").onclick = () => propagate("backward");
$("prop-none").onclick = () => propagate("none");
$("undo-btn").onclick = () => seqName() && act("/api/undo", {sequence: seqName()}).catch(() => {});
$("export-btn").onclick = exportAll;
$("synth-btn").onclick = () => seqName() && act("/api/events/synthesize", {sequence: seqName()}).catch(() => {});
$("weights-btn").onclick = () => act("/api/weights", {weights: $("weights-path").value,
  interaction_weights: $("iweights-path").value || null}).catch(() => {});

document.addEventListener("keydown", (ev) => {
  const tag = (ev.target.tagName || "").toLowerCase();
  if ((tag === "input" && ev.target.type !== "range" && ev.target.type !== "checkbox" && ev.target.type !== "radio") || tag === "select" || tag === "textarea") return;
  const k = ev.key;
  const step = ev.shiftKey ? 10 : 1;
  const busy = server && server.job && server.job.status === "running";
  const handled = {
    "ArrowLeft": () => goto(ui.frame - step), "ArrowRight": () => goto(ui.frame + step),
    "Home": () => goto(0), "End": () => goto(1e9), " ": togglePlay,
    "1": () => setView("frame"), "2": () => setView("bright"), "3": () => setView("events"), "4": () => setView("normal"),
    "m": () => { ui.showMask = !ui.showMask; save(); syncControls(); draw(false); },
    "n": addObject, "o": cycleObject, "s": () => setTool("scribble"), "c": () => setTool("click"), "x": togglePolarity,
    "r": () => $("run-btn").click(), "p": () => propagate("both"), "f": () => propagate("forward"), "b": () => propagate("backward"),
    "z": () => $("undo-btn").click(), "e": exportAll,
    "Escape": () => busy ? $("cancel-btn").click() : $("clear-btn").click(),
  }[k.length === 1 ? k.toLowerCase() : k];
  if (k === "z" && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); $("undo-btn").click(); return; }
  if (handled && !ev.ctrlKey && !ev.metaKey && !ev.altKey) { ev.preventDefault(); handled(); }
});

syncControls();
refresh().then(() => { if (server && server.job && server.job.status === "running") startPolling(); });
setInterval(() => { if (!pollTimer) refresh(); }, 2000);
