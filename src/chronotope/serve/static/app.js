// The page is a plain client of the same /v1/videos API the openai SDK uses, plus
// GET /page/config: the model's name and sizes, the limits, and prompt suggestions.
"use strict";
const $ = (id) => document.getElementById(id);
const ACTIVE = new Set(["queued", "in_progress"]);
const PAGE = 24;
const CREATES = new Set(["text", "image", "loop"]); // tasks that POST /v1/videos
const HELP = {
  text: "Text to video: a new video from a prompt.",
  image: "Image to video: a video that starts from your image (scaled and cropped to the size).",
  extend: "Extend: more seconds after a video; its own frames are kept as they are.",
  remix: "Remix: the same video redone with a new prompt.",
  loop: "Loop: a video whose last frame flows back into its first, so it plays on without a seam.",
};

const state = {
  config: null,
  task: "text",
  videos: new Map(), // id -> video object
  newest: [], // ids of the newest page, newest first
  older: [], // ids loaded with "Show older videos"
  after: null, // the last id of the oldest page loaded
  hasMore: false,
  samples: new Map(), // id -> [[ms, progress], ...] while in progress (the ETA)
  blobs: new Map(), // "id:variant" -> Promise of a blob: URL
  cards: new Map(), // id -> <article>
  selected: null,
  follow: null, // the job this page submitted last: shown when it completes
};

// --- the API -----------------------------------------------------------------------------
const keyInput = $("api-key");
keyInput.value = localStorage.getItem("chronotope-api-key") || "";
keyInput.addEventListener("change", () => {
  localStorage.setItem("chronotope-api-key", keyInput.value);
  refresh();
});

async function api(path, options = {}) {
  const auth = keyInput.value ? { Authorization: "Bearer " + keyInput.value } : {};
  const res = await fetch("/v1" + path, { ...options, headers: { ...auth, ...(options.headers || {}) } });
  if (!res.ok) {
    let message = res.status + " " + res.statusText;
    try { message = (await res.json()).error.message; } catch (_) { /* not JSON */ }
    if (res.status === 401) $("key").open = true; // the server wants a key: show where it goes
    throw new Error(message);
  }
  return res;
}

// <video> and <img> cannot send the API key: every file is fetched and shown as a blob: URL
function fileUrl(id, variant = "video") {
  const key = id + ":" + variant;
  if (!state.blobs.has(key)) {
    const url = api(`/videos/${id}/content?variant=${variant}`)
      .then((res) => res.blob())
      .then((blob) => URL.createObjectURL(blob));
    url.catch(() => state.blobs.delete(key));
    state.blobs.set(key, url);
  }
  return state.blobs.get(key);
}

// --- progress and ETA ----------------------------------------------------------------------
// Seconds left at the rate progress has moved since this page first saw the job running, or
// null until it has moved (samples: [[ms, percent], ...], oldest first).
function eta(samples, now) {
  if (samples.length < 2) return null;
  const [t0, p0] = samples[0];
  const [t1, p1] = samples[samples.length - 1];
  if (p1 <= p0 || t1 <= t0 || p1 >= 100) return null;
  const perMs = (p1 - p0) / (t1 - t0);
  return Math.max(0, ((100 - p1) / perMs - (now - t1)) / 1000);
}

function etaText(seconds) {
  if (seconds === null) return "estimating time left…";
  if (seconds < 1.5) return "almost done";
  if (seconds < 90) return `about ${Math.round(seconds)} s left`;
  return `about ${Math.round(seconds / 60)} min left`;
}

function observe(video, now) {
  if (video.status !== "in_progress") return;
  const samples = state.samples.get(video.id) || [];
  const last = samples[samples.length - 1];
  if (!last || last[1] !== video.progress) samples.push([now, video.progress]);
  state.samples.set(video.id, samples);
}

// --- the list of videos --------------------------------------------------------------------
function merge(list, now) {
  for (const v of list) {
    observe(v, now);
    const before = state.videos.get(v.id);
    state.videos.set(v.id, v);
    if (before && before.status !== "completed" && v.status === "completed" && state.follow === v.id) {
      state.follow = null;
      formStatus(`Finished: ${v.size}, ${v.seconds} s.`);
      select(v.id);
    }
    if (v.status === "failed" && state.follow === v.id) {
      state.follow = null;
      formStatus(`Failed: ${v.error ? v.error.message : "unknown error"}`, true);
    }
  }
}

async function refresh() {
  let list;
  try {
    list = await (await api(`/videos?limit=${PAGE}`)).json();
  } catch (e) {
    formStatus(`Could not list videos: ${e.message}`, true);
    return;
  }
  merge(list.data, Date.now());
  state.newest = list.data.map((v) => v.id);
  if (!state.after || !state.older.length) {
    state.after = list.last_id;
    state.hasMore = list.has_more;
  }
  render();
}

async function loadOlder() {
  if (!state.after) return;
  try {
    const list = await (await api(`/videos?limit=${PAGE}&after=${state.after}`)).json();
    merge(list.data, Date.now());
    state.older.push(...list.data.map((v) => v.id));
    state.after = list.last_id || state.after;
    state.hasMore = list.has_more;
    render();
  } catch (e) {
    formStatus(e.message, true);
  }
}

function shownIds() {
  const seen = new Set(state.newest);
  return [...state.newest, ...state.older.filter((id) => !seen.has(id))].filter((id) => state.videos.has(id));
}

function render() {
  const ids = shownIds();
  const gallery = $("gallery");
  const cards = ids.map((id) => cardFor(state.videos.get(id)));
  // move nodes only when the order changed (moving a playing <video> pauses it)
  const same = cards.length === gallery.children.length && cards.every((c, i) => gallery.children[i] === c);
  if (!same) gallery.replaceChildren(...cards);
  for (const [id, card] of state.cards) if (!ids.includes(id)) state.cards.delete(id);
  $("gallery-count").textContent = counts(ids.map((id) => state.videos.get(id).status));
  $("gallery-empty").hidden = ids.length > 0;
  $("more").hidden = !state.hasMore;
  updateSources();
  if (state.selected && !state.videos.has(state.selected)) clearViewer();
}

function counts(statuses) {
  const n = (pred) => statuses.filter(pred).length;
  const parts = [[n((s) => s === "completed"), "finished"], [n((s) => ACTIVE.has(s)), "in progress"], [n((s) => s === "failed"), "failed"]];
  return parts.filter(([k]) => k).map(([k, what]) => `${k} ${what}`).join(" · ");
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function button(label, onClick, className) {
  const b = el("button", className, label);
  b.type = "button";
  b.addEventListener("click", (e) => { e.stopPropagation(); onClick(); });
  return b;
}

function cardFor(v) {
  let card = state.cards.get(v.id);
  if (!card || card.dataset.status !== v.status) {
    const fresh = buildCard(v);
    if (card) card.replaceWith(fresh);
    card = fresh;
    state.cards.set(v.id, card);
  }
  updateCard(card, v);
  return card;
}

function buildCard(v) {
  const card = el("article", "card");
  card.dataset.id = v.id;
  card.dataset.status = v.status;
  const media = el("div", "media");
  if (v.status === "completed") {
    const img = el("img", "thumb");
    img.alt = v.prompt || "";
    fileUrl(v.id, "thumbnail").then((url) => { img.src = url; }, () => {});
    const preview = el("video", "preview");
    Object.assign(preview, { muted: true, loop: true, playsInline: true, hidden: true });
    media.append(img, preview);
    media.title = "Hover to play, click to open";
    media.addEventListener("mouseenter", () => hoverPlay(card, preview, true));
    media.addEventListener("mouseleave", () => hoverPlay(card, preview, false));
    media.addEventListener("click", () => select(v.id));
  } else if (v.status === "failed") {
    media.classList.add("failed");
    media.append(el("strong", "", "Failed"), el("span", "error", v.error ? v.error.message : ""));
  } else {
    media.classList.add("pending");
    const bar = el("progress");
    bar.max = 100;
    media.append(el("span", "pct"), bar, el("span", "eta"));
  }
  media.append(el("span", "badge", `${v.seconds} s · ${v.size}`));
  const body = el("div", "card-body");
  body.append(el("p", "prompt", v.prompt || "(no prompt)"), el("p", "meta"), el("ul", "warnings"));
  const actions = el("div", "actions");
  if (v.status === "completed") {
    actions.append(
      button("Extend", () => useAsSource(v.id, "extend")),
      button("Remix", () => useAsSource(v.id, "remix")),
    );
  }
  actions.append(button(ACTIVE.has(v.status) ? "Cancel" : "Delete", () => remove(v.id), "quiet"));
  body.append(actions);
  card.append(media, body);
  return card;
}

function updateCard(card, v) {
  card.classList.toggle("selected", state.selected === v.id);
  card.querySelector(".prompt").title = v.prompt || "";
  const from = v.remixed_from_video_id ? " · from another video" : "";
  card.querySelector(".meta").textContent = `${v.model} · ${when(v.created_at)}${from}`;
  fillWarnings(card.querySelector(".warnings"), v.warnings);
  if (ACTIVE.has(v.status)) {
    const running = v.status === "in_progress";
    card.querySelector(".pct").textContent = running ? `${v.progress}%` : "Queued";
    const bar = card.querySelector("progress");
    if (running) bar.value = v.progress;
    else bar.removeAttribute("value"); // indeterminate while it waits
    const samples = state.samples.get(v.id) || [];
    card.querySelector(".eta").textContent = running ? etaText(eta(samples, Date.now())) : queuePlace(v);
  }
}

function queuePlace(v) {
  const ahead = [...state.videos.values()].filter((o) => ACTIVE.has(o.status) && o.created_at <= v.created_at && o.id !== v.id).length;
  return ahead ? `waiting behind ${ahead}` : "starting…";
}

function fillWarnings(list, warnings) {
  const items = Array.isArray(warnings) ? warnings : [];
  if (list.childElementCount === items.length && [...list.children].every((li, i) => li.textContent === items[i])) return;
  list.replaceChildren(...items.map((w) => el("li", "", w)));
}

function when(unixSeconds) {
  const s = Math.max(0, Date.now() / 1000 - unixSeconds);
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return new Date(unixSeconds * 1000).toLocaleDateString();
}

async function hoverPlay(card, preview, on) {
  card.dataset.hover = on ? "1" : "";
  if (!on) {
    preview.pause();
    preview.hidden = true;
    return;
  }
  try {
    const url = await fileUrl(card.dataset.id);
    if (card.dataset.hover !== "1") return; // the pointer left while it loaded
    if (preview.src !== url) preview.src = url;
    preview.hidden = false;
    await preview.play();
  } catch (_) { /* a missing file shows the thumbnail */ }
}

// --- the player ----------------------------------------------------------------------------
async function select(id) {
  const v = state.videos.get(id);
  if (!v || v.status !== "completed") return;
  state.selected = id;
  for (const [cid, card] of state.cards) card.classList.toggle("selected", cid === id);
  $("details").hidden = false;
  $("details-prompt").textContent = v.prompt || "";
  $("details-meta").textContent = `${v.size} · ${v.seconds} s · ${v.model} · ${v.id}`;
  fillWarnings($("details-warnings"), v.warnings);
  $("download").removeAttribute("href");
  try {
    const url = await fileUrl(id);
    if (state.selected !== id) return;
    const player = $("player");
    player.src = url;
    player.hidden = false;
    $("stage-empty").hidden = true;
    $("download").href = url;
    $("download").download = id + ".mp4";
    await player.play().catch(() => {});
  } catch (e) {
    formStatus(e.message, true);
  }
}

function clearViewer() {
  state.selected = null;
  $("player").pause();
  $("player").removeAttribute("src");
  $("player").hidden = true;
  $("stage-empty").hidden = false;
  $("details").hidden = true;
}

async function remove(id) {
  try {
    await api(`/videos/${id}`, { method: "DELETE" });
  } catch (e) {
    formStatus(e.message, true);
    return;
  }
  state.videos.delete(id);
  for (const variant of ["video", "thumbnail"]) {
    const url = state.blobs.get(id + ":" + variant);
    if (url) url.then(URL.revokeObjectURL, () => {});
    state.blobs.delete(id + ":" + variant);
  }
  render();
}

document.querySelectorAll("#details [data-act]").forEach((b) => {
  b.addEventListener("click", () => {
    if (!state.selected) return;
    if (b.dataset.act === "delete") remove(state.selected);
    else useAsSource(state.selected, b.dataset.act);
  });
});

// --- the form ------------------------------------------------------------------------------
function setTask(task) {
  state.task = task;
  document.querySelectorAll("[data-task]").forEach((b) => b.setAttribute("aria-selected", String(b.dataset.task === task)));
  document.querySelectorAll("[data-for]").forEach((node) => {
    node.hidden = !node.dataset.for.split(" ").includes(task);
  });
  $("task-help").textContent = HELP[task];
  $("seconds-label").textContent = task === "extend" ? "Seconds to add" : "Seconds";
  $("submit").textContent = { extend: "Extend", remix: "Remix", loop: "Generate loop" }[task] || "Generate";
  updateUploads();
}

function useAsSource(id, task) {
  setTask(task);
  updateSources();
  $("source").value = id;
  updateUploads();
  $("prompt").focus();
  $("form").scrollIntoView({ behavior: "smooth", block: "start" });
}

function updateSources() {
  const select = $("source");
  const done = shownIds().map((id) => state.videos.get(id)).filter((v) => v.status === "completed");
  const wanted = done.map((v) => v.id).join(",");
  if (select.dataset.ids === wanted) return;
  const chosen = select.value;
  select.replaceChildren(
    ...done.map((v) => new Option(`${v.prompt || v.id} (${v.size}, ${v.seconds} s)`, v.id)),
    new Option("Upload a video file…", "upload"),
  );
  select.dataset.ids = wanted;
  if ([...select.options].some((o) => o.value === chosen)) select.value = chosen;
  updateUploads();
}

function updateUploads() {
  const sourced = state.task === "extend" || state.task === "remix";
  $("video-file-field").hidden = !(sourced && $("source").value === "upload");
  $("custom-size-field").hidden = !(CREATES.has(state.task) && $("size").value === "custom");
}

function formStatus(text, isError = false) {
  $("form-status").textContent = text;
  $("form-status").classList.toggle("error", isError);
}

function chosenSize() {
  const value = $("size").value;
  return value === "custom" ? $("custom-size").value.trim().replace(/\s+/g, "") : value;
}

function buildRequest(task) {
  const body = new FormData();
  const prompt = $("prompt").value.trim();
  if (!prompt) throw new Error("Write a prompt first, or pick one of the suggestions.");
  body.append("prompt", prompt);
  const seed = $("seed").value.trim();
  if (seed) body.append("seed", seed);
  const seconds = $("seconds").value.trim();
  if (CREATES.has(task)) {
    body.append("model", $("model").value);
    const size = chosenSize();
    if (size) body.append("size", size);
    if (seconds) body.append("seconds", seconds);
    if (task === "image") {
      const file = $("image").files[0];
      if (!file) throw new Error("Choose an image for image to video.");
      body.append("input_reference", file);
    }
    if (task === "loop") body.append("loop", "true");
    return ["/videos", body];
  }
  const source = $("source").value;
  if (task === "extend") body.append("seconds", seconds);
  if (source === "upload") {
    const file = $("video-file").files[0];
    if (!file) throw new Error("Choose a video file.");
    body.append("video", file);
    return [task === "extend" ? "/videos/extensions" : "/videos/edits", body];
  }
  if (!source) throw new Error("There is no finished video to start from yet.");
  if (task === "remix") return [`/videos/${source}/remix`, body];
  body.append("video[id]", source);
  return ["/videos/extensions", body];
}

$("form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const submit = $("submit");
  submit.disabled = true;
  try {
    const [path, body] = buildRequest(state.task);
    const video = await (await api(path, { method: "POST", body })).json();
    state.videos.set(video.id, video);
    state.newest.unshift(video.id);
    state.follow = video.id;
    formStatus(`Queued ${video.size}, ${video.seconds} s.`);
    render();
    schedule(300);
  } catch (e) {
    formStatus(e.message, true);
  } finally {
    submit.disabled = false;
  }
});

document.querySelectorAll("[data-task]").forEach((b) => b.addEventListener("click", () => setTask(b.dataset.task)));
$("source").addEventListener("change", updateUploads);
$("size").addEventListener("change", updateUploads);
$("more").addEventListener("click", loadOlder);
$("image").addEventListener("change", () => {
  const file = $("image").files[0];
  const preview = $("image-preview");
  if (preview.src) URL.revokeObjectURL(preview.src);
  preview.hidden = !file;
  if (file) preview.src = URL.createObjectURL(file);
  $("image-hint").textContent = file ? file.name : "Choose an image (PNG, JPEG or WebP)";
});

// --- settings from the server --------------------------------------------------------------
function aspectName(size) {
  const [w, h] = size.split("x").map(Number);
  return w === h ? "square" : w > h ? "landscape" : "portrait";
}

async function loadModels(fallback) {
  try {
    const list = await (await api("/models")).json();
    const ids = (list.data || []).map((m) => m.id).filter(Boolean);
    return ids.length ? ids : [fallback];
  } catch (_) {
    return [fallback]; // a server without GET /v1/models serves one model
  }
}

async function loadConfig() {
  const res = await fetch("/page/config");
  const config = await res.json();
  state.config = config;
  $("size").replaceChildren(
    new Option("Auto", ""), // the server's choice: the model's own, or for an image its aspect
    ...config.sizes.map((s) => new Option(`${s} ${aspectName(s)}`, s)),
    new Option("Custom…", "custom"),
  );
  $("seconds").value = config.default_seconds;
  $("seconds").max = config.max_seconds;
  const models = await loadModels(config.model);
  $("model").replaceChildren(...models.map((m) => new Option(m, m)));
  const chips = $("suggestions");
  for (const text of config.suggestions) {
    const chip = button(text, () => { $("prompt").value = text; $("prompt").focus(); }, "chip");
    chip.title = text;
    chips.append(chip);
  }
  chips.hidden = config.suggestions.length === 0;
  if (config.suggestions.length) $("prompt").placeholder = "e.g. " + config.suggestions[0];
  const loop = document.querySelector('[data-task="loop"]');
  loop.disabled = !config.loop;
  if (!config.loop) loop.title = "This server does not take loop requests.";
}

// --- polling -------------------------------------------------------------------------------
let timer = null;
function schedule(ms) {
  clearTimeout(timer);
  timer = setTimeout(tick, ms);
}
async function tick() {
  await refresh();
  const busy = [...state.videos.values()].some((v) => ACTIVE.has(v.status));
  schedule(busy ? 500 : 5000);
}

window.chronotope = { eta, etaText, state }; // for tests and the curious
setTask("text");
loadConfig().catch((e) => formStatus(`Could not load the page settings: ${e.message}`, true)).finally(tick);
