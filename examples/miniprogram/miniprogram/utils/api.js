// wx.request to your backend as a Promise. Errors carry the backend's (zhibo's) errmsg.
const { BACKEND_URL } = require("../config.js");

function request(method, path, data) {
  return new Promise((resolve, reject) => {
    wx.request({
      url: BACKEND_URL + path,
      method,
      data: data || {},
      header: { "content-type": "application/json" },
      timeout: 10000,
      success(res) {
        if (res.statusCode >= 200 && res.statusCode < 300) {
          resolve(res.data);
        } else {
          const msg = (res.data && res.data.errmsg) || "request failed";
          reject(new Error(`${res.statusCode}: ${msg}`));
        }
      },
      fail(err) {
        reject(new Error(`cannot reach the backend at ${BACKEND_URL}: ${err.errMsg}`));
      },
    });
  });
}

/** live_status codes (WeChat's) and what they mean. */
const LIVE_STATUS = {
  101: "直播中 live",
  102: "未开始 not started",
  103: "已结束 ended",
  104: "禁播 banned",
  105: "暂停 paused",
  106: "异常 abnormal",
  107: "已过期 expired",
};

function statusText(code) {
  return `${code} ${LIVE_STATUS[code] || "unknown"}`;
}

module.exports = {
  get: (path) => request("GET", path),
  post: (path, data) => request("POST", path, data),
  statusText,
};
