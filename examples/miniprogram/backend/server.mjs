// Example backend (服务端) for a mini-program that uses zhibo: Node.js 20, no dependencies.
//
// The mini-program calls this server with wx.request; this server calls zhibo's API with a
// signed request (docs/api.md "Request signing"). The app secret lives here, never in the
// mini-program.
//
//   ZHIBO_API=http://127.0.0.1:18080 ZHIBO_APP_ID=demo ZHIBO_APP_SECRET=... \
//     node examples/miniprogram/backend/server.mjs        # PORT (8787), HOST (127.0.0.1)
//
// Routes for the mini-program (JSON; errors are {"errcode", "errmsg"} with zhibo's status):
//   GET  /rooms                      the app's rooms            (GET  /v1/rooms)
//   GET  /rooms/:id/status           live_status, for polling   (GET  /v1/rooms/:id/status)
//   GET  /rooms/:id/play             the live FLV and HLS URLs  (GET  /v1/rooms/:id/play-urls)
//   POST /rooms/:id/push             an RTMP push URL           (POST /v1/rooms/:id/push-url)
//   GET  /rooms/:id/replays          the room's replays         (GET  /v1/rooms/:id/replays)
//   GET  /rooms/:id/wechat-replays   the same through WeChat's getliveinfo get_replay
//   POST /rooms/:id/viewer-token     a viewer token for chat    (POST /v1/rooms/:id/viewer-tokens)
//   GET  /healthz

import crypto from "node:crypto";
import http from "node:http";
import { pathToFileURL } from "node:url";

// -----------------------------------------------------------------------------------------------
// Signing (exported so it can be tested against the README's test vector)

/** Percent-encodes per RFC 3986: only A-Z a-z 0-9 - . _ ~ stay, hex digits uppercase. */
export function rfc3986(s) {
  return encodeURIComponent(s).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** Percent-decodes (a `+` stays a plus); invalid UTF-8 becomes U+FFFD, as zhibo decodes. */
function percentDecode(s) {
  const bytes = [];
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === "%" && /^[0-9a-fA-F]{2}$/.test(s.slice(i + 1, i + 3))) {
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      const cp = s.codePointAt(i);
      if (cp > 0xffff) i++;
      bytes.push(...Buffer.from(String.fromCodePoint(cp), "utf8"));
    }
  }
  return Buffer.from(bytes).toString("utf8");
}

/** Byte order of the UTF-8 encodings (how zhibo sorts), not JavaScript's UTF-16 order. */
function byteCompare(a, b) {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/**
 * The canonical query: pairs split on `&` and the first `=`, percent-decoded, sorted by key
 * then value, re-encoded per RFC 3986, joined as `k=v&k=v` ("" when there is no query).
 */
export function canonicalQuery(rawQuery) {
  if (!rawQuery) return "";
  const pairs = rawQuery
    .split("&")
    .filter((p) => p !== "")
    .map((p) => {
      const i = p.indexOf("=");
      return i < 0 ? [percentDecode(p), ""] : [percentDecode(p.slice(0, i)), percentDecode(p.slice(i + 1))];
    });
  pairs.sort((x, y) => byteCompare(x[0], y[0]) || byteCompare(x[1], y[1]));
  return pairs.map(([k, v]) => `${rfc3986(k)}=${rfc3986(v)}`).join("&");
}

/** `METHOD\nPATH\nCANONICAL_QUERY\nTIMESTAMP\nNONCE\nhex(SHA256(body))`. */
export function stringToSign({ method, path, query = "", timestamp, nonce, body = "" }) {
  const bodyHash = crypto.createHash("sha256").update(body).digest("hex");
  return [method.toUpperCase(), path, canonicalQuery(query), String(timestamp), nonce, bodyHash].join("\n");
}

/** X-Zhibo-Signature: lowercase hex HMAC-SHA256(appSecret, stringToSign(request)). */
export function sign(appSecret, request) {
  return crypto.createHmac("sha256", appSecret).update(stringToSign(request)).digest("hex");
}

/** The four signature headers for a request (fresh timestamp and nonce unless given). */
export function signedHeaders({ appId, appSecret, method, path, query = "", body = "", timestamp, nonce }) {
  const ts = timestamp ?? Math.floor(Date.now() / 1000);
  const n = nonce ?? crypto.randomBytes(12).toString("hex");
  return {
    "X-Zhibo-App": appId,
    "X-Zhibo-Timestamp": String(ts),
    "X-Zhibo-Nonce": n,
    "X-Zhibo-Signature": sign(appSecret, { method, path, query, timestamp: ts, nonce: n, body }),
  };
}

// -----------------------------------------------------------------------------------------------
// zhibo client

/**
 * A client of zhibo's API. `api` is the API's base URL without a path
 * (`https://xxx.execute-api.ap-east-1.amazonaws.com`, or `http://127.0.0.1:18080` locally).
 */
export function zhiboClient({ api, appId, appSecret, timeoutMs = 10000 }) {
  const base = api.replace(/\/+$/, "");

  /** A signed management API call; resolves to {status, json, text}. */
  async function call(method, pathAndQuery, bodyObject) {
    const body = bodyObject === undefined ? "" : JSON.stringify(bodyObject);
    const q = pathAndQuery.indexOf("?");
    const path = q < 0 ? pathAndQuery : pathAndQuery.slice(0, q);
    const query = q < 0 ? "" : pathAndQuery.slice(q + 1);
    const headers = signedHeaders({ appId, appSecret, method, path, query, body });
    if (body) headers["Content-Type"] = "application/json";
    return send(method, pathAndQuery, headers, body);
  }

  async function send(method, pathAndQuery, headers, body) {
    const res = await fetch(base + pathAndQuery, {
      method,
      headers,
      body: body || undefined,
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    let json = null;
    try {
      json = JSON.parse(text);
    } catch {
      // not JSON: the caller sees `text`
    }
    return { status: res.status, json, text };
  }

  // WeChat-compatible endpoints, for backends written against WeChat's live API: an
  // access_token (cached until shortly before it expires), then getliveinfo.
  let token = null;
  async function accessToken() {
    const now = Date.now() / 1000;
    if (token && token.expiresAt - 300 > now) return token.value;
    const q = new URLSearchParams({ grant_type: "client_credential", appid: appId, secret: appSecret });
    const r = await send("GET", `/cgi-bin/token?${q}`, {}, "");
    if (r.status !== 200 || !r.json || !r.json.access_token) {
      const why = (r.json && r.json.errmsg) || r.text;
      throw new ZhiboError(r.status || 502, `zhibo /cgi-bin/token: ${why}`);
    }
    token = { value: r.json.access_token, expiresAt: now + (r.json.expires_in || 7200) };
    return token.value;
  }

  /** `getliveinfo` with `{"action": "get_replay", room_id, start, limit}`, as on WeChat. */
  async function getReplay(roomId, start = 0, limit = 10) {
    const t = await accessToken();
    const body = JSON.stringify({ action: "get_replay", room_id: roomId, start, limit });
    return send(
      "POST",
      `/wxa/business/getliveinfo?access_token=${encodeURIComponent(t)}`,
      { "Content-Type": "application/json" },
      body,
    );
  }

  return { call, getReplay };
}

/** An error answered to the mini-program with an HTTP status. */
export class ZhiboError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// -----------------------------------------------------------------------------------------------
// The routes the mini-program calls

function reply(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": Buffer.byteLength(text),
    "Cache-Control": "no-store",
  });
  res.end(text);
}

/** zhibo's answer, relayed as is (its status and its {"errcode", "errmsg"} on errors). */
function relay(res, r) {
  if (r.json === null) {
    return reply(res, 502, { errcode: -1, errmsg: `zhibo answered ${r.status} without JSON` });
  }
  return reply(res, r.status, r.json);
}

/** An HTTP server with the mini-program's routes over `client` (see zhiboClient). */
export function createServer(client) {
  const routes = [
    ["GET", /^\/healthz$/, async () => ({ status: 200, json: { ok: true } })],
    ["GET", /^\/rooms$/, () => client.call("GET", "/v1/rooms?start=0&limit=100")],
    ["GET", /^\/rooms\/([1-9][0-9]{0,15})\/status$/, (id) => client.call("GET", `/v1/rooms/${id}/status`)],
    ["GET", /^\/rooms\/([1-9][0-9]{0,15})\/play$/, (id) => client.call("GET", `/v1/rooms/${id}/play-urls`)],
    // Hands out the right to broadcast: authenticate your anchor here (a wx.login session,
    // your own user table) before calling zhibo. This example does not.
    ["POST", /^\/rooms\/([1-9][0-9]{0,15})\/push$/, (id) =>
      client.call("POST", `/v1/rooms/${id}/push-url`, { expires_in: 3600 })],
    ["GET", /^\/rooms\/([1-9][0-9]{0,15})\/replays$/, (id) =>
      client.call("GET", `/v1/rooms/${id}/replays?start=0&limit=20`)],
    ["GET", /^\/rooms\/([1-9][0-9]{0,15})\/wechat-replays$/, (id) => client.getReplay(Number(id), 0, 20)],
    // Vouches for a viewer in one room: in your backend, take user_id and nickname from the
    // viewer's login session (wx.login -> code2Session's openid), never from the client. This
    // example makes up a guest.
    ["POST", /^\/rooms\/([1-9][0-9]{0,15})\/viewer-token$/, (id) =>
      client.call("POST", `/v1/rooms/${id}/viewer-tokens`, {
        user_id: `guest-${crypto.randomBytes(4).toString("hex")}`,
        nickname: "游客 guest",
        ttl_s: 7200,
      })],
  ];
  return http.createServer(async (req, res) => {
    // The request body is never needed: drain it so the connection can be reused.
    req.resume();
    const path = new URL(req.url || "/", "http://backend").pathname;
    const matches = routes.filter(([, re]) => re.test(path));
    if (matches.length === 0) {
      return reply(res, 404, { errcode: 40400, errmsg: `no route ${path}` });
    }
    const route = matches.find(([method]) => method === req.method);
    if (!route) {
      return reply(res, 405, { errcode: 40500, errmsg: `${req.method} is not allowed on ${path}` });
    }
    const [, re, handler] = route;
    try {
      const r = await handler(...path.match(re).slice(1));
      relay(res, r);
    } catch (e) {
      const status = e instanceof ZhiboError ? e.status : 502;
      const why = e && e.name === "TimeoutError" ? "no answer in time" : (e && e.message) || String(e);
      console.error(`${req.method} ${path}: ${why}`);
      reply(res, status, { errcode: -1, errmsg: `zhibo API call failed: ${why}` });
    }
  });
}

function main() {
  const missing = ["ZHIBO_API", "ZHIBO_APP_ID", "ZHIBO_APP_SECRET"].filter((k) => !process.env[k]);
  if (missing.length) {
    console.error(
      `missing ${missing.join(", ")}: with \`make dev\` running, ` +
        "`set -a; . .stack/dev-app.env; set +a` sets them (see examples/miniprogram/README.md)",
    );
    process.exit(1);
  }
  const port = Number(process.env.PORT || 8787);
  const host = process.env.HOST || "127.0.0.1";
  const client = zhiboClient({
    api: process.env.ZHIBO_API,
    appId: process.env.ZHIBO_APP_ID,
    appSecret: process.env.ZHIBO_APP_SECRET,
  });
  const server = createServer(client);
  server.on("error", (e) => {
    console.error(`cannot listen on ${host}:${port}: ${e.message}`);
    process.exit(1);
  });
  server.listen(port, host, () => {
    console.log(`mini-program backend listening on http://${host}:${port} (zhibo API ${process.env.ZHIBO_API})`);
  });
  for (const signal of ["SIGINT", "SIGTERM"]) {
    process.on(signal, () => server.close(() => process.exit(0)));
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main();
}
