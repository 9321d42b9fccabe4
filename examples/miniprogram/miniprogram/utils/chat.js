// A room's chat in a mini-program: the viewer token from your backend, zhibo's viewer routes
// (messages, likes, presence) called directly with it, and the room's realtime channel over
// wx.connectSocket with the AWS AppSync Events protocol (docs/api.md "Audience interaction").
// The same code talks to `zhibo serve` locally and to the Event API when deployed.
const { ZHIBO_API_URL } = require("../config.js");

/** UTF-8 bytes of a string (the mini-program runtime has no TextEncoder everywhere). */
function utf8(text) {
  const out = [];
  for (const ch of text) {
    let c = ch.codePointAt(0);
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return new Uint8Array(out).buffer;
}

/** base64url of a JSON value: the `header-…` WebSocket subprotocol. */
function headerProtocol(authorization) {
  const b64 = wx.arrayBufferToBase64(utf8(JSON.stringify(authorization)));
  return "header-" + b64.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/**
 * Subscribes to the room's channel with `grant` (from POST /rooms/:id/viewer-token).
 * `onItem(item)` gets each published item; `onState(text)` the connection's state.
 * Returns { close() }.
 */
function subscribe(grant, onItem, onState) {
  const rt = grant.realtime;
  const socket = wx.connectSocket({
    url: rt.ws,
    protocols: ["aws-appsync-event-ws", headerProtocol(rt.authorization)],
  });
  socket.onOpen(() => socket.send({ data: JSON.stringify({ type: "connection_init" }) }));
  socket.onMessage((res) => {
    let msg;
    try {
      msg = JSON.parse(res.data);
    } catch (e) {
      return;
    }
    if (msg.type === "connection_ack") {
      socket.send({
        data: JSON.stringify({ type: "subscribe", id: "room", channel: rt.channel, authorization: rt.authorization }),
      });
    } else if (msg.type === "subscribe_success") {
      onState("connected");
    } else if (msg.type === "data") {
      try {
        onItem(JSON.parse(msg.event));
      } catch (e) {
        /* not an item */
      }
    } else if (/error$/.test(msg.type)) {
      const e = msg.errors && msg.errors[0];
      onState(`error: ${(e && e.message) || msg.type}`);
    }
  });
  socket.onClose(() => onState("closed"));
  socket.onError((e) => onState(`error: ${e.errMsg}`));
  return { close: () => socket.close({}) };
}

/** POST to a viewer route of zhibo with the viewer token; resolves the JSON answer. */
function viewerPost(path, token, body) {
  return new Promise((resolve, reject) => {
    wx.request({
      url: ZHIBO_API_URL + path,
      method: "POST",
      data: body,
      header: { "content-type": "application/json", authorization: `Bearer ${token}` },
      timeout: 10000,
      success(res) {
        if (res.statusCode >= 200 && res.statusCode < 300) resolve(res.data);
        else reject(new Error(`${res.statusCode}: ${(res.data && res.data.errmsg) || "refused"}`));
      },
      fail(err) {
        reject(new Error(`cannot reach zhibo at ${ZHIBO_API_URL}: ${err.errMsg}`));
      },
    });
  });
}

/**
 * Reports presence (how zhibo counts viewers) now and every 30 s while the page shows the live:
 * POST /v1/rooms/{room_id}/presence with the viewer token. A refusal (the live ended, the token
 * expired) stops the reports and is passed to `onRefused`. Returns { stop() }.
 */
function reportPresence(roomId, token, onRefused) {
  let timer = null;
  const stop = () => {
    clearInterval(timer);
    timer = null;
  };
  const report = () =>
    viewerPost(`/v1/rooms/${roomId}/presence`, token, {}).catch((e) => {
      stop();
      if (onRefused) onRefused(e);
    });
  report();
  timer = setInterval(report, 30000);
  return { stop };
}

module.exports = { subscribe, viewerPost, reportPresence, headerProtocol, utf8 };
