/**
 * The replay bar: pause, speed and seek of a replay served as if live (`replay --serve`).
 *
 * Shown only when the hub's hello says `replay: true`. It reads the replay's state from
 * GET /api/replay (polled while shown) and changes it with POST /api/replay
 * (docs/http-api.md). A backward seek makes the hub start over and say hello again on the
 * websocket; app.js then resets the page's model, so this bar only drives the API.
 */

import { pageToken } from './connection.js';
import { fmtClock } from './format.js';

/** How often the position is read while the bar is shown (the clock shows whole seconds). */
const POLL_MS = 500;
/** The replay's state (GET) and controls (POST). */
const ENDPOINT = '/api/replay';

export class ReplayBar {
  /**
   * @param {HTMLElement} root the bar (#replay-bar), hidden until a replay's hello
   * @param {object} deps
   * @param {(text: string, kind: string) => void} deps.notify shows a notice
   */
  constructor(root, { notify }) {
    this.root = root;
    this.notify = notify;
    this.toggle = root.querySelector('#replay-toggle');
    this.seek = root.querySelector('#replay-seek');
    this.position = root.querySelector('#replay-position');
    this.status = root.querySelector('#replay-status');
    this.speedButtons = [...root.querySelectorAll('[data-speed]')];
    this.state = null; // latest state from the hub
    this.active = false;
    this.timer = null;
    this.dragging = false; // the slider is held: do not move it under the pointer
    this.requests = 0; // POSTs answered, for tests and the console
    this.wire();
  }

  wire() {
    this.toggle.addEventListener('click', () => {
      this.post(this.state?.paused ? 'resume' : 'pause');
    });
    for (const b of this.speedButtons) {
      const value = b.dataset.speed === 'max' ? 'max' : Number(b.dataset.speed);
      b.addEventListener('click', () => this.post('speed', value));
    }
    this.seek.addEventListener('input', () => {
      this.dragging = true;
      this.showPosition(Number(this.seek.value));
    });
    this.seek.addEventListener('change', () => {
      this.dragging = false;
      this.post('seek', Number(this.seek.value));
    });
  }

  /** Show the bar (and poll) in a replay; hide it (and stop) in a live session. */
  setActive(isReplay) {
    this.active = Boolean(isReplay);
    this.root.hidden = !this.active;
    clearTimeout(this.timer);
    this.timer = null;
    if (this.active) this.poll();
  }

  async poll() {
    this.timer = null;
    if (!this.active) return;
    try {
      const res = await fetch(ENDPOINT, { headers: this.headers(), cache: 'no-store' });
      if (res.ok) this.update(await res.json());
    } catch (err) {
      // The hub is away: the websocket's pill already says so; try again on the next tick.
      console.warn('sensorhub: replay state unavailable:', err);
    }
    if (this.active && this.timer === null) this.timer = setTimeout(() => this.poll(), POLL_MS);
  }

  /** Ask the hub to pause, resume, change speed or seek; the answer is the new state. */
  async post(action, value) {
    let res;
    try {
      res = await fetch(ENDPOINT, {
        method: 'POST',
        headers: { ...this.headers(), 'Content-Type': 'application/json' },
        body: JSON.stringify(value === undefined ? { action } : { action, value }),
      });
    } catch (err) {
      this.notify(`Replay: ${action} not sent (${err})`, 'error');
      return;
    }
    const body = await res.json().catch(() => ({}));
    if (!res.ok) {
      this.notify(`Replay: ${body.message ?? `${action} refused (HTTP ${res.status})`}`, 'error');
      return;
    }
    this.requests += 1;
    this.update(body);
  }

  headers() {
    const token = pageToken();
    return token ? { Authorization: `Bearer ${token}` } : {};
  }

  /** Render a state from the hub. */
  update(state) {
    if (!state || typeof state !== 'object') return;
    this.state = state;
    const paused = Boolean(state.paused);
    this.toggle.textContent = paused ? '▶ Play' : '❚❚ Pause';
    this.toggle.setAttribute('aria-label', paused ? 'Play the replay' : 'Pause the replay');
    this.toggle.dataset.paused = String(paused);
    for (const b of this.speedButtons) {
      const value = b.dataset.speed === 'max' ? 'max' : Number(b.dataset.speed);
      b.setAttribute('aria-pressed', String(value === state.speed));
    }
    const duration = Number.isFinite(state.duration_s) ? state.duration_s : 0;
    this.seek.max = String(duration);
    if (!this.dragging) {
      this.seek.value = String(state.position_s ?? 0);
      this.showPosition(state.position_s);
    }
    let status = '';
    if (state.seeking) status = 'seeking…';
    else if (state.finished) status = 'end of recording';
    else if (paused) status = 'paused';
    this.status.textContent = status;
  }

  showPosition(seconds) {
    const duration = this.state ? this.state.duration_s : NaN;
    this.position.textContent = `${fmtClock(seconds)} / ${fmtClock(duration)}`;
  }
}
