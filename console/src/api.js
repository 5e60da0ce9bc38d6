// The only network access of the console: our own API on the page's origin, with the key
// from localStorage in X-API-Key (browsers cannot set headers on a WebSocket: the stream
// takes the key as a query parameter, as the service documents).
export class ApiError extends Error {
  constructor(status, detail) {
    super(`${status} ${detail}`);
    this.status = status;
    this.detail = detail;
  }
}

export function getKey() {
  return localStorage.getItem("kt.key") || "";
}

export function setKey(k) {
  localStorage.setItem("kt.key", k.trim());
}

export async function api(path, { method = "GET", body, raw = false } = {}) {
  const headers = { "X-API-Key": getKey() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (!r.ok) {
    let detail = r.statusText;
    try {
      const j = await r.json();
      detail = typeof j.detail === "string" ? j.detail : JSON.stringify(j.detail);
    } catch {
      /* not JSON */
    }
    throw new ApiError(r.status, detail);
  }
  return raw ? r : r.json();
}

/** WebSocket on /v1/stream/ws with reconnect (1 s, doubling to 15 s). */
export function openStream(topics, { onMessage, onState }) {
  let ws = null;
  let delay = 1000;
  let closed = false;
  const connect = () => {
    if (closed || !getKey()) return;
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const q = new URLSearchParams({ topics: topics.join(","), key: getKey() });
    ws = new WebSocket(`${proto}//${location.host}/v1/stream/ws?${q}`);
    ws.onopen = () => {
      delay = 1000;
    };
    ws.onmessage = (ev) => {
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (msg.topic === "hello") onState(true, msg.data);
      onMessage(msg);
    };
    ws.onclose = (ev) => {
      onState(false, { code: ev.code });
      ws = null;
      // 4401: bad key, 4422: bad filter: retrying cannot help until the key changes.
      if (!closed && ev.code !== 4401 && ev.code !== 4422) {
        setTimeout(connect, delay);
        delay = Math.min(delay * 2, 15000);
      }
    };
  };
  connect();
  return {
    close() {
      closed = true;
      if (ws) ws.close();
    },
  };
}
