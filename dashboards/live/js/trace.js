/**
 * One participant's panel: a header (name, attributes, current angle, calibration buttons) and
 * a live forward-angle trace drawn by uPlot, with the detection thresholds as lines and the
 * participant's episodes shaded behind the curve.
 */

import { el, fmtClock, fmtDeg, withAlpha } from './format.js';

/** Calm fixed y-range; widened only when the data leaves it. */
const Y_MIN_DEG = -20;
const Y_MAX_DEG = 45;
/** Seconds without an angle before the readout says the data stopped. */
const STALE_S = 3;
/** A reset needs a second click within this time (no modal dialog in the way). */
const RESET_CONFIRM_MS = 3000;

const LEVEL_STYLE = {
  backward: { alpha: 0.14, colour: '#555555' },
  lying: { alpha: 0.22, colour: '#333333' },
};

export class TracePanel {
  /**
   * @param {object} part participant state from the model
   * @param {object} model the SessionModel (episodes, markers, latest time)
   * @param {object} actions
   * @param {(msg: object) => boolean} actions.send send a client message; false if offline
   * @param {(text: string, kind?: string) => void} actions.notify show a notice
   */
  constructor(part, model, actions) {
    this.part = part;
    this.model = model;
    this.actions = actions;
    this.xMin = 0;
    this.xMax = 1;
    this.drawnPoints = 0;
    this.renderedUpdates = -1;
    this.renders = 0;

    this.root = el('article', 'trace-panel');
    this.root.dataset.participant = part.id;
    this.root.style.setProperty('--pc', part.colour);
    this.root.append(this.buildHeader(), (this.plotBox = el('div', 'trace-plot')));
    this.plot = this.buildPlot();
    this.resizer = new ResizeObserver(() => this.resize());
    this.resizer.observe(this.plotBox);
  }

  buildHeader() {
    const head = el('header', 'trace-head');
    const who = el('div', 'trace-who');
    who.append(el('span', 'swatch'), el('span', 'trace-name', this.part.name));
    const attrs = el('span', 'trace-attrs');
    attrs.textContent = this.part.attributes.map(([k, v]) => `${k} ${v}`).join(' · ');
    who.append(attrs);
    this.calibEl = el('span', 'trace-cal');
    who.append(this.calibEl);
    this.setCalibration(this.part.calibration);

    const reading = el('div', 'trace-reading');
    this.valueEl = el('span', 'trace-value', '–');
    this.stateEl = el('span', 'trace-state', '');
    reading.append(this.valueEl, this.stateEl);

    const calib = el('div', 'calib');
    calib.setAttribute('role', 'group');
    calib.setAttribute('aria-label', `Calibrate ${this.part.name}`);
    calib.append(el('span', 'calib-label', 'Calibrate'));
    for (const step of ['upright', 'forward', 'reset']) {
      const b = el('button', `btn btn-small calib-${step}`, step[0].toUpperCase() + step.slice(1));
      b.type = 'button';
      b.dataset.step = step;
      b.title =
        step === 'upright'
          ? 'Participant sits upright and still: record the upright posture'
          : step === 'forward'
            ? 'Participant leans forward: record the forward direction'
            : 'Forget this participant’s calibration (click twice)';
      b.addEventListener('click', () => this.calibrate(step, b));
      calib.append(b);
    }
    head.append(who, reading, calib);
    return head;
  }

  calibrate(step, button) {
    if (step === 'reset' && !button.classList.contains('confirming')) {
      button.classList.add('confirming');
      button.textContent = 'Sure?';
      setTimeout(() => {
        button.classList.remove('confirming');
        button.textContent = 'Reset';
      }, RESET_CONFIRM_MS);
      return;
    }
    button.classList.remove('confirming');
    button.textContent = step === 'reset' ? 'Reset' : button.textContent;
    // The hub answers with an 'ack' (shown by the app) or an 'error'.
    const sent = this.actions.send({ type: 'calibrate', participant: this.part.id, step });
    if (!sent) this.actions.notify('Not connected: calibration not sent', 'error');
  }

  /** Show the calibration method the hub reports ('nominal', 'two-pose', ...). */
  setCalibration(method) {
    this.calibEl.textContent = method ? `calibration: ${method}` : '';
  }

  buildPlot() {
    const colour = this.part.colour;
    const opts = {
      width: Math.max(200, this.plotBox.clientWidth || 600),
      height: Math.max(80, this.plotBox.clientHeight || 160),
      legend: { show: false },
      // A vertical hairline only: a horizontal one would read as another threshold line.
      cursor: { y: false, drag: { x: false, y: false }, points: { show: false } },
      scales: { x: { time: false, auto: false }, y: { auto: false } },
      axes: [
        {
          stroke: '#5b6270',
          grid: { stroke: '#e8eaee', width: 1 },
          ticks: { stroke: '#d5d8de', width: 1 },
          values: (u, splits) => splits.map(fmtClock),
          space: 70,
        },
        {
          stroke: '#5b6270',
          size: 56,
          grid: { stroke: '#e8eaee', width: 1 },
          ticks: { stroke: '#d5d8de', width: 1 },
          values: (u, splits) => splits.map((v) => `${v < 0 ? '−' : ''}${Math.abs(v)}°`),
          space: 24,
        },
      ],
      series: [
        {},
        { label: 'forward', stroke: colour, width: 2, spanGaps: false, points: { show: false } },
      ],
      hooks: {
        drawClear: [(u) => this.drawBackground(u)],
        drawAxes: [(u) => this.drawThresholds(u)],
      },
    };
    return new window.uPlot(opts, [[], []], this.plotBox);
  }

  resize() {
    const w = this.plotBox.clientWidth;
    const h = this.plotBox.clientHeight;
    if (w > 0 && h > 0) this.plot.setSize({ width: w, height: h });
  }

  /** Plot-area rectangle in CSS pixels relative to the viewport (the timeline aligns to it). */
  plotRect() {
    return this.plot.over.getBoundingClientRect();
  }

  /** Episode shading and marker lines, under the grid and the curve. */
  drawBackground(u) {
    const ctx = u.ctx;
    const { left, top, width, height } = u.bbox;
    const right = left + width;
    ctx.save();
    ctx.beginPath();
    ctx.rect(left, top, width, height);
    ctx.clip();

    for (const ep of this.model.episodes) {
      if (ep.participant !== this.part.id) continue;
      const end = ep.end ?? this.model.now; // an open episode lasts until the latest data
      if (end < this.xMin || ep.onset > this.xMax) continue;
      const x0 = Math.max(left, u.valToPos(ep.onset, 'x', true));
      const x1 = Math.min(right, u.valToPos(end, 'x', true));
      const style = LEVEL_STYLE[ep.direction] ?? { alpha: 0.2, colour: this.part.colour };
      ctx.fillStyle = withAlpha(style.colour, ep.end === null ? style.alpha + 0.08 : style.alpha);
      ctx.fillRect(x0, top, Math.max(1, x1 - x0), height);
    }

    const dpr = window.devicePixelRatio || 1;
    // Markers: a thin dotted vertical line (their labels are in the list and the timeline).
    ctx.strokeStyle = 'rgba(31, 36, 48, 0.55)';
    ctx.lineWidth = dpr;
    ctx.setLineDash([2 * dpr, 3 * dpr]);
    for (const m of this.model.markers) {
      if (m.t < this.xMin || m.t > this.xMax) continue;
      const x = Math.round(u.valToPos(m.t, 'x', true)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(x, top);
      ctx.lineTo(x, top + height);
      ctx.stroke();
    }
    ctx.setLineDash([]);
    ctx.restore();
  }

  /** Threshold lines, drawn after the grid (which would hide them) and before the curve. */
  drawThresholds(u) {
    const ctx = u.ctx;
    const { left, width } = u.bbox;
    const right = left + width;
    const dpr = window.devicePixelRatio || 1;
    ctx.save();
    const th = this.part.thresholds;
    const line = (deg, dash, colour, label, below = false) => {
      if (deg < u.scales.y.min || deg > u.scales.y.max) return;
      const y = Math.round(u.valToPos(deg, 'y', true)) + 0.5;
      ctx.strokeStyle = colour;
      ctx.lineWidth = dpr;
      ctx.setLineDash(dash.map((d) => d * dpr));
      ctx.beginPath();
      ctx.moveTo(left, y);
      ctx.lineTo(right, y);
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillStyle = colour;
      ctx.font = `${11 * dpr}px system-ui, sans-serif`;
      ctx.textAlign = 'right';
      ctx.textBaseline = below ? 'top' : 'bottom';
      ctx.fillText(label, right - 4 * dpr, below ? y + 2 * dpr : y - 2 * dpr);
    };
    line(0, [], '#b8bcc6', '');
    line(th.enter_deg, [6, 4], '#4a505c', `lean in ${th.enter_deg}°`);
    line(th.exit_deg, [2, 3], '#7a808c', `out ${th.exit_deg}°`, true);
    line(-th.backward_deg, [6, 4], '#7a808c', `back −${th.backward_deg}°`, true);
    ctx.restore();
  }

  /** Redraw for the window [xMax - windowS, xMax]; cheap when nothing changed. */
  render(xMax, windowS) {
    this.xMax = Number.isFinite(xMax) ? xMax : windowS;
    this.xMin = this.xMax - windowS;
    const [xs, ys, yMin, yMax] = this.part.trace.window(this.xMin);
    const lo = Math.min(Y_MIN_DEG, Math.floor((yMin - 5) / 5) * 5);
    const hi = Math.max(Y_MAX_DEG, Math.ceil((yMax + 5) / 5) * 5);
    const plot = this.plot;
    plot.batch(() => {
      plot.setData([xs, ys], false);
      plot.setScale('x', { min: this.xMin, max: this.xMax });
      plot.setScale('y', {
        min: Number.isFinite(lo) ? lo : Y_MIN_DEG,
        max: Number.isFinite(hi) ? hi : Y_MAX_DEG,
      });
    });
    this.drawnPoints = xs.length;
    this.renders += 1;
    this.renderReading();
  }

  renderReading() {
    const last = this.part.last;
    const stale = !last || this.model.now - last.t > STALE_S;
    this.root.classList.toggle('stale', stale);
    this.valueEl.textContent = last ? fmtDeg(last.forward) : '–';
    let state = 'no data';
    if (last && !stale) {
      const open = this.model.openEpisode(this.part.id);
      if (last.lying) state = 'lying';
      else if (open) state = open.direction === 'forward' ? 'leaning in' : `${open.direction} lean`;
      else if (last.motion) state = 'moving';
      // Above the exit angle but not (yet) a confirmed episode: say so, not "upright".
      else if (last.forward >= this.part.thresholds.exit_deg) state = 'near threshold';
      else state = 'upright';
    } else if (last) {
      state = `no data for ${Math.round(this.model.now - last.t)} s`;
    }
    this.stateEl.textContent = state;
    this.root.dataset.state = state.split(' ')[0];
  }

  destroy() {
    this.resizer.disconnect();
    this.plot.destroy();
    this.root.remove();
  }
}
