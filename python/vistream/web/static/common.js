// What both vistream pages share: requests to the view's server, with the page's token.
"use strict";

window.vistreamHttp = (function () {
  // The token the page was opened with (?token=...); the server also set it as a cookie.
  const TOKEN = new URLSearchParams(location.search).get("token");

  function withToken(path) {
    if (!TOKEN) return path;
    return path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(TOKEN);
  }

  // GET (no body) or POST a JSON body; resolves to the JSON answer, rejects with an Error
  // carrying the server's message and the HTTP status.
  async function api(path, body) {
    const init = body === undefined ? {} : {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    };
    if (TOKEN) init.headers = Object.assign(init.headers || {}, { Authorization: "Bearer " + TOKEN });
    const response = await fetch(withToken(path), init);
    let data = null;
    try { data = await response.json(); } catch (_) { data = null; }
    if (!response.ok) {
      const error = new Error((data && data.error) || (response.status + " " + response.statusText));
      error.status = response.status;
      throw error;
    }
    return data;
  }

  // A WebSocket URL on this server for `path`, with the token.
  function socketUrl(path) {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return withToken(scheme + "//" + location.host + path);
  }

  return { TOKEN, withToken, api, socketUrl };
})();
