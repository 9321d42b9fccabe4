// node --test examples/miniprogram/backend/
//
// The example backend's request signing against the README's fixed test vector (README.md,
// "Signing: rules and a test vector for client authors"), its wiring to zhibo (against a
// stand-in server), and `node --check` of every .js/.mjs file under examples/.
// tests/tests/miniprogram_example.rs runs this, then the backend against the real API.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import test from "node:test";
import { fileURLToPath } from "node:url";
import { canonicalQuery, createServer, sign, stringToSign, zhiboClient } from "./server.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const examples = path.resolve(here, "../..");

// README.md, "Signing: rules and a test vector for client authors".
const VECTOR = {
  secret: "zhibo-example-secret-0123456789abcdef",
  request: {
    method: "POST",
    path: "/v1/rooms",
    query: "b=2&a=hello%20world&a=%E7%9B%B4",
    timestamp: 1767225600,
    nonce: "n0nce-0001",
    body: '{"name":"demo"}',
  },
  stringToSign:
    "POST\n/v1/rooms\na=hello%20world&a=%E7%9B%B4&b=2\n1767225600\nn0nce-0001\n" +
    "d7d234f759ec34fd6298b7e32318614760070aaef9f4e92ced928324b49a0602",
  signature: "02dac749808a457f3d389a9229f1a4a31c8aa8e2a0fa75ba947d92b204ea6e00",
};

test("string to sign and signature match the README's test vector", () => {
  assert.equal(stringToSign(VECTOR.request), VECTOR.stringToSign);
  assert.equal(sign(VECTOR.secret, VECTOR.request), VECTOR.signature);
});

test("a wrong secret, body or query gives another signature", () => {
  assert.notEqual(sign("another-secret-0123456789abcdef0123", VECTOR.request), VECTOR.signature);
  assert.notEqual(sign(VECTOR.secret, { ...VECTOR.request, body: '{"name":"demo2"}' }), VECTOR.signature);
  assert.notEqual(sign(VECTOR.secret, { ...VECTOR.request, query: "b=3" }), VECTOR.signature);
});

test("canonical query: sorting, RFC 3986 encoding, literal plus, missing values", () => {
  assert.equal(canonicalQuery(""), "");
  assert.equal(canonicalQuery(undefined), "");
  assert.equal(canonicalQuery("limit=10&start=0"), "limit=10&start=0");
  assert.equal(canonicalQuery("start=0&limit=10"), "limit=10&start=0");
  assert.equal(canonicalQuery("a=2&a=1&b"), "a=1&a=2&b=");
  assert.equal(canonicalQuery("q=a+b"), "q=a%2Bb");
  assert.equal(canonicalQuery("q=*'()!~._-"), "q=%2A%27%28%29%21~._-");
  assert.equal(canonicalQuery("q=%e7%9b%b4&&"), "q=%E7%9B%B4");
  assert.equal(canonicalQuery("name=直播"), "name=%E7%9B%B4%E6%92%AD");
});

test("the backend signs exactly the path, query and body it sends", async () => {
  const secret = crypto.randomBytes(32).toString("hex");
  const seen = [];
  // A stand-in for zhibo that checks each request's signature as zhibo would.
  const fake = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const url = new URL(req.url, "http://zhibo");
      const body = Buffer.concat(chunks).toString("utf8");
      const expected = sign(secret, {
        method: req.method,
        path: url.pathname,
        query: url.search.slice(1),
        timestamp: Number(req.headers["x-zhibo-timestamp"]),
        nonce: req.headers["x-zhibo-nonce"],
        body,
      });
      seen.push({ method: req.method, url: req.url, body, app: req.headers["x-zhibo-app"] });
      const ok = expected === req.headers["x-zhibo-signature"];
      res.writeHead(ok ? 200 : 401, { "Content-Type": "application/json" });
      res.end(JSON.stringify(ok ? { ok: true, path: url.pathname } : { errcode: 40100, errmsg: "bad signature" }));
    });
  });
  await new Promise((resolve) => fake.listen(0, "127.0.0.1", resolve));
  const api = `http://127.0.0.1:${fake.address().port}`;
  const backend = createServer(zhiboClient({ api, appId: "demo", appSecret: secret }));
  await new Promise((resolve) => backend.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${backend.address().port}`;
  try {
    const cases = [
      ["GET", "/rooms", "GET", "/v1/rooms?start=0&limit=100", ""],
      ["GET", "/rooms/7/status", "GET", "/v1/rooms/7/status", ""],
      ["GET", "/rooms/7/play", "GET", "/v1/rooms/7/play-urls", ""],
      ["POST", "/rooms/7/push", "POST", "/v1/rooms/7/push-url", '{"expires_in":3600}'],
      ["GET", "/rooms/7/replays", "GET", "/v1/rooms/7/replays?start=0&limit=20", ""],
    ];
    for (const [method, route, zMethod, zUrl, zBody] of cases) {
      const res = await fetch(base + route, { method });
      assert.equal(res.status, 200, `${method} ${route}: ${await res.clone().text()}`);
      const last = seen.at(-1);
      assert.deepEqual(last, { method: zMethod, url: zUrl, body: zBody, app: "demo" });
    }
    let res = await fetch(`${base}/rooms/abc/status`);
    assert.equal(res.status, 404);
    res = await fetch(`${base}/rooms`, { method: "DELETE" });
    assert.equal(res.status, 405);
    assert.equal((await res.json()).errcode, 40500);
  } finally {
    backend.close();
    fake.close();
  }
});

test("the backend answers 502 with a message when zhibo is unreachable", async () => {
  const probe = http.createServer();
  await new Promise((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const port = probe.address().port;
  await new Promise((resolve) => probe.close(resolve)); // nothing listens there now
  const backend = createServer(zhiboClient({ api: `http://127.0.0.1:${port}`, appId: "demo", appSecret: "x".repeat(32) }));
  await new Promise((resolve) => backend.listen(0, "127.0.0.1", resolve));
  try {
    const res = await fetch(`http://127.0.0.1:${backend.address().port}/rooms`);
    assert.equal(res.status, 502);
    assert.match((await res.json()).errmsg, /zhibo API call failed/);
  } finally {
    backend.close();
  }
});

test("node --check passes on every .js/.mjs file under examples/", () => {
  const files = [];
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== "node_modules") walk(p);
      } else if (/\.(m?js)$/.test(entry.name)) {
        files.push(p);
      }
    }
  };
  walk(examples);
  assert.ok(files.length >= 6, `expected the example's files, found ${files.join(", ")}`);
  for (const f of files) {
    const r = spawnSync(process.execPath, ["--check", f], { encoding: "utf8" });
    assert.equal(r.status, 0, `node --check ${path.relative(examples, f)}:\n${r.stderr}`);
  }
});
