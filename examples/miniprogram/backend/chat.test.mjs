// The mini-program's chat module (miniprogram/utils/chat.js) under Node with a stand-in `wx`:
// the AppSync Events subprotocol header and the subscribe flow, frame by frame.
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import test from "node:test";

const require = createRequire(import.meta.url);
const sockets = [];
const requests = [];
globalThis.wx = {
  request(opts) {
    requests.push(opts);
  },
  arrayBufferToBase64: (buf) => Buffer.from(buf).toString("base64"),
  connectSocket(opts) {
    const s = { opts, sent: [], handlers: {} };
    for (const ev of ["onOpen", "onMessage", "onClose", "onError"]) s[ev] = (f) => (s.handlers[ev] = f);
    s.send = ({ data }) => s.sent.push(JSON.parse(data));
    s.close = () => {};
    sockets.push(s);
    return s;
  },
};
const chat = require("../miniprogram/utils/chat.js");

test("the header subprotocol is base64url JSON of the authorization, UTF-8 included", () => {
  const auth = { host: "api.example.com", Authorization: "zv1.demo.x.y", note: "直播 ✓ 🎉" };
  const p = chat.headerProtocol(auth);
  assert.ok(p.startsWith("header-"));
  assert.doesNotMatch(p, /[+/=]/);
  assert.deepEqual(JSON.parse(Buffer.from(p.slice(7), "base64url").toString("utf8")), auth);
});

test("subscribe speaks the protocol: init, ack, subscribe, data", () => {
  const grant = {
    token: "zv1.demo.x.y",
    realtime: {
      ws: "wss://rt.example.com/event/realtime",
      channel: "/zhibo/demo/7",
      authorization: { host: "api.example.com", Authorization: "zv1.demo.x.y" },
    },
  };
  const items = [];
  const states = [];
  chat.subscribe(grant, (i) => items.push(i), (s) => states.push(s));
  const s = sockets.at(-1);
  assert.equal(s.opts.url, "wss://rt.example.com/event/realtime");
  assert.equal(s.opts.protocols[0], "aws-appsync-event-ws");
  s.handlers.onOpen();
  assert.deepEqual(s.sent[0], { type: "connection_init" });
  s.handlers.onMessage({ data: JSON.stringify({ type: "connection_ack", connectionTimeoutMs: 300000 }) });
  assert.deepEqual(s.sent[1], { type: "subscribe", id: "room", channel: "/zhibo/demo/7", authorization: grant.realtime.authorization });
  s.handlers.onMessage({ data: JSON.stringify({ type: "subscribe_success", id: "room" }) });
  s.handlers.onMessage({ data: JSON.stringify({ type: "ka" }) });
  s.handlers.onMessage({ data: JSON.stringify({ type: "data", id: "room", event: JSON.stringify({ seq: 1, type: "message", data: { text: "hi" } }) }) });
  s.handlers.onMessage({ data: JSON.stringify({ type: "subscribe_error", errors: [{ message: "token expired" }] }) });
  assert.deepEqual(items, [{ seq: 1, type: "message", data: { text: "hi" } }]);
  assert.deepEqual(states, ["connected", "error: token expired"]);
});

test("presence is reported at once, then every 30 s, and stops on a refusal", async () => {
  const realSetInterval = globalThis.setInterval;
  const ticks = [];
  globalThis.setInterval = (f, ms) => {
    ticks.push(ms);
    return realSetInterval(() => {}, 1 << 30);
  };
  try {
    requests.length = 0;
    const refused = [];
    const p = chat.reportPresence(7, "zv1.t", (e) => refused.push(e.message));
    assert.equal(requests.length, 1);
    assert.match(requests[0].url, /\/v1\/rooms\/7\/presence$/);
    assert.equal(requests[0].method, "POST");
    assert.equal(requests[0].header.authorization, "Bearer zv1.t");
    assert.deepEqual(ticks, [30000]);
    requests[0].fail({ errMsg: "request:fail" });
    await new Promise((r) => setImmediate(r));
    assert.equal(refused.length, 1);
    p.stop();
  } finally {
    globalThis.setInterval = realSetInterval;
  }
});
