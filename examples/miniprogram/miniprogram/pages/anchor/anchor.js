// The anchor's page: asks your backend for a push URL (POST /rooms/:id/push, which calls zhibo's
// POST /v1/rooms/:id/push-url) and pushes with <live-pusher>. Your backend must check that this
// user may broadcast in this room before handing out the URL.
const api = require("../../utils/api.js");
const config = require("../../config.js");

/** live-pusher state codes worth showing (bindstatechange detail.code). */
const PUSH_STATES = {
  1001: "connected to the ingest",
  1002: "pushing",
  1003: "camera on",
  1007: "first frame captured",
  1101: "network is poor",
  1102: "network dropped: reconnecting",
  3004: "the ingest closed the connection (push URL expired or refused?)",
  "-1301": "cannot open the camera",
  "-1302": "cannot open the microphone",
  "-1307": "network dropped and reconnecting failed",
};

Page({
  data: { roomId: 0, pushUrl: "", pushState: "", liveStatus: 0, statusText: "…", error: "" },

  async onLoad(query) {
    const roomId = Number(query.room_id);
    if (!Number.isInteger(roomId) || roomId <= 0) {
      this.setData({ error: "Open this page with ?room_id=<room id>." });
      return;
    }
    this.setData({ roomId });
    try {
      const p = await api.post(`/rooms/${roomId}/push`);
      this.setData({ pushUrl: p.push_url, pushState: "starting…" });
    } catch (e) {
      this.setData({ error: `No push URL: ${e.message}` });
    }
  },

  onReady() {
    this.pusher = wx.createLivePusherContext();
  },

  onShow() {
    if (!this.data.roomId) return;
    this.poll();
    this.timer = setInterval(() => this.poll(), config.POLL_MS);
  },

  onHide() {
    clearInterval(this.timer);
  },

  onUnload() {
    clearInterval(this.timer);
  },

  /** The room's status as zhibo sees it: 101 once the worker accepted the push. */
  async poll() {
    try {
      const s = await api.get(`/rooms/${this.data.roomId}/status`);
      this.setData({ liveStatus: s.live_status, statusText: api.statusText(s.live_status) });
    } catch (e) {
      this.setData({ error: e.message });
    }
  },

  onPushState(e) {
    const code = e.detail.code;
    this.setData({ pushState: PUSH_STATES[code] || `state ${code}` });
  },

  onPushError(e) {
    this.setData({ error: `live-pusher error ${e.detail.errCode}: ${e.detail.errMsg}` });
  },

  switchCamera() {
    if (this.pusher) this.pusher.switchCamera();
  },

  stop() {
    if (this.pusher) this.pusher.stop();
    this.setData({ pushState: "stopped (the room goes 106, then 103 after 15 min, or end it from your backend)" });
  },
});
