// zhibo demo page (local development only): the dev app's rooms, push commands, live HLS and
// replays. It calls the API through `zhibo serve --dev-app`'s signing proxy at /demo/api/v1/...,
// which signs each request with the dev app's secret; the page itself never sees the secret.
//
// Test hooks (a browser test drives them):
//   ?room=<room_id>                 select the room and play its live HLS (GET .../play-urls)
//   ?src=<url-encoded HLS URL>      play exactly that URL, no API calls
//   ?flv=<url-encoded FLV URL>      play exactly that HTTP-FLV URL (mpegts.js), no API calls
//   ?replay=<replay_id>&room=<id>   play that replay of the room (its comments shown in sync)
// A live plays twice, side by side: HLS (hls.js) and HTTP-FLV (mpegts.js, the low-latency
// stream the mini-program's <live-player> plays) when play-urls returns `flv`.
// #status shows the state (idle, loading, playing, error); #error a human message on any
// failure (hidden when empty); window.zhiboDemo = {state, error, video, engine, flv} is kept up
// to date, with flv = {state, error, video, engine, url} for the HTTP-FLV player and
// chat = {state, error, items, likes, viewers (from the newest stats item), statsSeq} for the room's chat (items in seq order).

const API_BASE = new URL("api", import.meta.url).href; // /demo/api
const LIVE_STATUS = {
  101: "live",
  102: "not started",
  103: "ended",
  104: "banned",
  105: "paused",
  106: "abnormal",
  107: "expired",
};
/** Statuses after which a room takes no push any more. */
const FINAL_STATUSES = new Set([103, 104, 107]);
const START_TIMEOUT_MS = 20000;
const FETCH_TIMEOUT_MS = 10000;
const POLL_MS = 5000;

const $ = (id) => document.getElementById(id);
const video = $("player");

const flvVideo = $("flv-player");

/** What a test (or a curious developer) can read: kept up to date. */
const demo = {
  state: "loading",
  error: "",
  video,
  engine: "",
  flv: { state: "idle", error: "", video: flvVideo, engine: "", url: "" },
  chat: { state: "idle", error: "", items: [], likes: 0, viewers: 0, statsSeq: 0 },
};
window.zhiboDemo = demo;

// ---------------------------------------------------------------------------------------------
// State and error display

function setState(state) {
  demo.state = state;
  $("status").textContent = state;
  document.body.dataset.state = state;
}

function showError(message) {
  demo.error = message;
  const el = $("error");
  el.textContent = message;
  el.hidden = !message;
}

/** A playback failure: the message, and the state `error`. */
function failPlayback(message) {
  clearTimeout(startTimer);
  startTimer = null;
  showError(message);
  setState("error");
}

/** A failure outside playback (listing, creating, push URL): shown without touching playback. */
function failAction(message) {
  showError(message);
  if (demo.state === "idle") setState("error");
}

function playing() {
  return demo.state === "playing";
}

// ---------------------------------------------------------------------------------------------
// HTTP helpers: every request has a timeout, so nothing here can hang.

/** fetch + body text, aborted after FETCH_TIMEOUT_MS. Rejects with a readable Error. */
async function fetchText(url, init = {}) {
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), FETCH_TIMEOUT_MS);
  try {
    const res = await fetch(url, { ...init, signal: ctrl.signal });
    const text = await res.text();
    return { res, text };
  } catch (e) {
    const why = e && e.name === "AbortError"
      ? `no answer within ${FETCH_TIMEOUT_MS / 1000} s`
      : `network error: ${(e && e.message) || e}`;
    throw new Error(why);
  } finally {
    clearTimeout(timer);
  }
}

/** The `errmsg` of a JSON error body, or "". */
function errmsgOf(text) {
  try {
    const body = JSON.parse(text);
    return body && typeof body.errmsg === "string" ? body.errmsg : "";
  } catch {
    return "";
  }
}

/** An API call failed: HTTP status (0 when there was no answer) and the API's errmsg. */
class ApiFailure extends Error {
  constructor(status, errmsg) {
    super(status ? `(${status}) ${errmsg}` : errmsg);
    this.status = status;
    this.errmsg = errmsg;
  }
}

/** Calls the API through the signing proxy; returns the parsed JSON body. */
async function api(method, path, body) {
  const init = { method, cache: "no-store", headers: {} };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  let text;
  try {
    ({ res, text } = await fetchText(API_BASE + path, init));
  } catch (e) {
    throw new ApiFailure(0, `the API did not answer ${method} ${path}: ${e.message}`);
  }
  if (!res.ok) {
    throw new ApiFailure(res.status, errmsgOf(text) || res.statusText || `HTTP ${res.status}`);
  }
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiFailure(res.status, `the API's answer to ${method} ${path} is not JSON`);
  }
}

/** "what (status): errmsg" for an ApiFailure, or the message of any other error. */
function describe(what, e) {
  if (e instanceof ApiFailure) {
    return e.status ? `${what} (${e.status}): ${e.errmsg}` : `${what}: ${e.errmsg}`;
  }
  return `${what}: ${(e && e.message) || e}`;
}

// ---------------------------------------------------------------------------------------------
// Playback

let hls = null;
let session = 0; // bumped by every playback request; stale async steps compare against it
let startTimer = null;
let nowPlaying = null; // {kind: "live"|"replay"|"src", roomId?, replayId?}

function stopPlayback() {
  session += 1;
  clearTimeout(startTimer);
  startTimer = null;
  if (hls) {
    hls.destroy();
    hls = null;
  }
  if (video.getAttribute("src")) {
    video.removeAttribute("src");
    video.load();
  }
}

/**
 * Plays what `resolve()` names (it may call the API for the URL). Arms the 20 s watchdog at
 * once, so a request that never gets to play ends in an error, never in a hang.
 */
async function startPlayback(what, label, resolve) {
  stopPlayback();
  const mine = session;
  nowPlaying = what;
  showError("");
  setState("loading");
  $("now-playing").textContent = label ? `— ${label}` : "";
  $("now-url").textContent = "—";
  startTimer = setTimeout(() => {
    if (mine === session && !playing()) failPlayback("Playback did not start within 20 s");
  }, START_TIMEOUT_MS);
  try {
    const src = await resolve();
    if (mine !== session) return;
    await attach(src, mine);
  } catch (e) {
    if (mine === session) failPlayback((e && e.message) || String(e));
  }
}

/** Checks the playlist once, then plays it with hls.js, or natively (Safari). */
async function attach(src, mine) {
  $("now-url").textContent = src;
  let res;
  let text;
  try {
    ({ res, text } = await fetchText(src, { cache: "no-store" }));
  } catch (e) {
    throw new Error(`Playback failed: cannot fetch the playlist (${e.message})`);
  }
  if (mine !== session) return;
  if (!res.ok) {
    const why = errmsgOf(text) || res.statusText || `HTTP ${res.status}`;
    throw new Error(`Playback refused (${res.status}): ${why}`);
  }
  const Hls = window.Hls;
  if (Hls && Hls.isSupported()) {
    // A few quick retries, so a broken stream fails with its real error well within 20 s.
    const retry = { maxNumRetry: 2, retryDelayMs: 500, maxRetryDelayMs: 2000 };
    const policy = (ms) => ({
      default: {
        maxTimeToFirstByteMs: ms,
        maxLoadTimeMs: ms,
        timeoutRetry: { maxNumRetry: 1, retryDelayMs: 0, maxRetryDelayMs: 0 },
        errorRetry: retry,
      },
    });
    const h = new Hls({
      enableWorker: true,
      manifestLoadPolicy: policy(8000),
      playlistLoadPolicy: policy(8000),
      fragLoadPolicy: policy(8000),
    });
    hls = h;
    demo.engine = "hls.js";
    h.on(Hls.Events.ERROR, (_event, data) => {
      if (mine !== session || !data || !data.fatal) return;
      const code = httpCode(data);
      failPlayback(`Playback failed: ${data.type}/${data.details}${code ? ` (HTTP ${code})` : ""}`);
      h.destroy();
      if (hls === h) hls = null;
    });
    h.on(Hls.Events.MANIFEST_PARSED, () => {
      if (mine === session) video.play().catch(() => {});
    });
    h.loadSource(src);
    h.attachMedia(video);
  } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
    demo.engine = "native";
    video.src = src; // Safari: native HLS
    video.play().catch(() => {});
  } else {
    throw new Error(
      "Playback failed: this browser has no HLS support and hls.js did not load " +
        "(run scripts/web-deps.sh, then reload the page)",
    );
  }
}

/** The HTTP status behind an hls.js error, when it is known. */
function httpCode(data) {
  const fromResponse = data.response && data.response.code;
  if (typeof fromResponse === "number" && fromResponse > 0) return fromResponse;
  const details = data.networkDetails;
  if (details && typeof details.status === "number" && details.status > 0) return details.status;
  return null;
}

video.addEventListener("playing", () => {
  if (demo.state !== "loading") return;
  clearTimeout(startTimer);
  startTimer = null;
  setState("playing");
});

video.addEventListener("error", () => {
  if (hls || !video.getAttribute("src") || demo.state === "error") return;
  const err = video.error;
  const names = { 1: "MEDIA_ERR_ABORTED", 2: "MEDIA_ERR_NETWORK", 3: "MEDIA_ERR_DECODE", 4: "MEDIA_ERR_SRC_NOT_SUPPORTED" };
  const name = err ? names[err.code] || `code ${err.code}` : "unknown";
  failPlayback(`Playback failed: mediaError/${name}${err && err.message ? ` (${err.message})` : ""}`);
});

// ---------------------------------------------------------------------------------------------
// HTTP-FLV (mpegts.js): the low-latency twin of a live, as the mini-program's <live-player>
// plays it. Each play first asks the URL once (and lets go as soon as the answer's headers are
// in), so a refusal shows the worker's reason (401 signature, 403 banned/paused, 404 not live).

let flvPlayer = null;
let flvSession = 0;
let flvTimer = null;

function setFlvState(state) {
  demo.flv.state = state;
  $("flv-status").textContent = state;
  document.body.dataset.flvState = state;
}

function showFlvError(message) {
  demo.flv.error = message;
  const el = $("flv-error");
  el.textContent = message;
  el.hidden = !message;
}

function failFlv(message) {
  clearTimeout(flvTimer);
  flvTimer = null;
  showFlvError(message);
  setFlvState("error");
  if (flvPlayer) {
    flvPlayer.destroy();
    flvPlayer = null;
  }
}

/** Stops the FLV player; `state` says why it is idle. */
function stopFlv(state) {
  flvSession += 1;
  clearTimeout(flvTimer);
  flvTimer = null;
  if (flvPlayer) {
    flvPlayer.destroy();
    flvPlayer = null;
  }
  showFlvError("");
  setFlvState(state);
  demo.flv.url = "";
  $("flv-url").textContent = "—";
}

/** Opens the FLV URL and reads only its status: a refusal's JSON reason, or "" when it plays. */
async function flvRefusal(url) {
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), FETCH_TIMEOUT_MS);
  try {
    const res = await fetch(url, { cache: "no-store", signal: ctrl.signal });
    if (res.ok) return "";
    const text = await res.text();
    return `Playback refused (${res.status}): ${errmsgOf(text) || res.statusText || `HTTP ${res.status}`}`;
  } catch (e) {
    const why = e && e.name === "AbortError"
      ? `no answer within ${FETCH_TIMEOUT_MS / 1000} s`
      : `network error: ${(e && e.message) || e}`;
    return `Playback failed: cannot reach the HTTP-FLV URL (${why})`;
  } finally {
    clearTimeout(timer);
    ctrl.abort(); // a live FLV answer never ends: let go of it
  }
}

async function playFlv(url) {
  stopFlv("loading");
  const mine = flvSession;
  demo.flv.url = url;
  $("flv-url").textContent = url;
  flvTimer = setTimeout(() => {
    if (mine === flvSession && demo.flv.state !== "playing") failFlv("HTTP-FLV playback did not start within 20 s");
  }, START_TIMEOUT_MS);
  const refused = await flvRefusal(url);
  if (mine !== flvSession) return;
  if (refused) {
    failFlv(refused);
    return;
  }
  const mpegts = window.mpegts;
  if (!mpegts || !mpegts.getFeatureList().mseLivePlayback) {
    failFlv(mpegts
      ? "HTTP-FLV needs Media Source Extensions, which this browser lacks"
      : "mpegts.js did not load (run scripts/web-deps.sh, then reload the page)");
    return;
  }
  demo.flv.engine = "mpegts.js";
  // Live settings as <live-player mode="live" min-cache="0.2" max-cache="0.8">: no stash
  // buffer, and jump back to 0.3 s from the live edge once more than 0.8 s is buffered (the
  // worker sends a batch of tags at least every ~95 ms, so 0.3 s rides out a late batch).
  const player = mpegts.createPlayer(
    { type: "flv", isLive: true, url },
    {
      enableWorker: false,
      enableStashBuffer: false,
      liveBufferLatencyChasing: true,
      liveBufferLatencyMaxLatency: 0.8,
      liveBufferLatencyMinRemain: 0.3,
    },
  );
  flvPlayer = player;
  player.on(mpegts.Events.ERROR, (type, details, info) => {
    if (mine !== flvSession) return;
    const code = info && info.code > 0 ? ` (HTTP ${info.code})` : "";
    failFlv(`HTTP-FLV playback failed: ${type}/${details}${code}`);
  });
  player.on(mpegts.Events.LOADING_COMPLETE, () => {
    if (mine !== flvSession) return;
    clearTimeout(flvTimer);
    setFlvState("ended");
  });
  player.attachMediaElement(flvVideo);
  player.load();
  const started = player.play();
  if (started && started.catch) started.catch(() => {});
}

flvVideo.addEventListener("playing", () => {
  if (demo.flv.state !== "loading") return;
  clearTimeout(flvTimer);
  flvTimer = null;
  setFlvState("playing");
});

/** The room's live URLs from GET /v1/rooms/{id}/play-urls: {hls, flv} (flv may be null). */
async function liveUrls(roomId) {
  let urls;
  try {
    urls = await api("GET", `/v1/rooms/${roomId}/play-urls`);
  } catch (e) {
    if (e instanceof ApiFailure && e.status === 404 && e.errmsg.startsWith("no route")) {
      throw new Error(
        `This zhibo API has no GET /v1/rooms/{id}/play-urls yet (404: ${e.errmsg}). ` +
          "Update zhibo and restart make dev, or open this page with ?src=<HLS URL>.",
      );
    }
    throw new Error(describe(`Cannot get room ${roomId}'s play URL`, e));
  }
  if (!urls || typeof urls.hls !== "string" || !urls.hls) {
    throw new Error(`Cannot get room ${roomId}'s play URL: the answer has no "hls" URL`);
  }
  return { hls: urls.hls, flv: typeof urls.flv === "string" && urls.flv ? urls.flv : null };
}

function playLive(roomId) {
  setUrl({ room: roomId });
  stopFlv("loading");
  openChat(roomId);
  startPlayback({ kind: "live", roomId }, `room ${roomId} live`, async () => {
    const urls = await liveUrls(roomId);
    if (urls.flv) {
      playFlv(urls.flv);
    } else {
      stopFlv("off");
      showFlvError("HTTP-FLV is off: this deployment sets no PLAY_HOST (play-urls returned flv: null)");
    }
    return urls.hls;
  });
}

function playReplay(roomId, replay) {
  setUrl({ replay: replay.replay_id, room: roomId });
  stopFlv("replay: HLS only");
  replayChat(roomId);
  startPlayback(
    { kind: "replay", roomId, replayId: replay.replay_id },
    `room ${roomId} replay ${replay.replay_id}`,
    async () => replay.media_url,
  );
}

/** Replaces the page's query (so a reload plays the same thing) without reloading. */
function setUrl(params) {
  const url = new URL(window.location.href);
  url.search = new URLSearchParams(params).toString();
  window.history.replaceState(null, "", url);
}


// ---------------------------------------------------------------------------------------------
// Chat: a viewer token from the signing proxy (as your backend would issue it), then the room's
// channel with the AppSync Events WebSocket protocol, exactly as the docs describe it. Items
// are kept by seq; a gap (a missed publish, a reconnect) is read from the history. During a
// replay, the room's comments are shown as the replay reaches their offset_ms.

let chatSocket = null;
let chatRoom = null;
let chatToken = null;
let chatSession = 0;
let presenceTimer = null;
let pendingLikes = 0;
let likeTimer = null;
let replayItems = null; // all of a room's items, for a replay

function setChatState(state) {
  demo.chat.state = state;
  $("chat-state").textContent = state;
}

function showChatError(message) {
  demo.chat.error = message;
  $("chat-error").textContent = message;
  $("chat-error").hidden = !message;
}

function renderChat() {
  const list = $("chat-items");
  list.textContent = "";
  const shown = replayItems
    ? replayItems.filter((i) => i.offset_ms <= video.currentTime * 1000)
    : demo.chat.items;
  for (const item of shown.slice(-200)) {
    if (item.type === "likes" || item.type === "stats") continue;
    const li = document.createElement("li");
    li.value = item.seq;
    if (item.type === "message") {
      const who = document.createElement("span");
      who.className = "who";
      who.textContent = item.user ? item.user.nickname || item.user.user_id : "";
      li.append(who, item.deleted ? "(deleted)" : item.data.text || "");
      if (item.deleted) li.className = "deleted";
    } else {
      li.textContent = describeItem(item);
      li.className = `item-${item.type.replace(".", "-")}`;
    }
    list.append(li);
  }
  list.scrollTop = list.scrollHeight;
  $("chat-likes").textContent = String(demo.chat.likes);
  $("chat-viewers").textContent = String(demo.chat.viewers);
  $("chat-count").textContent = String(shown.length);
}

/** One line for an item that is not a message (gifts, goods, notices, status changes). */
function describeItem(item) {
  const d = item.data || {};
  const who = item.user ? item.user.nickname || item.user.user_id : "";
  switch (item.type) {
    case "gift":
      return `🎁 ${who} sent ${d.name} × ${d.count} (${((d.count * d.value_cents) / 100).toFixed(2)})`;
    case "goods.featured":
      return `🛒 now featured: ${d.name} — ${(d.price / 100).toFixed(2)}`;
    case "notice":
      return `📢 ${d.text}`;
    case "status":
      return `live_status ${d.previous_status ?? "?"} → ${d.live_status}${d.reason ? ` (${d.reason})` : ""}`;
    default:
      return `[${item.type}] ${JSON.stringify(d)}`;
  }
}

/** Adds items (any order, duplicates ignored) and applies deletions and like totals. */
function addItems(items) {
  const bySeq = new Map(demo.chat.items.map((i) => [i.seq, i]));
  for (const item of items) {
    if (!item || typeof item.seq !== "number") continue;
    bySeq.set(item.seq, item);
    if (item.type === "likes") demo.chat.likes = Math.max(demo.chat.likes, item.data.total || 0);
    // The newest stats item wins (items arrive in any order).
    if (item.type === "stats" && item.seq >= demo.chat.statsSeq) {
      demo.chat.statsSeq = item.seq;
      demo.chat.viewers = item.data.viewers_now || 0;
      demo.chat.likes = Math.max(demo.chat.likes, item.data.likes || 0);
    }
    if (item.type === "message.deleted") {
      const target = bySeq.get(item.data.seq);
      if (target) bySeq.set(target.seq, { ...target, deleted: true, data: {} });
    }
  }
  demo.chat.items = [...bySeq.values()].sort((a, b) => a.seq - b.seq);
  renderChat();
}

/** Reads every item after `after` from the history (through the signing proxy). */
async function readHistory(roomId, after) {
  const all = [];
  for (let page = 0; page < 50; page++) {
    const r = await api("GET", `/v1/rooms/${roomId}/messages?after_seq=${after}&limit=100`);
    all.push(...r.items);
    if (r.items.length < 100) break;
    after = r.next_after_seq;
  }
  return all;
}

async function fillGaps(roomId, mine) {
  const seqs = demo.chat.items.map((i) => i.seq);
  let expected = 1;
  for (const seq of seqs) {
    if (seq !== expected) break;
    expected++;
  }
  if (expected > (seqs.length ? seqs[seqs.length - 1] : 0)) return;
  const missing = await readHistory(roomId, expected - 1).catch(() => []);
  if (mine === chatSession) addItems(missing);
}

function closeChat() {
  chatSession++;
  if (chatSocket) chatSocket.close();
  chatSocket = null;
  chatRoom = null;
  chatToken = null;
  clearInterval(presenceTimer);
  presenceTimer = null;
  replayItems = null;
  demo.chat.items = [];
  demo.chat.likes = 0;
  demo.chat.viewers = 0;
  demo.chat.statsSeq = 0;
  showChatError("");
  setChatState("not connected");
  renderChat();
}

/** base64url of a JSON value (the `header-…` subprotocol). */
function b64url(value) {
  const bytes = new TextEncoder().encode(JSON.stringify(value));
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

async function openChat(roomId) {
  if (chatRoom === roomId && chatSocket) return;
  closeChat();
  const mine = chatSession;
  chatRoom = roomId;
  setChatState("getting a viewer token");
  let grant;
  try {
    grant = await api("POST", `/v1/rooms/${roomId}/viewer-tokens`, {
      user_id: `demo-${Math.random().toString(16).slice(2, 10)}`,
      nickname: "demo page",
    });
  } catch (e) {
    if (mine !== chatSession) return;
    setChatState("off");
    showChatError(describe("Chat is off", e));
    return;
  }
  if (mine !== chatSession) return;
  chatToken = grant.token;
  const rt = grant.realtime;
  const history = await readHistory(roomId, 0).catch(() => []);
  if (mine !== chatSession) return;
  addItems(history);
  setChatState("connecting");
  const ws = new WebSocket(rt.ws, ["aws-appsync-event-ws", `header-${b64url(rt.authorization)}`]);
  chatSocket = ws;
  ws.onopen = () => ws.send(JSON.stringify({ type: "connection_init" }));
  ws.onmessage = (ev) => {
    if (mine !== chatSession) return;
    let msg;
    try {
      msg = JSON.parse(ev.data);
    } catch {
      return;
    }
    if (msg.type === "connection_ack") {
      ws.send(JSON.stringify({ type: "subscribe", id: "room", channel: rt.channel, authorization: rt.authorization }));
    } else if (msg.type === "subscribe_success") {
      setChatState("subscribed");
      fillGaps(roomId, mine);
      startPresence(roomId, mine);
    } else if (msg.type === "data") {
      try {
        addItems([JSON.parse(msg.event)]);
      } catch {
        /* not an item */
      }
      fillGaps(roomId, mine);
    } else if (msg.type.endsWith("error")) {
      const why = (msg.errors && msg.errors[0] && msg.errors[0].message) || msg.type;
      showChatError(`Realtime channel: ${why}`);
      setChatState("error");
    }
  };
  ws.onclose = () => {
    if (mine === chatSession && demo.chat.state !== "error") setChatState("closed");
  };
}

/** Reports presence now and every `interval_s` while this chat is open (how viewers are
 * counted); a refusal (room not live) stops the reports quietly. */
function startPresence(roomId, mine) {
  clearInterval(presenceTimer);
  const report = async () => {
    if (mine !== chatSession) return;
    try {
      await viewerPost(`/v1/rooms/${roomId}/presence`, {});
    } catch {
      clearInterval(presenceTimer);
    }
  };
  report();
  presenceTimer = setInterval(report, 30000);
}

/** POST to a viewer route with the viewer token; the reason of a refusal as an Error. */
async function viewerPost(path, body) {
  const { res, text } = await fetchText(path, {
    method: "POST",
    headers: { authorization: `Bearer ${chatToken}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`(${res.status}) ${errmsgOf(text) || res.statusText}`);
  return JSON.parse(text);
}

async function sendChat(event) {
  event.preventDefault();
  const input = $("chat-text");
  const text = input.value.trim();
  if (!text || !chatToken) return;
  try {
    const r = await viewerPost(`/v1/rooms/${chatRoom}/messages`, { text });
    if (r.status !== "published") showChatError(`Message ${r.status}: ${r.reason || ""}`);
    else showChatError("");
    input.value = "";
  } catch (e) {
    showChatError(`Message refused ${e.message}`);
  }
}

/** Taps are batched: one POST per half second with the count tapped since. */
function like() {
  if (!chatToken) return;
  pendingLikes++;
  demo.chat.likes++;
  renderChat();
  if (likeTimer) return;
  likeTimer = setTimeout(async () => {
    likeTimer = null;
    const count = Math.min(pendingLikes, 100);
    pendingLikes -= count;
    try {
      const r = await viewerPost(`/v1/rooms/${chatRoom}/likes`, { count });
      demo.chat.likes = Math.max(demo.chat.likes, r.total);
      renderChat();
    } catch (e) {
      showChatError(`Likes refused ${e.message}`);
    }
  }, 500);
}

/** A replay: every item of the room, shown as the replay reaches its offset_ms. */
async function replayChat(roomId) {
  closeChat();
  const mine = chatSession;
  setChatState("replay: comments in sync");
  const items = await readHistory(roomId, 0).catch((e) => {
    showChatError(describe("Cannot read the comments", e));
    return [];
  });
  if (mine !== chatSession) return;
  addItems(items);
  replayItems = demo.chat.items;
  renderChat();
}

video.addEventListener("timeupdate", () => {
  if (replayItems) renderChat();
});

// ---------------------------------------------------------------------------------------------
// Rooms

let rooms = [];
let selectedId = null;
let pushFor = null; // room id whose push URL is shown

function statusText(code) {
  return `${code} ${LIVE_STATUS[code] || "unknown"}`;
}

function fmtTime(unix) {
  return typeof unix === "number" ? new Date(unix * 1000).toLocaleString() : "—";
}

function fmtDuration(seconds) {
  if (typeof seconds !== "number") return "—";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
}

function fmtBytes(n) {
  if (typeof n !== "number") return "—";
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${Math.round(n / 1e3)} kB`;
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function button(label, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.addEventListener("click", onClick);
  return b;
}

function renderRooms() {
  const body = $("rooms").querySelector("tbody");
  body.replaceChildren();
  for (const room of rooms) {
    const tr = document.createElement("tr");
    if (room.room_id === selectedId) tr.className = "selected";
    cell(tr, String(room.room_id));
    cell(tr, room.name);
    cell(tr, statusText(room.live_status), `status-${room.live_status}`);
    cell(tr, fmtTime(room.start_time));
    cell(tr, "").appendChild(button("Select", () => selectRoom(room.room_id, { play: room.live_status === 101 })));
    body.appendChild(tr);
  }
  $("rooms-note").textContent = rooms.length
    ? `${rooms.length} room(s) of the dev app; refreshed ${new Date().toLocaleTimeString()}`
    : "No rooms yet: create one.";
}

async function loadRooms() {
  const list = await api("GET", "/v1/rooms?limit=100");
  rooms = (list && Array.isArray(list.rooms)) ? list.rooms : [];
  renderRooms();
  renderSelected();
}

function selectedRoom() {
  return rooms.find((r) => r.room_id === selectedId) || null;
}

/** Shows a room: status, push command (fetched once per selection) and replays. */
async function selectRoom(roomId, { play }) {
  selectedId = roomId;
  renderRooms();
  renderSelected();
  if (play) playLive(roomId);
  await Promise.all([loadPush(roomId), loadReplays(roomId, { quiet: false })]);
}

function renderSelected() {
  const room = selectedRoom();
  $("room-section").hidden = selectedId === null;
  if (selectedId === null) return;
  $("room-title").textContent = room ? `${room.room_id} — ${room.name}` : String(selectedId);
  $("room-status").textContent = room ? statusText(room.live_status) : "unknown (not in the list)";
  $("room-status").className = room ? `status-${room.live_status}` : "";
  const hint = !room
    ? ""
    : room.live_status === 101
      ? "The room is live."
      : FINAL_STATUSES.has(room.live_status)
        ? "The room is over: watch its replays below."
        : "Not live: push with the command below; the player starts when the room goes live (101).";
  $("hint").textContent = hint;
}

async function loadPush(roomId) {
  const room = selectedRoom();
  if (room && FINAL_STATUSES.has(room.live_status)) {
    $("push").hidden = true;
    $("push-note").textContent = `No push URL: the room is ${statusText(room.live_status)}.`;
    pushFor = roomId;
    return;
  }
  $("push").hidden = true;
  $("push-note").textContent = "Getting a push URL…";
  try {
    const p = await api("POST", `/v1/rooms/${roomId}/push-url`, { expires_in: 86400 });
    if (selectedId !== roomId) return;
    $("push-command").textContent =
      "ffmpeg -re -f lavfi -i testsrc2=size=640x360:rate=30 -f lavfi -i sine=frequency=1000:sample_rate=44100 " +
      `-c:v libx264 -preset veryfast -g 60 -c:a aac -f flv '${p.push_url}'`;
    $("obs-server").textContent = p.server;
    $("obs-key").textContent = p.stream_key;
    $("push-expires").textContent = fmtTime(p.expires_at);
    $("push").hidden = false;
    $("push-note").textContent = "";
    pushFor = roomId;
  } catch (e) {
    if (selectedId !== roomId) return;
    const message = describe(`Cannot get a push URL for room ${roomId}`, e);
    $("push-note").textContent = message;
    failAction(message);
  }
}

async function loadReplays(roomId, { quiet }) {
  let list;
  try {
    list = await api("GET", `/v1/rooms/${roomId}/replays?start=0&limit=100`);
  } catch (e) {
    if (selectedId !== roomId) return;
    const message = describe(`Cannot list room ${roomId}'s replays`, e);
    $("replays-note").textContent = message;
    if (!quiet) failAction(message);
    return;
  }
  if (selectedId !== roomId) return;
  const replays = (list && Array.isArray(list.replays)) ? list.replays : [];
  const body = $("replays").querySelector("tbody");
  body.replaceChildren();
  for (const r of replays) {
    const tr = document.createElement("tr");
    if (nowPlaying && nowPlaying.kind === "replay" && nowPlaying.replayId === r.replay_id) {
      tr.className = "selected";
    }
    cell(tr, fmtTime(r.create_time));
    cell(tr, fmtDuration(r.duration_s));
    cell(tr, String(r.segments ?? "—"));
    cell(tr, fmtBytes(r.size_bytes));
    cell(tr, fmtTime(r.expire_time));
    cell(tr, "").appendChild(button("Play", () => playReplay(roomId, r)));
    body.appendChild(tr);
  }
  $("replays-note").textContent = replays.length
    ? `${list.total ?? replays.length} replay(s)`
    : "No replays yet: a replay appears about a minute after a live's publisher stops.";
}

async function createRoom(event) {
  event.preventDefault();
  const now = Math.floor(Date.now() / 1000);
  const typed = $("room-name").value.trim();
  const body = {
    name: typed || `demo ${new Date().toLocaleTimeString()}`,
    cover_img: "https://example.com/c.jpg",
    anchor_name: "demo",
    start_time: now + 60,
    end_time: now + 6 * 3600,
  };
  $("create").disabled = true;
  try {
    const room = await api("POST", "/v1/rooms", body);
    $("room-name").value = "";
    await loadRooms();
    await selectRoom(room.room_id, { play: false });
  } catch (e) {
    failAction(describe("Cannot create a room", e));
  } finally {
    $("create").disabled = false;
  }
}

/** Every POLL_MS: statuses (the player starts when the selected room goes live) and replays. */
async function poll() {
  if (document.hidden) return;
  const before = selectedRoom();
  try {
    await loadRooms();
  } catch (e) {
    $("rooms-note").textContent = describe("Cannot refresh the rooms", e);
    return;
  }
  const after = selectedRoom();
  if (!after) return;
  const wentLive = after.live_status === 101 && (!before || before.live_status !== 101);
  if (wentLive && !playing() && (!nowPlaying || nowPlaying.kind === "live")) {
    playLive(after.room_id);
  }
  if (before && before.live_status !== after.live_status && pushFor === after.room_id &&
      FINAL_STATUSES.has(after.live_status)) {
    loadPush(after.room_id);
  }
  loadReplays(after.room_id, { quiet: true });
}

// ---------------------------------------------------------------------------------------------
// Start-up

function copyButtons() {
  for (const b of document.querySelectorAll("button[data-copy]")) {
    b.addEventListener("click", async () => {
      const text = $(b.dataset.copy).textContent;
      try {
        await navigator.clipboard.writeText(text);
        b.textContent = "Copied";
      } catch {
        b.textContent = "Select and copy by hand";
      }
      setTimeout(() => { b.textContent = b.dataset.copy === "push-command" ? "Copy command" : "Copy"; }, 1500);
    });
  }
}

/** A `room` parameter as a room id, or null after showing why it is wrong. */
function roomParam(raw) {
  if (/^[1-9][0-9]{0,15}$/.test(raw)) return Number(raw);
  failPlayback(`?room= must be a room_id (a positive integer); got ${JSON.stringify(raw)}`);
  return null;
}

async function main() {
  copyButtons();
  $("create-form").addEventListener("submit", createRoom);
  $("refresh").addEventListener("click", () => {
    loadRooms().catch((e) => failAction(describe("Cannot list rooms", e)));
  });
  $("chat-form").addEventListener("submit", sendChat);
  $("chat-like").addEventListener("click", like);
  $("play-live").addEventListener("click", () => {
    if (selectedId !== null) playLive(selectedId);
  });

  const params = new URLSearchParams(window.location.search);
  const src = params.get("src");
  const flvSrc = params.get("flv");
  const replayId = params.get("replay");
  const roomRaw = params.get("room");

  if (flvSrc !== null) {
    // Exactly that HTTP-FLV URL, and no API calls at all.
    $("rooms-section").hidden = true;
    setState("idle");
    if (!flvSrc) failFlv("?flv= is empty: pass a url-encoded HTTP-FLV URL");
    else playFlv(flvSrc);
    return;
  }
  if (src !== null) {
    // Exactly that URL, and no API calls at all.
    $("rooms-section").hidden = true;
    stopFlv("idle");
    startPlayback({ kind: "src" }, "?src=", async () => {
      if (!src) throw new Error("?src= is empty: pass a url-encoded HLS URL");
      return src;
    });
    return;
  }

  let roomId = null;
  if (roomRaw !== null) {
    roomId = roomParam(roomRaw);
    if (roomId === null) return;
  }
  if (replayId !== null) {
    if (roomId === null) {
      failPlayback("?replay= needs the replay's room too: ?replay=<replay_id>&room=<room_id>");
      return;
    }
    stopFlv("replay: HLS only");
    replayChat(roomId);
    startPlayback({ kind: "replay", roomId, replayId }, `room ${roomId} replay ${replayId}`, async () => {
      let list;
      try {
        list = await api("GET", `/v1/rooms/${roomId}/replays?start=0&limit=100`);
      } catch (e) {
        throw new Error(describe(`Cannot list room ${roomId}'s replays`, e));
      }
      const found = ((list && list.replays) || []).find((r) => r.replay_id === replayId);
      if (!found) throw new Error(`Replay ${replayId} is not among room ${roomId}'s replays`);
      return found.media_url;
    });
  } else if (roomId !== null) {
    playLive(roomId);
  } else {
    setState("idle");
    stopFlv("idle");
  }

  try {
    await loadRooms();
  } catch (e) {
    failAction(describe("Cannot list rooms", e));
  }
  if (roomId !== null) {
    selectedId = roomId;
    renderRooms();
    renderSelected();
    loadPush(roomId);
    loadReplays(roomId, { quiet: false });
  }
  setInterval(poll, POLL_MS);
}

main();
