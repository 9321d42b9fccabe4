// The app's rooms, from your backend's GET /rooms (zhibo GET /v1/rooms).
const api = require("../../utils/api.js");

Page({
  data: { rooms: [], error: "", loading: false },

  onShow() {
    this.load();
  },

  onPullDownRefresh() {
    this.load().then(() => wx.stopPullDownRefresh());
  },

  async load() {
    this.setData({ loading: true });
    try {
      const list = await api.get("/rooms");
      const rooms = (list.rooms || []).map((r) => ({ ...r, statusText: api.statusText(r.live_status) }));
      this.setData({ rooms, error: "" });
    } catch (e) {
      this.setData({ error: e.message });
    } finally {
      this.setData({ loading: false });
    }
  },

  watch(e) {
    wx.navigateTo({ url: `/pages/live/live?room_id=${e.currentTarget.dataset.id}` });
  },

  broadcast(e) {
    wx.navigateTo({ url: `/pages/anchor/anchor?room_id=${e.currentTarget.dataset.id}` });
  },
});
