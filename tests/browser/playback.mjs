// Playback in a real browser (headless Chromium driven by playwright-core) against the demo
// page of two `zhibo serve` instances on the local stack: one in public mode (HLS straight from
// the SeaweedFS bucket), one in signed mode (/play/... with presigned segments). Run by
// scripts/browser-test.sh, which starts the stack pieces and an ffmpeg test-pattern publisher.
//
// Checks: the live stream plays in both modes (video.currentTime advances >= 5 s), and next to
// it the room's HTTP-FLV URL (play-urls' flv, from the worker) plays with mpegts.js; a tampered
// and an expired signed URL (HLS and FLV) are refused and the page shows the reason instead of
// hanging; the replay plays after the stream ends. Screenshots go to $ARTIFACTS (not committed).
import { createHash, createHmac } from "node:crypto";
import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set (run scripts/browser-test.sh)`);
  return v;
};
const require = createRequire(env("PLAYWRIGHT_CORE"));
const { chromium } = require("playwright-core");
const PUBLIC = env("PUBLIC_BASE");
const SIGNED = env("SIGNED_BASE");
const ROOM = env("ROOM_ID");
const APP = env("APP_ID");
const PLAY_KEY = env("PLAY_KEY");
const ARTIFACTS = env("ARTIFACTS");
mkdirSync(ARTIFACTS, { recursive: true });

let failures = 0;
const check = (ok, what) => {
  console.log(`${ok ? "ok  " : "FAIL"} ${what}`);
  if (!ok) failures++;
};

// Waits for `cond(state)` on the page's window.zhiboDemo, polling; returns the last state.
async function waitState(page, cond, what, seconds) {
  const deadline = Date.now() + seconds * 1000;
  let s = null;
  while (Date.now() < deadline) {
    s = await page.evaluate(() => {
      const d = window.zhiboDemo;
      if (!d) return null;
      return {
        state: d.state, error: d.error, engine: d.engine, time: d.video ? d.video.currentTime : 0,
        flv: { state: d.flv.state, error: d.flv.error, engine: d.flv.engine, url: d.flv.url,
          time: d.flv.video ? d.flv.video.currentTime : 0 },
      };
    });
    if (s && cond(s)) return s;
    await page.waitForTimeout(250);
  }
  throw new Error(`${what}: not reached within ${seconds} s (last ${JSON.stringify(s)})`);
}

async function plays(browser, url, name, { flv = false, chat = false } = {}) {
  const page = await browser.newPage();
  const log = [];
  page.on("console", (m) => log.push(`${m.type()}: ${m.text()}`));
  try {
    await page.goto(url);
    const s = await waitState(page, (s) => s.time >= 5 || s.state === "error", `${name} plays`, 90);
    check(s.time >= 5 && s.state !== "error", `${name}: video.currentTime ${s.time.toFixed(1)} s (${s.state}${s.error ? ": " + s.error : ""})`);
    check(s.engine === "hls.js", `${name}: played by ${s.engine || "nothing"} (hls.js expected in Chromium)`);
    if (flv) {
      const f = await waitState(page, (s) => s.flv.time >= 5 || s.flv.state === "error", `${name} FLV plays`, 60);
      check(f.flv.time >= 5 && f.flv.state === "playing",
        `${name} HTTP-FLV: video.currentTime ${f.flv.time.toFixed(1)} s (${f.flv.state}${f.flv.error ? ": " + f.flv.error : ""}) from ${f.flv.url}`);
      check(f.flv.engine === "mpegts.js", `${name} HTTP-FLV: played by ${f.flv.engine || "nothing"}`);
      check(/\/live\/[^/]+\.flv\?txSecret=/.test(f.flv.url), `${name} HTTP-FLV: the URL is play-urls' signed flv (${f.flv.url})`);
    }
    if (chat) {
      // The chat panel: subscribed to the room's channel, a message goes out through the API
      // and comes back on the channel; a like is counted.
      const chatState = () => page.evaluate(() => ({ ...window.zhiboDemo.chat, items: window.zhiboDemo.chat.items.map((i) => ({ seq: i.seq, type: i.type, text: i.data && i.data.text })) }));
      const deadline = Date.now() + 30000;
      let c = await chatState();
      while (c.state !== "subscribed" && c.state !== "error" && Date.now() < deadline) {
        await page.waitForTimeout(200);
        c = await chatState();
      }
      check(c.state === "subscribed", `${name} chat: subscribed to the room's channel (${c.state}${c.error ? ": " + c.error : ""})`);
      const text = `hello from Chromium ${Date.now()}`;
      await page.fill("#chat-text", text);
      await page.click("#chat-send");
      await page.click("#chat-like");
      const until = Date.now() + 20000;
      c = await chatState();
      while (!c.items.some((i) => i.text === text) && Date.now() < until) {
        await page.waitForTimeout(200);
        c = await chatState();
      }
      const got = c.items.find((i) => i.text === text);
      check(Boolean(got), `${name} chat: the message came back on the channel (seq ${got ? got.seq : "-"}, ${c.items.length} items${c.error ? ", " + c.error : ""})`);
      await page.waitForTimeout(1500);
      c = await chatState();
      check(c.likes >= 1, `${name} chat: likes ${c.likes}`);
      // The page reports presence; the room's next stats item (a presence report's or the
      // worker heartbeat's, every <= 10 s) counts it.
      const viewersBy = Date.now() + 30000;
      while (c.viewers < 1 && Date.now() < viewersBy) {
        await page.waitForTimeout(500);
        c = await chatState();
      }
      check(c.viewers >= 1, `${name} chat: viewers ${c.viewers} from the stats item (presence reported)`);
    }
    await page.screenshot({ path: `${ARTIFACTS}/${name}.png` });
  } catch (e) {
    check(false, `${name}: ${e.message}\n  console: ${log.slice(-10).join("\n  ")}`);
    await page.screenshot({ path: `${ARTIFACTS}/${name}.png` }).catch(() => {});
  } finally {
    await page.close();
  }
}

async function refused(browser, src, name, needle) {
  const page = await browser.newPage();
  try {
    await page.goto(`${SIGNED}/demo/?src=${encodeURIComponent(src)}`);
    const s = await waitState(page, (s) => s.state === "error", `${name} refused`, 30);
    const shown = await page.locator("#error").innerText();
    const visible = await page.locator("#error").isVisible();
    check(visible && shown.includes("Playback refused (401)") && shown.includes(needle),
      `${name}: the page shows ${JSON.stringify(shown)}`);
    check(s.time === 0, `${name}: nothing played`);
    await page.screenshot({ path: `${ARTIFACTS}/${name}.png` });
  } catch (e) {
    check(false, `${name}: ${e.message}`);
  } finally {
    await page.close();
  }
}

async function flvRefused(browser, src, name, needle) {
  const page = await browser.newPage();
  try {
    await page.goto(`${PUBLIC}/demo/?flv=${encodeURIComponent(src)}`);
    const s = await waitState(page, (s) => s.flv.state === "error", `${name} refused`, 30);
    const shown = await page.locator("#flv-error").innerText();
    check(shown.includes("Playback refused (401)") && shown.includes(needle),
      `${name}: the page shows ${JSON.stringify(shown)}`);
    check(s.flv.time === 0, `${name}: nothing played`);
    await page.screenshot({ path: `${ARTIFACTS}/${name}.png` });
  } catch (e) {
    check(false, `${name}: ${e.message}`);
  } finally {
    await page.close();
  }
}

// README "Push and play URLs": the app's play key is hex HMAC-SHA256(PLAY_KEY, "play\0" + app),
// txTime 8 uppercase hex digits, txSecret hex MD5(key + stream name + txTime).
function playQuery(expiresAt) {
  const txTime = expiresAt.toString(16).toUpperCase().padStart(8, "0");
  const stream = `${APP}_${ROOM}`;
  const key = createHmac("sha256", PLAY_KEY).update(`play\0${APP}`).digest("hex");
  const txSecret = createHash("md5").update(key + stream + txTime).digest("hex");
  return `txSecret=${txSecret}&txTime=${txTime}`;
}
function signedUrl(expiresAt) {
  return `${SIGNED}/play/${APP}/${ROOM}/index.m3u8?${playQuery(expiresAt)}`;
}
function flvUrl(expiresAt) {
  return `${env("FLV_BASE")}/live/${APP}_${ROOM}.flv?${playQuery(expiresAt)}`;
}
function tampered(url) {
  const u = new URL(url);
  const secret = u.searchParams.get("txSecret");
  u.searchParams.set("txSecret", (secret[0] === "0" ? "1" : "0") + secret.slice(1));
  return u.toString();
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--autoplay-policy=no-user-gesture-required"],
});
try {
  const phase = process.argv[2] || "live";
  if (phase === "live") {
    await plays(browser, `${PUBLIC}/demo/?room=${ROOM}`, "live-public", { flv: true, chat: true });
    await plays(browser, `${SIGNED}/demo/?room=${ROOM}`, "live-signed");
    const now = Math.floor(Date.now() / 1000);
    await refused(browser, tampered(signedUrl(now + 600)), "signed-tampered", "does not match");
    await refused(browser, signedUrl(now - 60), "signed-expired", "expired");
    await flvRefused(browser, tampered(flvUrl(now + 600)), "flv-tampered", "does not match");
    await flvRefused(browser, flvUrl(now - 60), "flv-expired", "expired");
  } else {
    const replay = env("REPLAY_ID");
    await plays(browser, `${PUBLIC}/demo/?room=${ROOM}&replay=${replay}`, "replay-public");
    await plays(browser, `${SIGNED}/demo/?room=${ROOM}&replay=${replay}`, "replay-signed");
  }
} finally {
  await browser.close();
}
if (failures) {
  console.error(`${failures} browser check(s) failed; screenshots in ${ARTIFACTS}`);
  process.exit(1);
}
console.log(`all browser checks passed; screenshots in ${ARTIFACTS}`);
