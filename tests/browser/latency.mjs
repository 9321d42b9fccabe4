// Glass-to-glass latency in a real browser, HTTP-FLV (mpegts.js) next to HLS (hls.js), in one
// run. The publisher (tests/browser/clock_source.py piped into ffmpeg) burns its wall clock into
// every frame as a row of black/white blocks; two demo pages play the same live, one as FLV and
// one as HLS, and on every frame the browser presents (requestVideoFrameCallback) the page reads
// the blocks back from the picture and subtracts them from its own clock at display time. Same
// machine, same clock. Prints p50/p95 per format and writes $ARTIFACTS/latency.json.
//
// This measures, it does not judge: timed assertions are flaky on a shared 2-core box. It fails
// only when a format cannot be measured at all (no frame decoded). Run by scripts/browser-test.sh.
import { mkdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set (run scripts/browser-test.sh)`);
  return v;
};
const require = createRequire(env("PLAYWRIGHT_CORE"));
const { chromium } = require("playwright-core");
const PUBLIC = env("PUBLIC_BASE");
const ARTIFACTS = env("ARTIFACTS");
const SECONDS = Number(process.env.LAT_SECONDS || 20);
mkdirSync(ARTIFACTS, { recursive: true });

/** In the page: samples `seconds` of presented frames of the FLV or the HLS player. */
function sampleInPage({ which, seconds }) {
  const d = window.zhiboDemo;
  const video = which === "flv" ? d.flv.video : d.video;
  const W = 640, BITS = 48, PITCH = 13, LEFT = 8, ROW = 16;
  const canvas = document.createElement("canvas");
  canvas.width = W;
  canvas.height = 360;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  const SPAN = 2 ** 40;
  /** The milliseconds burnt into the frame now drawn, or null when the blocks do not check. */
  const decode = () => {
    ctx.drawImage(video, 0, 0, W, 360);
    const px = ctx.getImageData(0, ROW, W, 1).data;
    let value = 0;
    const bytes = [0, 0, 0, 0, 0, 0];
    for (let i = 0; i < BITS; i++) {
      const x = LEFT + i * PITCH + 6;
      const bit = px[x * 4] > 128 ? 1 : 0;
      bytes[i >> 3] = (bytes[i >> 3] << 1) | bit;
    }
    for (let i = 0; i < 5; i++) value = value * 256 + bytes[i];
    // CRC-8 (polynomial 0x07), as tests/browser/clock_source.py computes it.
    let crc = 0;
    for (let i = 0; i < 5; i++) {
      crc ^= bytes[i];
      for (let k = 0; k < 8; k++) crc = crc & 0x80 ? ((crc << 1) ^ 0x07) & 0xff : (crc << 1) & 0xff;
    }
    return crc === bytes[5] ? value : null;
  };
  return new Promise((resolve) => {
    const latencies = [];
    let frames = 0;
    let unreadable = 0;
    const end = performance.now() + seconds * 1000;
    const onFrame = (_now, meta) => {
      frames++;
      const shownAt = performance.timeOrigin + (meta.expectedDisplayTime || performance.now());
      const stamp = decode();
      if (stamp === null) {
        unreadable++;
      } else {
        let late = (shownAt % SPAN) - stamp;
        if (late < -SPAN / 2) late += SPAN;
        latencies.push(late);
      }
      if (performance.now() < end) video.requestVideoFrameCallback(onFrame);
      else resolve({ frames, unreadable, latencies, width: video.videoWidth, height: video.videoHeight });
    };
    video.requestVideoFrameCallback(onFrame);
  });
}

const pct = (sorted, p) => sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : NaN;

async function open(browser, url, which) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1400 } });
  await page.goto(url);
  const deadline = Date.now() + 60000;
  for (;;) {
    const s = await page.evaluate((which) => {
      const d = window.zhiboDemo;
      if (!d) return null;
      const p = which === "flv" ? d.flv : d;
      return { state: p.state, error: p.error, time: p.video.currentTime };
    }, which);
    if (s && s.state === "error") throw new Error(`${which}: ${s.error}`);
    // Past the start-up: 3 s played, so both players are in their steady state.
    if (s && s.time >= 3) return page;
    if (Date.now() > deadline) throw new Error(`${which}: did not play 3 s within 60 s (${JSON.stringify(s)})`);
    await page.waitForTimeout(250);
  }
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows", "--autoplay-policy=no-user-gesture-required"],
});
let failed = false;
const report = { seconds: SECONDS, at: new Date().toISOString() };
try {
  const flvPage = await open(browser, `${PUBLIC}/demo/?flv=${encodeURIComponent(env("LAT_FLV_URL"))}`, "flv");
  const hlsPage = await open(browser, `${PUBLIC}/demo/?src=${encodeURIComponent(env("LAT_HLS_URL"))}`, "hls");
  const [flv, hls] = await Promise.all([
    flvPage.evaluate(sampleInPage, { which: "flv", seconds: SECONDS }),
    hlsPage.evaluate(sampleInPage, { which: "hls", seconds: SECONDS }),
  ]);
  await flvPage.screenshot({ path: `${ARTIFACTS}/latency-flv.png` });
  for (const [name, r] of [["flv", flv], ["hls", hls]]) {
    const sorted = [...r.latencies].sort((a, b) => a - b);
    report[name] = {
      frames: r.frames, read: sorted.length, unreadable: r.unreadable,
      p50_ms: Math.round(pct(sorted, 50)), p95_ms: Math.round(pct(sorted, 95)),
      min_ms: Math.round(sorted[0]), max_ms: Math.round(sorted[sorted.length - 1]),
    };
    if (!sorted.length) failed = true;
  }
} catch (e) {
  console.error(`FAIL latency: ${e.message}`);
  failed = true;
} finally {
  await browser.close();
}
writeFileSync(`${ARTIFACTS}/latency.json`, JSON.stringify(report, null, 2));
console.log(`glass-to-glass latency in Chromium, ${SECONDS} s of frames each, same live, same run:`);
console.log("| player | frames read | p50 | p95 | min | max |");
console.log("|---|---|---|---|---|---|");
for (const [name, label] of [["flv", "HTTP-FLV (mpegts.js)"], ["hls", "HLS (hls.js)"]]) {
  const r = report[name];
  if (r) console.log(`| ${label} | ${r.read}/${r.frames} | ${r.p50_ms} ms | ${r.p95_ms} ms | ${r.min_ms} ms | ${r.max_ms} ms |`);
}
if (failed) {
  console.error("latency could not be measured for every format (above)");
  process.exit(1);
}
