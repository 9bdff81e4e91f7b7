// The page is a plain client of the same /v1/videos API the openai SDK uses.
"use strict";
const $ = (id) => document.getElementById(id);
const keyInput = $("api-key");
keyInput.value = localStorage.getItem("chronotope-api-key") || "";
keyInput.addEventListener("change", () => localStorage.setItem("chronotope-api-key", keyInput.value));

function headers() {
  return keyInput.value ? { Authorization: "Bearer " + keyInput.value } : {};
}

async function api(path, options = {}) {
  const res = await fetch("/v1" + path, { ...options, headers: { ...headers(), ...(options.headers || {}) } });
  if (!res.ok) {
    let message = res.status + " " + res.statusText;
    try { message = (await res.json()).error.message; } catch (_) { /* not JSON */ }
    throw new Error(message);
  }
  return res;
}

function setStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

function showFieldsFor(task) {
  document.querySelectorAll("[data-for]").forEach((el) => {
    el.hidden = !el.dataset.for.split(" ").includes(task);
  });
}

async function refreshJobs() {
  let list;
  try { list = await (await api("/videos?limit=20")).json(); } catch (_) { return; }
  const jobs = $("jobs"), source = $("source");
  jobs.replaceChildren();
  source.replaceChildren();
  for (const v of list.data) {
    const li = document.createElement("li");
    li.textContent = `${v.status} ${v.progress}% ${v.size} ${v.seconds}s: ${v.prompt || ""}`;
    if (v.status === "completed") {
      const play = document.createElement("button");
      play.textContent = "play";
      play.onclick = () => show(v);
      li.append(" ", play);
      source.append(new Option(`${v.prompt} (${v.size}, ${v.seconds}s)`, v.id));
    }
    jobs.append(li);
  }
}

async function show(video) {
  const blob = await (await api(`/videos/${video.id}/content`)).blob();
  const url = URL.createObjectURL(blob);  // a blob URL: <video> cannot send the API key
  $("player").src = url;
  $("download").href = url;
  $("download").download = video.id + ".mp4";
  $("download").hidden = false;
  await $("player").play().catch(() => {});
}

function buildRequest(task) {
  const body = new FormData();
  body.append("prompt", $("prompt").value);
  if (task === "text" || task === "image") {
    if ($("size").value.trim()) body.append("size", $("size").value.trim());
    body.append("seconds", $("seconds").value);
    if (task === "image") {
      const file = $("image").files[0];
      if (!file) throw new Error("choose an image for image-to-video");
      body.append("input_reference", file);
    }
    return ["/videos", { method: "POST", body }];
  }
  const source = $("source").value;
  if (!source) throw new Error("no completed video to use yet");
  if (task === "remix") {
    return [`/videos/${source}/remix`, {
      method: "POST", body: JSON.stringify({ prompt: $("prompt").value }),
      headers: { "Content-Type": "application/json" },
    }];
  }
  body.append("seconds", $("seconds").value);
  body.append("video[id]", source);
  return ["/videos/extensions", { method: "POST", body }];
}

async function poll(id) {
  for (;;) {
    const video = await (await api(`/videos/${id}`)).json();
    $("progress").value = video.progress;
    setStatus(`${video.status} ${video.progress}%`);
    if (video.status === "completed") return video;
    if (video.status === "failed") throw new Error(video.error ? video.error.message : "failed");
    await new Promise((r) => setTimeout(r, 400));
  }
}

$("form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const button = $("submit");
  button.disabled = true;
  try {
    const [path, options] = buildRequest($("task").value);
    const created = await (await api(path, options)).json();
    setStatus(`queued (${created.id})`);
    refreshJobs();
    const video = await poll(created.id);
    await show(video);
    setStatus(`completed: ${video.size}, ${video.seconds} s`);
  } catch (e) {
    setStatus(e.message, true);
  } finally {
    button.disabled = false;
    refreshJobs();
  }
});

$("task").addEventListener("change", () => showFieldsFor($("task").value));
showFieldsFor($("task").value);
refreshJobs();
