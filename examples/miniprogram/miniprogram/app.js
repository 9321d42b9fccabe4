// zhibo mini-program example. The mini-program only ever talks to your backend
// (config.js BACKEND_URL); the backend signs calls to zhibo with the app secret.
const config = require("./config.js");

App({
  globalData: {
    backendUrl: config.BACKEND_URL,
  },
});
