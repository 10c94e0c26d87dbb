// The review page's behaviour: actions on takes, live progress over server-sent events, A/B in sync.
// Plain JavaScript, no build step. Text from the server is set with textContent, never as HTML.
"use strict";

const body = document.body;
const live = body.dataset.live === "yes";
const token = body.dataset.token || "";

function say(text) {
  const status = document.getElementById("status");
  if (status) status.textContent = text;
}

async function api(path, payload) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Shotlist-Token": token },
    body: JSON.stringify(payload),
  });
  // a refusal (a stale token after a restart, another origin) is plain text: show it, not "Forbidden"
  const text = await response.text();
  let data;
  try { data = JSON.parse(text); } catch { data = { error: text.trim() || response.statusText }; }
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

function reloadCut() {
  const cut = document.getElementById("cut");
  if (!cut) { location.reload(); return; }
  const base = cut.getAttribute("src").split("&v=")[0];
  cut.setAttribute("src", base + "&v=" + Date.now());
  for (const track of cut.querySelectorAll("track")) {
    track.setAttribute("src", track.getAttribute("src").split("&v=")[0] + "&v=" + Date.now());
  }
  cut.load();
  cut.dataset.reloaded = String(Number(cut.dataset.reloaded || 0) + 1);
}

// --- players: a take's poster and clip are set as it comes near the screen, so a page of 300 takes loads
// at once (a <video> with a source costs the browser a media player even when it preloads nothing) -----

function arm(video) {
  if (video.dataset.src && !video.getAttribute("src")) {
    video.poster = video.dataset.poster;
    video.src = video.dataset.src;
  }
}
const players = new IntersectionObserver((entries) => {
  for (const entry of entries) {
    if (!entry.isIntersecting) continue;
    arm(entry.target);
    players.unobserve(entry.target);
  }
}, { rootMargin: "400px" });
for (const video of document.querySelectorAll("video[data-src]")) players.observe(video);

// --- pick and reject ---------------------------------------------------------------------------------

document.addEventListener("click", async (event) => {
  const button = event.target.closest("button");
  if (!button) return;
  const take = button.closest(".take");
  try {
    if (button.classList.contains("pick") && take) {
      button.disabled = true;
      const r = await api("/api/pick", { shot: take.dataset.shot, clip: take.dataset.clip });
      say(r.message);
    } else if (button.classList.contains("reject") && take) {
      const r = await api("/api/reject", {
        shot: take.dataset.shot, clip: take.dataset.clip, rejected: !take.classList.contains("rejected"),
      });
      say(r.message);
    }
  } catch (error) {
    say(error.message);
    button.disabled = false;
  }
});

const showRejected = document.getElementById("show-rejected");
if (showRejected) {
  showRejected.checked = sessionStorage.getItem("show-rejected") === "yes";
  body.classList.toggle("show-rejected", showRejected.checked);
  showRejected.addEventListener("change", () => {
    body.classList.toggle("show-rejected", showRejected.checked);
    sessionStorage.setItem("show-rejected", showRejected.checked ? "yes" : "no");
  });
}

// --- new takes: the cost first, then a confirm --------------------------------------------------------

for (const form of document.querySelectorAll("form.more")) {
  const confirmBox = form.querySelector(".confirm");
  const costText = form.querySelector(".cost-text");
  let quote = null;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const takes = Number(form.elements.takes.value);
    try {
      quote = await api("/api/estimate", { shot: form.dataset.shot, takes });
      costText.textContent = quote.text;
      confirmBox.hidden = false;
    } catch (error) {
      say(error.message);
    }
  });
  form.querySelector(".cancel").addEventListener("click", () => { confirmBox.hidden = true; quote = null; });
  form.querySelector(".go").addEventListener("click", async () => {
    if (!quote) return;
    confirmBox.hidden = true;
    try {
      const r = await api("/api/generate", { shot: quote.shot, takes: quote.takes, cost: quote.cost });
      form.querySelector(".progress").textContent = r.message;
    } catch (error) {
      say(error.message);
    }
  });
}

// --- live updates ------------------------------------------------------------------------------------

if (live && window.EventSource) {
  const events = new EventSource("/events?token=" + encodeURIComponent(token));
  events.addEventListener("progress", (e) => {
    const data = JSON.parse(e.data);
    const form = document.querySelector(`form.more[data-shot="${CSS.escape(data.shot)}"]`);
    const where = form ? form.querySelector(".progress") : null;
    const pct = data.fraction == null ? "" : ` ${Math.round(data.fraction * 100)} %`;
    if (where) where.textContent = `${data.state}${pct}${data.message ? " — " + data.message : ""}`;
  });
  events.addEventListener("job", (e) => say(JSON.parse(e.data).message));
  events.onerror = () => {
    // CLOSED: refused (a restart gave the server a new token); else the browser is trying again
    say(events.readyState === EventSource.CLOSED
      ? "this page's token is no longer valid (the server restarted?): open the URL that `shotlist review` printed"
      : "the review server is not answering (stopped?); this page keeps trying");
  };
  events.onopen = () => say("");
  events.addEventListener("cut", () => reloadCut());
  events.addEventListener("page", () => {
    sessionStorage.setItem("scroll", String(window.scrollY));
    location.reload();
  });
  window.addEventListener("beforeunload", () => events.close());
}
const scroll = sessionStorage.getItem("scroll");
if (scroll !== null) { sessionStorage.removeItem("scroll"); window.scrollTo(0, Number(scroll)); }

// --- A/B: two takes of one shot side by side, playing from the same time --------------------------------

for (const section of document.querySelectorAll("section.shot")) {
  const panel = section.querySelector(".ab");
  const pair = panel.querySelector(".pair");
  const players = () => Array.from(pair.querySelectorAll("video"));
  section.addEventListener("change", (event) => {
    if (!event.target.classList.contains("abpick")) return;
    const chosen = Array.from(section.querySelectorAll(".abpick:checked")).map((box) => box.closest(".take"));
    while (chosen.length > 2) chosen.shift().querySelector(".abpick").checked = false;
    pair.replaceChildren();
    panel.hidden = chosen.length !== 2;
    for (const take of chosen.length === 2 ? chosen : []) {
      const figure = document.createElement("figure");
      const source = take.querySelector("video");
      arm(source);
      const video = source.cloneNode(false);
      video.removeAttribute("controls");
      video.muted = pair.children.length > 0;  // one sound at a time
      video.preload = "auto";
      const caption = document.createElement("figcaption");
      caption.textContent = `take ${take.dataset.take} · ${take.dataset.model}`;
      figure.append(video, caption);
      pair.append(figure);
    }
  });
  panel.querySelector(".ab-play").addEventListener("click", () => {
    const [a, b] = players();
    if (!a || !b) return;
    a.currentTime = 0; b.currentTime = 0;
    Promise.all([a.play(), b.play()]).catch(() => {});
    // Keep B on A's clock: nudge it back whenever the two drift apart by more than a frame or two.
    a.ontimeupdate = () => { if (Math.abs(b.currentTime - a.currentTime) > 0.08) b.currentTime = a.currentTime; };
    a.onpause = () => b.pause();
  });
  panel.querySelector(".ab-close").addEventListener("click", () => {
    for (const box of section.querySelectorAll(".abpick:checked")) box.checked = false;
    pair.replaceChildren();
    panel.hidden = true;
  });
}
