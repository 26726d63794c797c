/**
 * The shared timeline: one row per participant with its episodes as bars, one row per dyad with
 * its co-lean periods, markers as ticks. Its time axis is aligned with the traces' plot area,
 * so a bar sits exactly under the shaded episode of the trace above.
 *
 * Plain DOM (a few dozen positioned divs): items are bounded by the model's lists, and the
 * rows are rebuilt only when the set of participants or dyads changes.
 */

import { el, fmtClock, fmtDeg } from './format.js';

export class Timeline {
  constructor(root, model) {
    this.root = root;
    this.model = model;
    this.tracks = new Map(); // row key -> track element
    this.summaries = new Map();
    this.layoutVersion = -1;
    this.itemCount = 0;
  }

  build() {
    this.root.replaceChildren();
    this.tracks.clear();
    this.summaries = new Map(); // dyad key -> summary element
    const addRow = (key, label, title, className, colour) => {
      const row = el('div', `tl-row ${className}`);
      row.dataset.row = key;
      const lab = el('div', 'tl-label', label);
      lab.title = title;
      if (colour) row.style.setProperty('--pc', colour);
      const track = el('div', 'tl-track');
      row.append(lab, track);
      this.root.append(row);
      this.tracks.set(key, track);
    };
    for (const part of this.model.participants.values()) {
      addRow(`p:${part.id}`, part.name, `Episodes of ${part.name}`, 'tl-participant', part.colour);
    }
    for (const dyad of this.model.dyads.values()) {
      const [a, b] = dyad.pair;
      addRow(`d:${dyad.key}`, `${a}+${b}`, `Co-lean periods of ${a} and ${b}`, 'tl-dyad');
    }
    for (const dyad of this.model.dyads.values()) {
      const line = el('div', 'tl-summary');
      line.dataset.dyad = dyad.key;
      this.root.append(line);
      this.summaries.set(dyad.key, line);
    }
    this.layoutVersion = this.model.layoutVersion;
  }

  /** One line per dyad: who led the last co-lean, and the latest lagged correlation. */
  renderSummaries() {
    for (const [key, line] of this.summaries) {
      const dyad = this.model.dyads.get(key);
      if (!dyad) continue;
      const parts = [dyad.pair.join(' + ')];
      const last = this.model.coleans.findLast((c) => c.key === key);
      if (last) {
        const lag = Number.isFinite(last.lag_s) ? ` by ${last.lag_s.toFixed(1)} s` : '';
        const who = last.leader ? `${last.leader} led${lag}` : 'together';
        const when = last.end === null ? 'co-leaning now' : 'last co-lean';
        parts.push(`${when} ${fmtClock(last.start)}: ${who}`);
      } else {
        parts.push('no co-lean yet');
      }
      if (Number.isFinite(dyad.r)) {
        const lag = Number.isFinite(dyad.lag_s) ? ` at lag ${dyad.lag_s.toFixed(1)} s` : '';
        parts.push(`correlation r = ${dyad.r.toFixed(2)}${lag}`);
      }
      line.textContent = parts.join('  ·  ');
    }
  }

  /**
   * @param {number} xMin window start (session s)
   * @param {number} xMax window end (session s)
   * @param {DOMRect|null} plotRect the traces' plot area, to align with
   */
  render(xMin, xMax, plotRect) {
    if (this.layoutVersion !== this.model.layoutVersion) this.build();
    if (plotRect) {
      const box = this.root.getBoundingClientRect();
      this.root.style.setProperty('--track-left', `${Math.max(0, plotRect.left - box.left)}px`);
      this.root.style.setProperty('--track-width', `${plotRect.width}px`);
    }
    const span = xMax - xMin;
    const pct = (t) => ((t - xMin) / span) * 100;
    /** Left/width in % of the track, clipped to the window; null when outside it. */
    const place = (t0, t1) => {
      if (t1 < xMin || t0 > xMax) return null;
      const a = Math.max(0, pct(t0));
      const b = Math.min(100, pct(t1));
      return { left: `${a}%`, width: `${Math.max(0.3, b - a)}%` };
    };
    const fills = new Map();
    for (const key of this.tracks.keys()) fills.set(key, document.createDocumentFragment());
    let count = 0;

    // Co-lean periods: a band in the dyad row and a soft highlight behind both partners.
    for (const c of this.model.coleans) {
      const pos = place(c.start, c.end ?? this.model.now);
      if (!pos) continue;
      const lead = c.leader ? `${c.leader} led` : 'together';
      const lag = Number.isFinite(c.lag_s) ? ` by ${c.lag_s.toFixed(1)} s` : '';
      const until = c.end === null ? 'now' : fmtClock(c.end);
      const title = `Co-lean ${c.pair.join(' + ')} ${fmtClock(c.start)}–${until}: ${lead}${lag}`;
      const band = el('div', `tl-colean${c.end === null ? ' open' : ''}`);
      band.textContent = c.leader ? `${c.leader} led` : '';
      band.title = title;
      Object.assign(band.style, pos);
      fills.get(`d:${c.key}`)?.append(band);
      for (const pid of c.pair) {
        const halo = el('div', 'tl-colean-halo');
        Object.assign(halo.style, pos);
        fills.get(`p:${pid}`)?.append(halo);
      }
      count += 1;
    }

    for (const ep of this.model.episodes) {
      const pos = place(ep.onset, ep.end ?? this.model.now);
      const fill = fills.get(`p:${ep.participant}`);
      if (!pos || !fill) continue;
      const bar = el('div', `tl-ep tl-${ep.direction}${ep.end === null ? ' open' : ''}`);
      bar.dataset.level = ep.level;
      const peak =
        ep.peak_deg === null ? '' : `, peak ${fmtDeg(ep.peak_deg)}, mean ${fmtDeg(ep.mean_deg)}`;
      const end = ep.end === null ? 'ongoing' : fmtClock(ep.end);
      const cut = ep.truncated ? ' (cut by a data gap)' : '';
      bar.title = `${ep.participant}: ${ep.level} ${fmtClock(ep.onset)}–${end}${peak}${cut}`;
      Object.assign(bar.style, pos);
      fill.append(bar);
      count += 1;
    }

    // Markers: a thin tick through every row.
    for (const m of this.model.markers) {
      if (m.t < xMin || m.t > xMax) continue;
      for (const fill of fills.values()) {
        const tick = el('div', 'tl-marker');
        tick.style.left = `${pct(m.t)}%`;
        tick.title = `${fmtClock(m.t)} ${m.label || 'marker'}`;
        fill.append(tick);
      }
    }

    for (const [key, track] of this.tracks) track.replaceChildren(fills.get(key));
    this.itemCount = count;
    this.renderSummaries();
  }
}
