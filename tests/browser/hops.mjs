// hls.js in headless Chromium playing one live playlist for a while, sampling the video's
// currentTime every second: does playback go on while the publisher hops across workers?
// Run by media-worker/tests/cluster_hops_e2e.rs (which asserts on the output):
//
//   node tests/browser/hops.mjs PLAYLIST_URL SECONDS
//
// Samples for SECONDS, or until a line "stop" arrives on stdin.
//
// Env (scripts/browser-deps.sh prints them): PLAYWRIGHT_CORE (playwright-core's package.json),
// ZHIBO_HLSJS (hls.min.js), CHROMIUM (the executable; default /usr/bin/chromium).
//
// Prints one JSON line on stdout: {"samples":[{"at_ms","time","paused","ready","buffered"}],
// "fragments":[{"at_ms","cc","sn"}] (each fragment playback entered, FRAG_CHANGED), "errors":
// [{"at_ms","fatal","type","details"}], "console":[...]}. at_ms is wall-clock (Date.now()),
// so the caller lines samples up with its own timeline. Exits 0 unless the browser failed.
import { createRequire } from "node:module";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set (see scripts/browser-deps.sh)`);
  return v;
};
const [url, secondsArg] = process.argv.slice(2);
const seconds = Number(secondsArg);
if (!url || !(seconds > 0)) {
  console.error("usage: node tests/browser/hops.mjs PLAYLIST_URL SECONDS");
  process.exit(2);
}
let stop = false;
process.stdin.setEncoding("utf8");
process.stdin.on("data", (d) => {
  if (d.includes("stop")) stop = true;
});
process.stdin.on("error", () => {});
const require = createRequire(env("PLAYWRIGHT_CORE"));
const { chromium } = require("playwright-core");

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--autoplay-policy=no-user-gesture-required"],
});
const out = { samples: [], fragments: [], errors: [], console: [] };
try {
  const page = await browser.newPage();
  page.on("console", (m) => out.console.length < 200 && out.console.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => out.errors.push({ at_ms: Date.now(), fatal: true, type: "page", details: String(e) }));
  await page.setContent('<!doctype html><video id="v" muted playsinline></video>');
  await page.addScriptTag({ path: env("ZHIBO_HLSJS") });
  // The demo page's player (web/demo/app.js) minus its UI: hls.js defaults for live.
  await page.evaluate((src) => {
    const video = document.getElementById("v");
    const hops = { fragments: [], errors: [] };
    window.hops = hops;
    const hls = new Hls({ enableWorker: true });
    hls.on(Hls.Events.ERROR, (_e, d) => {
      hops.errors.push({ at_ms: Date.now(), fatal: !!d.fatal, type: String(d.type), details: String(d.details) });
    });
    hls.on(Hls.Events.FRAG_CHANGED, (_e, d) => {
      hops.fragments.push({ at_ms: Date.now(), cc: d.frag.cc, sn: d.frag.sn });
    });
    hls.on(Hls.Events.MANIFEST_PARSED, () => {
      video.play().catch((e) => hops.errors.push({ at_ms: Date.now(), fatal: true, type: "play", details: String(e) }));
    });
    hls.loadSource(src);
    hls.attachMedia(video);
  }, url);
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end && !stop) {
    const s = await page.evaluate(() => {
      const v = document.getElementById("v");
      const b = v.buffered;
      return {
        at_ms: Date.now(),
        time: v.currentTime,
        paused: v.paused,
        ready: v.readyState,
        buffered: b.length ? b.end(b.length - 1) : 0,
      };
    });
    out.samples.push(s);
    await page.waitForTimeout(Math.max(0, s.at_ms + 1000 - Date.now()));
  }
  const hops = await page.evaluate(() => window.hops);
  out.fragments = hops.fragments;
  out.errors.push(...hops.errors);
} finally {
  await browser.close();
  process.stdin.destroy();
}
console.log(JSON.stringify(out));
