// Where your backend runs (examples/miniprogram/backend/server.mjs, or your own).
// - WeChat DevTools (微信开发者工具): http://127.0.0.1:8787 works with
//   "详情 > 本地设置 > 不校验合法域名" ticked (project.config.json sets urlCheck: false).
// - A phone (真机调试 / preview): the backend must be reachable from it, and in production it must
//   be an https:// domain listed under 小程序管理后台 > 开发管理 > 开发设置 > 服务器域名 (request 合法域名).
module.exports = {
  BACKEND_URL: "http://127.0.0.1:8787",
  // zhibo's API, for the viewer routes (messages, likes) called with a viewer token; in
  // production an https:// domain listed as a request domain, and the realtime host
  // (viewer-token's realtime.ws) as a socket domain (socket 合法域名).
  ZHIBO_API_URL: "http://127.0.0.1:18080",
  // How often the live page polls the room's status (ms).
  POLL_MS: 5000,
  // "live-player" (WeChat's live component; needs the 直播 category permission) plays the live's
  // HTTP-FLV URL (play-urls' flv; about 1 s behind the anchor); "video" plays its HLS URL
  // (several seconds behind). The live page switches to <video> by itself when live-player
  // reports an error or the deployment serves no FLV. Replays always play in <video>.
  PLAYER: "live-player",
};
