// A viewer's page: polls the room's status from your backend every POLL_MS; while it is live
// (101) plays the HTTP-FLV URL from GET /rooms/:id/play in <live-player> (low latency), or its
// HLS URL in <video> when there is no FLV URL or live-player fails; once it has ended (103)
// lists the replays and plays the chosen one in <video>.
const api = require("../../utils/api.js");
const chat = require("../../utils/chat.js");
const config = require("../../config.js");

/** live-player state codes worth showing (bindstatechange detail.code). */
const PLAYER_STATES = {
  2001: "connected",
  2002: "started pulling the stream",
  2003: "first video frame received",
  2004: "playing",
  2006: "playback ended",
  2007: "loading",
  2103: "network dropped: reconnecting",
  2105: "stutter",
  "-2301": "network dropped and reconnecting failed",
};

/** Statuses after which the live is over for good. */
const FINAL = [103, 104, 107];

function fmtDuration(seconds) {
  const s = Math.round(seconds || 0);
  const m = Math.floor(s / 60);
  return `${m}:${String(s % 60).padStart(2, "0")}`;
}

Page({
  data: {
    roomId: 0,
    liveStatus: 0,
    statusText: "…",
    hls: "",
    flv: "",
    player: config.PLAYER,
    playerState: "",
    error: "",
    replays: [],
    replayUrl: "",
    // Chat: the latest comments, the like total, the channel's state.
    comments: [],
    likes: 0,
    // Viewers now, from the room's newest `stats` item.
    viewers: 0,
    chatState: "",
    draft: "",
  },

  onLoad(query) {
    const roomId = Number(query.room_id);
    if (!Number.isInteger(roomId) || roomId <= 0) {
      this.setData({ error: "Open this page with ?room_id=<room id>." });
      return;
    }
    this.hlsExpiresAt = null;
    this.setData({ roomId });
  },

  onShow() {
    if (!this.data.roomId) return;
    this.poll();
    this.timer = setInterval(() => this.poll(), config.POLL_MS);
  },

  onHide() {
    clearInterval(this.timer);
    if (this.presence) this.presence.stop();
    this.presence = null;
  },

  onUnload() {
    clearInterval(this.timer);
    if (this.presence) this.presence.stop();
    if (this.channel) this.channel.close();
  },

  /** Joins the room's chat once it is live: a viewer token from the backend, then the channel. */
  async joinChat() {
    if (this.grant) {
      // Back on the page: count this viewer again.
      if (!this.presence) this.presence = chat.reportPresence(this.data.roomId, this.grant.token);
      return;
    }
    try {
      this.grant = await api.post(`/rooms/${this.data.roomId}/viewer-token`);
    } catch (e) {
      this.setData({ chatState: `chat unavailable: ${e.message}` });
      return;
    }
    this.channel = chat.subscribe(
      this.grant,
      (item) => this.onChatItem(item),
      (state) => this.setData({ chatState: state }),
    );
    this.presence = chat.reportPresence(this.data.roomId, this.grant.token);
  },

  onChatItem(item) {
    if (item.type === "stats") {
      const d = item.data || {};
      if (item.seq >= (this.statsSeq || 0)) {
        this.statsSeq = item.seq;
        this.setData({ viewers: d.viewers_now || 0, likes: Math.max(this.data.likes, d.likes || 0) });
      }
    } else if (item.type === "likes") {
      this.setData({ likes: Math.max(this.data.likes, item.data.total || 0) });
    } else if (item.type === "message") {
      const comment = { seq: item.seq, who: item.user ? item.user.nickname : "", text: item.data.text };
      this.setData({ comments: this.data.comments.concat([comment]).slice(-50) });
    } else if (item.type === "message.deleted") {
      this.setData({ comments: this.data.comments.filter((c) => c.seq !== item.data.seq) });
    } else if (item.type === "gift" || item.type === "goods.featured" || item.type === "notice" || item.type === "status") {
      // Shown in the comment list as one line from the room.
      const d = item.data || {};
      const text = {
        gift: () => `送出 ${d.name} × ${d.count}`,
        "goods.featured": () => `正在讲解：${d.name} ¥${(d.price / 100).toFixed(2)}`,
        notice: () => `公告：${d.text}`,
        status: () => `直播状态 ${d.live_status}`,
      }[item.type]();
      const who = item.user ? item.user.nickname : "";
      this.setData({ comments: this.data.comments.concat([{ seq: item.seq, who, text }]).slice(-50) });
    }
  },

  onDraft(e) {
    this.setData({ draft: e.detail.value });
  },

  async sendComment() {
    const text = this.data.draft.trim();
    if (!text || !this.grant) return;
    try {
      const r = await chat.viewerPost(`/v1/rooms/${this.data.roomId}/messages`, this.grant.token, { text });
      this.setData({ draft: "", chatState: r.status === "published" ? "connected" : `message ${r.status}: ${r.reason}` });
    } catch (e) {
      this.setData({ chatState: `message refused ${e.message}` });
    }
  },

  /** Taps are batched: one request per half second with the count tapped since. */
  like() {
    if (!this.grant) return;
    this.pendingLikes = (this.pendingLikes || 0) + 1;
    this.setData({ likes: this.data.likes + 1 });
    if (this.likeTimer) return;
    this.likeTimer = setTimeout(async () => {
      this.likeTimer = null;
      const count = Math.min(this.pendingLikes, 100);
      this.pendingLikes -= count;
      try {
        const r = await chat.viewerPost(`/v1/rooms/${this.data.roomId}/likes`, this.grant.token, { count });
        this.setData({ likes: Math.max(this.data.likes, r.total) });
      } catch (e) {
        this.setData({ chatState: `likes refused ${e.message}` });
      }
    }, 500);
  },

  async poll() {
    if (this.polling) return;
    this.polling = true;
    const id = this.data.roomId;
    try {
      const s = await api.get(`/rooms/${id}/status`);
      const status = s.live_status;
      this.setData({ liveStatus: status, statusText: api.statusText(status), error: "" });
      if (status === 101) {
        await this.ensurePlayUrl();
        this.joinChat();
      } else if (FINAL.includes(status) && (this.data.hls || this.data.flv)) {
        this.setData({ hls: "", flv: "", playerState: "" });
      }
      // 105 paused / 106 abnormal keep the player: it resumes when the anchor is back.
      if (status === 103 && this.data.replays.length === 0) {
        await this.loadReplays();
      }
    } catch (e) {
      this.setData({ error: e.message });
    } finally {
      this.polling = false;
    }
  },

  /** Gets the live URLs once, and again shortly before a signed URL expires. */
  async ensurePlayUrl() {
    const now = Date.now() / 1000;
    if (this.data.hls && !(this.hlsExpiresAt && now > this.hlsExpiresAt - 60)) return;
    const p = await api.get(`/rooms/${this.data.roomId}/play`);
    this.hlsExpiresAt = p.expires_at || null;
    // flv is null when the deployment has no PLAY_HOST: then <video> plays the HLS URL.
    this.setData({ hls: p.hls, flv: p.flv || "" });
  },

  async loadReplays() {
    const list = await api.get(`/rooms/${this.data.roomId}/replays`);
    const replays = (list.replays || []).map((r) => ({
      replay_id: r.replay_id,
      media_url: r.media_url,
      created: new Date(r.create_time * 1000).toLocaleString(),
      duration: fmtDuration(r.duration_s),
    }));
    this.setData({ replays });
  },

  playReplay(e) {
    this.setData({ replayUrl: e.currentTarget.dataset.url });
  },

  onStateChange(e) {
    const code = e.detail.code;
    const text = PLAYER_STATES[code] || `state ${code}`;
    this.setData({ playerState: `live-player: ${text}` });
    if (code === -2301) this.useVideo(`live-player gave up (${code})`);
  },

  onPlayerError(e) {
    this.useVideo(`live-player error ${e.detail.errCode}: ${e.detail.errMsg}`);
  },

  /** live-player could not play the FLV URL here: fall back to <video> with the HLS URL. */
  useVideo(reason) {
    if (this.data.player === "video") return;
    this.setData({ player: "video", playerState: `${reason}; playing with <video> instead` });
  },

  onVideoPlay() {
    this.setData({ playerState: "playing" });
  },

  onVideoError(e) {
    this.setData({ error: `video error: ${e.detail.errMsg}` });
  },
});
