/** The side panels: sensor cards, the markers list, and unobtrusive notices. */

import { el, fmtClock, fmtNum } from './format.js';

/** Link states (sensorhub/sources/base.py LinkState) grouped by what they mean to a person. */
const STATE_CLASS = {
  streaming: 'ok',
  connecting: 'busy',
  starting: 'busy',
  reconnecting: 'busy',
  stopping: 'busy',
  disconnected: 'bad',
  stopped: 'off',
};
/** Battery at or below this is flagged (the sensors themselves warn at about 5 %). */
const BATTERY_LOW_PCT = 20;
/** A sensor that sent no status for this long (session s) is flagged as silent. */
const STATUS_SILENT_S = 5;

/**
 * The skeleton of a sensor or hub card: a head (status dot, name, state), a subtitle line, a
 * grid of labelled values and a reason line. `stat(label, key)` adds one value to the grid
 * (`key`, when given, becomes its `data-stat`) and returns its element.
 */
function statusCard(cardClass, statsClass) {
  const card = el('div', cardClass);
  const head = el('div', 'sc-head');
  const dot = el('span', 'sc-dot');
  dot.setAttribute('aria-hidden', 'true');
  const name = el('span', 'sc-name');
  const state = el('span', 'sc-state');
  head.append(dot, name, state);
  const sub = el('div', 'sc-sub');
  const grid = el('div', statsClass);
  const reason = el('div', 'sc-reason');
  card.append(head, sub, grid, reason);
  const stat = (label, key) => {
    const box = el('div', 'sc-stat');
    const value = el('div', 'sc-value', '–');
    if (key) value.dataset.stat = key;
    box.append(el('div', 'sc-key', label), value);
    grid.append(box);
    return value;
  };
  return { card, name, state, sub, reason, stat };
}

export class SensorCards {
  constructor(root, model) {
    this.root = root;
    this.model = model;
    this.cards = new Map();
    this.layoutVersion = -1;
  }

  build() {
    this.root.replaceChildren();
    this.cards.clear();
    if (this.model.sensors.size === 0) {
      this.root.append(el('p', 'placeholder', 'No sensor status yet.'));
    }
    const sorted = [...this.model.sensors.values()].sort((a, b) =>
      String(a.participant ?? a.sensor).localeCompare(String(b.participant ?? b.sensor)),
    );
    for (const s of sorted) {
      const { card, name, state, sub, reason, stat } = statusCard('sensor-card', 'sc-stats');
      card.dataset.sensor = s.sensor;
      const parts = {
        card,
        name,
        state,
        sub,
        battery: stat('Battery'),
        rate: stat('Rate'),
        gaps: stat('Gaps'),
        reconnects: stat('Reconnects'),
        reason,
      };
      this.cards.set(s.sensor, parts);
      this.root.append(card);
    }
    this.layoutVersion = this.model.layoutVersion;
  }

  render() {
    if (this.layoutVersion !== this.model.layoutVersion) this.build();
    for (const [id, parts] of this.cards) {
      const s = this.model.sensors.get(id);
      if (!s) continue;
      const state = s.state ?? 'unknown';
      const silent = Number.isFinite(s.t) && this.model.now - s.t > STATUS_SILENT_S;
      const group = STATE_CLASS[state] ?? 'off';
      parts.card.className = `sensor-card st-${group}${silent ? ' silent' : ''}`;
      parts.name.textContent = s.participant ?? 'unassigned';
      parts.sub.textContent = `${s.kind ?? 'sensor'} · ${id}`;
      parts.sub.title = id;
      const age = Math.round(this.model.now - s.t);
      parts.state.textContent = silent ? `${state}, no news ${age} s` : state;
      const batt = Number.isFinite(s.battery_pct) ? `${s.battery_pct} %` : '–';
      parts.battery.textContent = batt;
      const low = Number.isFinite(s.battery_pct) && s.battery_pct <= BATTERY_LOW_PCT;
      parts.battery.classList.toggle('low', low);
      parts.rate.textContent = Number.isFinite(s.rate_hz) ? `${fmtNum(s.rate_hz, 1)} Hz` : '–';
      parts.gaps.textContent = String(s.gaps ?? 0);
      parts.gaps.title = `${s.missing_samples ?? 0} samples missing`;
      parts.gaps.classList.toggle('warn', (s.gaps ?? 0) > 0);
      parts.reconnects.textContent = String(s.reconnects ?? 0);
      const extra = [];
      if (s.missing_samples) extra.push(`${s.missing_samples} samples missing`);
      if (s.malformed) extra.push(`${s.malformed} malformed`);
      if (s.duplicates) extra.push(`${s.duplicates} duplicate`);
      if (s.reason) extra.push(s.reason);
      parts.reason.textContent = extra.join(' · ');
    }
  }
}

export class MarkerList {
  constructor(root, model) {
    this.root = root;
    this.model = model;
    this.shown = -1;
  }

  render() {
    // Markers only ever append (or the session resets): re-render when the newest changed.
    const count = this.model.markers.length;
    const newest = count ? this.model.markers.at(count - 1) : null;
    const key = `${count}:${newest ? newest.t : ''}:${this.model.session}`;
    if (key === this.shown) return;
    this.shown = key;
    const items = [...this.model.markers].reverse();
    this.root.replaceChildren(
      ...items.map((m) => {
        const li = el('li', 'marker');
        li.append(
          el('span', 'marker-t', fmtClock(m.t)),
          el('span', 'marker-label', m.label || '(no label)'),
        );
        if (m.source) li.append(el('span', 'marker-src', m.source));
        return li;
      }),
    );
  }
}

/** At most this many notices on screen; older ones go first. */
const MAX_NOTICES = 4;
const NOTICE_MS = { info: 3000, error: 8000 };

export class Notices {
  constructor(root) {
    this.root = root;
    this.count = 0;
  }

  /** Show a small, self-dismissing notice. kind: 'info' or 'error'. */
  show(text, kind = 'info') {
    this.count += 1;
    while (this.root.childElementCount >= MAX_NOTICES) this.root.firstElementChild.remove();
    const n = el('div', `notice notice-${kind}`, text);
    n.setAttribute('role', kind === 'error' ? 'alert' : 'status');
    n.addEventListener('click', () => n.remove());
    this.root.append(n);
    setTimeout(() => n.remove(), NOTICE_MS[kind] ?? NOTICE_MS.info);
  }
}

/** Hub states (sensorhub.events.HubStatus) as the sensor cards' groups. */
const HUB_STATE_CLASS = { online: 'ok', offline: 'bad' };
/** An online hub not heard from for this long (s) is flagged as silent. */
const HUB_SILENT_S = 10;

/** Seconds -> '4 s', '3 min', '2 h' for "last seen" ages. */
function fmtAge(seconds) {
  if (!Number.isFinite(seconds)) return '–';
  const s = Math.max(0, seconds);
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${Math.round(s / 3600)} h`;
}

/**
 * The health of every hub an aggregator follows (`hub` events): online/offline, last seen,
 * events, duplicates dropped, sequence numbers missing, the hub's outbox. Hidden until a hub
 * event arrives, so a single hub's own dashboard never shows it.
 */
export class HubPanel {
  constructor(card, root, model) {
    this.card = card;
    this.root = root;
    this.model = model;
    this.rows = new Map();
    this.layoutVersion = -1;
    this.shown = false;
  }

  build() {
    this.root.replaceChildren();
    this.rows.clear();
    const sorted = [...this.model.hubs.keys()].sort((a, b) => a.localeCompare(b));
    for (const id of sorted) {
      const { card, name, state, sub, reason, stat } = statusCard('hub-card', 'sc-stats hub-stats');
      card.dataset.hub = id;
      name.textContent = id;
      const parts = {
        card,
        state,
        sub,
        seen: stat('Seen', 'seen'),
        events: stat('Events', 'events'),
        duplicates: stat('Dupl.', 'duplicates'),
        missing: stat('Missing', 'missing'),
        outbox: stat('Outbox', 'outbox'),
        reason,
      };
      this.rows.set(id, parts);
      this.root.append(card);
    }
    this.layoutVersion = this.model.layoutVersion;
  }

  render() {
    const show = this.model.hubs.size > 0;
    if (show !== this.shown) {
      this.card.hidden = !show;
      this.shown = show;
    }
    if (!show) return;
    if (this.layoutVersion !== this.model.layoutVersion) this.build();
    const nowS = Date.now() / 1000;
    for (const [id, parts] of this.rows) {
      const h = this.model.hubs.get(id);
      if (!h) continue;
      const state = h.state === 'online' ? 'online' : 'offline';
      const age = Number.isFinite(h.last_seen) ? nowS - h.last_seen : NaN;
      const silent = state === 'online' && age > HUB_SILENT_S;
      parts.card.className = `hub-card st-${HUB_STATE_CLASS[state]}${
        silent ? ' silent' : ''
      }`;
      parts.state.textContent = silent ? `${state}, quiet ${fmtAge(age)}` : state;
      parts.sub.textContent = [h.name, h.session].filter(Boolean).join(' · ');
      parts.seen.textContent = Number.isFinite(age) ? `${fmtAge(age)} ago` : '–';
      parts.events.textContent = String(h.events ?? 0);
      parts.duplicates.textContent = String(h.duplicates ?? 0);
      parts.missing.textContent = String(h.missing ?? 0);
      parts.missing.classList.toggle('warn', (h.missing ?? 0) > 0);
      parts.outbox.textContent = String(h.outbox ?? 0);
      parts.outbox.classList.toggle('warn', (h.outbox ?? 0) > 0);
      parts.reason.textContent = h.reason ?? '';
    }
  }
}
