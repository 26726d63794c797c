/**
 * The page's websocket to the hub, reconnecting with exponential backoff.
 *
 * States: 'connecting' (socket opening), 'open' (receiving), 'waiting' (backing off before the
 * next attempt). The hub restarting, a laptop sleeping or Wi-Fi dropping must never need a
 * page reload.
 */

/** First retry delay: short, so a hub restart is bridged almost unnoticed. */
const BACKOFF_INITIAL_MS = 500;
/** Cap: a lab assistant should not wait longer than this once the hub is back. */
const BACKOFF_MAX_MS = 10000;
const BACKOFF_FACTOR = 2;
/** +-20 % jitter so several open dashboards do not reconnect in lockstep. */
const BACKOFF_JITTER = 0.2;

/** The page's ?token= (needed when the hub listens beyond loopback), or null. */
export function pageToken(loc = window.location) {
  return new URLSearchParams(loc.search).get('token');
}

/** The websocket URL on this page's origin, carrying the page's ?token= if it has one. */
export function websocketUrl(loc = window.location) {
  const scheme = loc.protocol === 'https:' ? 'wss:' : 'ws:';
  const token = pageToken(loc);
  const query = token ? `?token=${encodeURIComponent(token)}` : '';
  return `${scheme}//${loc.host}/ws${query}`;
}

export class Connection {
  /**
   * @param {string} url
   * @param {object} handlers
   * @param {(msg: object) => void} handlers.onMessage every decoded message
   * @param {(state: string, info: object) => void} handlers.onState every state change
   */
  constructor(url, { onMessage, onState }) {
    this.url = url;
    this.onMessage = onMessage;
    this.onState = onState;
    this.ws = null;
    this.state = 'connecting';
    this.attempt = 0; // failed attempts since the last healthy connection
    this.opens = 0; // sockets opened over the page's life
    this.retryTimer = null;
    this.retryAt = 0;
    this.badFrames = 0;
    this.handlerErrors = 0;
  }

  start() {
    this.connect();
  }

  /** Send a client message; false (and nothing sent) when not connected. */
  send(msg) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  /** Skip the remaining backoff and try at once (the connection pill's click). */
  retryNow() {
    if (this.state !== 'waiting') return;
    clearTimeout(this.retryTimer);
    this.connect();
  }

  /** The hub said hello: this connection is healthy, so the next failure starts afresh. */
  markHealthy() {
    this.attempt = 0;
  }

  connect() {
    this.retryTimer = null;
    this.setState('connecting');
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (err) {
      this.scheduleRetry(String(err));
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.opens += 1;
      this.setState('open');
    };
    ws.onmessage = (ev) => {
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        this.badFrames += 1; // not JSON: ignore it, the stream goes on
        return;
      }
      if (!msg || typeof msg !== 'object' || typeof msg.type !== 'string') return;
      try {
        this.onMessage(msg);
      } catch (err) {
        // A message the page cannot handle must not stop the stream; say so in the console.
        this.handlerErrors += 1;
        console.error('sensorhub: could not handle', msg.type, err);
      }
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      const why = ev.reason || (ev.code === 1006 ? 'connection lost' : `closed (${ev.code})`);
      // The hub names its reason on a deliberate close (shutdown, client too slow, flooding).
      this.scheduleRetry(why, ev.reason || '');
    };
    // onerror is always followed by onclose, which does the work.
    ws.onerror = () => {};
  }

  scheduleRetry(reason, hubReason = '') {
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_INITIAL_MS * BACKOFF_FACTOR ** this.attempt);
    const delay = base * (1 - BACKOFF_JITTER + 2 * BACKOFF_JITTER * Math.random());
    this.attempt += 1;
    this.retryAt = Date.now() + delay;
    this.setState('waiting', { reason, hubReason, delayMs: delay });
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  setState(state, info = {}) {
    this.state = state;
    this.onState(state, { attempt: this.attempt, retryAt: this.retryAt, ...info });
  }
}
