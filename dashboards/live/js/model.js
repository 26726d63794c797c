/**
 * The dashboard's view of a session, fed by websocket messages (schema: sensorhub/events.py).
 * No DOM here: views read this model when they render. Every collection is bounded.
 */

import { BoundedList, RingSeries } from './ring.js';
import { participantColour } from './format.js';

/** Seconds of angle history kept per participant (the longest selectable window). */
export const HISTORY_S = 300;
/** Trace capacity bounds, whatever rate the hub announces (10 Hz -> 3000 points). */
const MIN_TRACE_POINTS = 600;
const MAX_TRACE_POINTS = 12000;
/** Bounded histories: enough for the visible 5 minutes with room to spare. */
const EPISODE_CAP = 200;
const COLEAN_CAP = 100;
const MARKER_CAP = 100;
/**
 * Guards against a misbehaving server inventing ids without end; an aggregator of several
 * hubs (a few rooms of up to 8 participants each) stays well inside them.
 */
const MAX_PARTICIPANTS = 64;
const MAX_SENSORS = 128;
const MAX_DYADS = 64;
const MAX_HUBS = 32;

/** Detection defaults (sensorhub/dsp/detector.py) used when hello carries no thresholds. */
export const DEFAULT_THRESHOLDS = Object.freeze({ enter_deg: 20, exit_deg: 15, backward_deg: 10 });

/** Order-independent key of a dyad. */
export function dyadKey(pair) {
  return [...pair].map(String).sort().join('\u2194');
}

/** Read optional per-participant thresholds from hello: an object or a list of levels. */
function readThresholds(raw) {
  const out = { ...DEFAULT_THRESHOLDS };
  if (Array.isArray(raw)) {
    for (const level of raw) {
      if (level && level.direction === 'forward' && (level.name ?? 'forward') === 'forward') {
        if (Number.isFinite(level.enter_deg)) out.enter_deg = level.enter_deg;
        if (Number.isFinite(level.exit_deg)) out.exit_deg = level.exit_deg;
      } else if (level && level.direction === 'backward' && Number.isFinite(level.enter_deg)) {
        out.backward_deg = level.enter_deg;
      }
    }
  } else if (raw && typeof raw === 'object') {
    for (const key of ['enter_deg', 'exit_deg', 'backward_deg']) {
      if (Number.isFinite(raw[key])) out[key] = raw[key];
    }
    // The hub names the backward level's entry angle this way.
    if (Number.isFinite(raw.backward_enter_deg)) out.backward_deg = raw.backward_enter_deg;
  }
  return out;
}

/** Free-form participant attributes (group, condition...) as [key, value] pairs for display. */
function readAttributes(p) {
  const skip = new Set(['id', 'thresholds', 'sensor', 'sensors', 'attributes', 'name', 'kind']);
  const pairs = [];
  const nested = p.attributes && typeof p.attributes === 'object' ? p.attributes : {};
  for (const [k, v] of [...Object.entries(p), ...Object.entries(nested)]) {
    if (skip.has(k) || v === null || typeof v === 'object') continue;
    pairs.push([k, String(v)]);
  }
  return pairs;
}

export class SessionModel {
  constructor() {
    this.session = null;
    this.replay = false;
    /** True on an aggregator of several hubs (hello.aggregator): hellos merge. */
    this.aggregator = false;
    this.rateHz = 10;
    /** Latest session time seen in any message (the right edge of the plots). */
    this.now = -Infinity;
    /** @type {Map<string, object>} participant id -> participant state */
    this.participants = new Map();
    /** @type {Map<string, object>} dyad key -> {pair, r, rT, leader, lag_s} */
    this.dyads = new Map();
    this.episodes = new BoundedList(EPISODE_CAP);
    this.coleans = new BoundedList(COLEAN_CAP);
    this.markers = new BoundedList(MARKER_CAP);
    /** @type {Map<string, object>} sensor id -> latest status fields */
    this.sensors = new Map();
    /** @type {Map<string, object>} hub id -> latest hub event (aggregator only) */
    this.hubs = new Map();
    /** Counters for the debug hook. */
    this.stats = { messages: 0, angles: 0, droppedAngles: 0, unknown: 0 };
    /** Bumped whenever the set of participants/dyads/sensors changes (views rebuild). */
    this.layoutVersion = 0;
  }

  /** Points kept per trace at the announced rate. */
  get traceCapacity() {
    const n = Math.ceil(HISTORY_S * this.rateHz);
    return Math.min(MAX_TRACE_POINTS, Math.max(MIN_TRACE_POINTS, n));
  }

  /**
   * Apply one decoded message. Returns a short description of what changed
   * ('hello', 'angle', 'episode', 'dyad', 'status', 'marker', 'error', or null).
   */
  apply(msg) {
    this.stats.messages += 1;
    switch (msg.type) {
      case 'hello':
        this.applyHello(msg);
        return 'hello';
      case 'angle':
        this.applyAngle(msg);
        return 'angle';
      case 'episode_start':
      case 'episode_end':
        this.applyEpisode(msg);
        return 'episode';
      case 'dyad':
        this.applyDyad(msg);
        return 'dyad';
      case 'status':
        this.applyStatus(msg);
        return 'status';
      case 'marker':
        this.mergeMarkers([msg]);
        this.advance(msg.t);
        return 'marker';
      case 'error':
        return 'error';
      case 'hub':
        this.applyHub(msg);
        return 'hub';
      case 'ack': // answers to this page's requests: the app shows them, the model keeps nothing
        return 'ack';
      default:
        this.stats.unknown += 1; // a newer server: ignore what we do not know
        return null;
    }
  }

  advance(t) {
    if (Number.isFinite(t) && t > this.now) this.now = t;
  }

  applyHello(msg) {
    const sameSession = this.session !== null && msg.session === this.session;
    const announced = msg.angle_rate_hz;
    const rate = Number.isFinite(announced) && announced > 0 ? announced : 10;
    const aggregator = Boolean(msg.aggregator);
    // An aggregator announces a new hello whenever a hub brings participants: same session,
    // merge it (a faster hub's rate only sizes the traces made from now on).
    if (!sameSession || (rate !== this.rateHz && !aggregator)) this.reset();
    this.session = msg.session;
    this.replay = Boolean(msg.replay);
    this.aggregator = aggregator;
    this.rateHz = rate;
    for (const p of msg.participants ?? []) {
      if (p && p.id !== undefined) {
        const part = this.ensureParticipant(String(p.id));
        if (!part) continue;
        part.attributes = readAttributes(p);
        part.name = p.name ? String(p.name) : part.id;
        part.thresholds = readThresholds(p.thresholds);
        part.calibration = p.calibration?.method ? String(p.calibration.method) : null;
      }
    }
    for (const pair of msg.dyads ?? []) {
      if (Array.isArray(pair) && pair.length === 2) this.ensureDyad(pair);
    }
    for (const s of msg.sensors ?? []) {
      const id = s && (s.id ?? s.sensor ?? s.address ?? s.name);
      // The hub sends each sensor's latest status here; a sparser entry is also fine.
      if (id !== undefined) this.upsertSensor(String(id), { ...s });
    }
    this.layoutVersion += 1;
  }

  /** Forget everything of the previous session. */
  reset() {
    this.participants.clear();
    this.dyads.clear();
    this.sensors.clear();
    this.hubs.clear();
    this.episodes.clear();
    this.coleans.clear();
    this.markers.clear();
    this.now = -Infinity;
    this.layoutVersion += 1;
  }

  ensureParticipant(id) {
    let part = this.participants.get(id);
    if (part) return part;
    if (this.participants.size >= MAX_PARTICIPANTS) return null;
    part = {
      id,
      name: id,
      index: this.participants.size,
      colour: participantColour(this.participants.size),
      attributes: [],
      calibration: null, // method name, e.g. 'two-pose', when the hub tells us
      thresholds: { ...DEFAULT_THRESHOLDS },
      trace: new RingSeries(this.traceCapacity),
      last: null, // latest angle message
      updates: 0, // angle messages accepted (monotonic; for views and tests)
    };
    this.participants.set(id, part);
    this.layoutVersion += 1;
    return part;
  }

  ensureDyad(pair) {
    const key = dyadKey(pair);
    let dyad = this.dyads.get(key);
    if (!dyad && this.dyads.size < MAX_DYADS) {
      dyad = { key, pair: pair.map(String), r: null, rT: null, leader: null, lag_s: null };
      this.dyads.set(key, dyad);
      this.layoutVersion += 1;
    }
    return dyad;
  }

  applyAngle(msg) {
    const part = this.ensureParticipant(String(msg.participant));
    if (!part || !Number.isFinite(msg.t)) return;
    const trace = part.trace;
    const last = trace.lastT;
    if (msg.t <= last) {
      // Out of order or repeated: uPlot needs increasing x. Keep the earlier point.
      this.stats.droppedAngles += 1;
      return;
    }
    // A silence longer than a few samples is a data gap: break the line instead of
    // drawing a straight segment across missing data.
    const gapS = Math.max(1.0, 5 / this.rateHz);
    if (Number.isFinite(last) && msg.t - last > gapS) trace.push(last + 1e-6, NaN);
    trace.push(msg.t, Number.isFinite(msg.forward) ? msg.forward : NaN);
    part.last = msg;
    part.updates += 1;
    this.stats.angles += 1;
    this.advance(msg.t);
  }

  applyEpisode(msg) {
    const pid = String(msg.participant);
    const same = (e) =>
      e.participant === pid && e.level === msg.level && Math.abs(e.onset - msg.onset) < 1e-6;
    if (msg.type === 'episode_start') {
      // An episode still open for this level ended without us hearing it: close it at its start.
      const open = this.episodes.findLast((e) => e.participant === pid && e.level === msg.level);
      if (open && open.end === null && !same(open)) open.end = msg.onset;
      if (open && same(open)) return; // repeated start (e.g. after a reconnect)
      this.episodes.push({
        participant: pid,
        level: String(msg.level),
        direction: String(msg.direction),
        onset: msg.onset,
        crossing: msg.crossing,
        end: null,
        peak_deg: null,
        mean_deg: null,
        truncated: false,
      });
      this.advance(msg.confirmed);
    } else {
      let ep = this.episodes.findLast(same);
      if (!ep) {
        // We joined mid-episode: record it whole.
        ep = { participant: pid, level: String(msg.level), direction: String(msg.direction) };
        ep.onset = msg.onset;
        ep.crossing = msg.crossing;
        this.episodes.push(ep);
      }
      ep.end = msg.end;
      ep.peak_deg = msg.peak_deg;
      ep.mean_deg = msg.mean_deg;
      ep.truncated = Boolean(msg.truncated);
      this.advance(msg.end);
    }
  }

  /** The open episode of a participant (any level), or undefined. */
  openEpisode(pid) {
    return this.episodes.findLast((e) => e.participant === pid && e.end === null);
  }

  /**
   * Add markers, from the live stream or from GET /api/markers (which may overlap it and
   * arrive late): deduplicated, in time order, the newest `capacity` kept.
   */
  mergeMarkers(list) {
    const key = (m) => `${m.t}|${m.label}`;
    const known = new Set([...this.markers].map(key));
    const fresh = list
      .filter((m) => m && Number.isFinite(m.t))
      .map((m) => ({ t: m.t, label: String(m.label ?? ''), source: String(m.source ?? '') }))
      .filter((m) => !known.has(key(m)));
    if (fresh.length === 0) return;
    const last = this.markers.length ? this.markers.at(this.markers.length - 1).t : -Infinity;
    if (fresh.length === 1 && fresh[0].t >= last) {
      this.markers.push(fresh[0]); // the common case: a new live marker
      return;
    }
    const all = [...this.markers, ...fresh].sort((a, b) => a.t - b.t);
    this.markers.clear();
    for (const m of all.slice(-this.markers.capacity)) this.markers.push(m);
  }

  applyDyad(msg) {
    if (!Array.isArray(msg.dyad) || msg.dyad.length !== 2) return;
    const dyad = this.ensureDyad(msg.dyad);
    if (!dyad) return;
    const key = dyad.key;
    this.advance(msg.t);
    if (msg.kind === 'colean_start') {
      const open = this.coleans.findLast((c) => c.key === key && c.end === null);
      if (open) return;
      const leader = msg.leader ?? null;
      const lag = msg.lag_s ?? null;
      this.coleans.push({ key, pair: dyad.pair, start: msg.t, end: null, leader, lag_s: lag });
      dyad.leader = msg.leader ?? null;
      dyad.lag_s = msg.lag_s ?? null;
    } else if (msg.kind === 'colean_end') {
      const open = this.coleans.findLast((c) => c.key === key && c.end === null);
      if (open) open.end = msg.t;
    } else if (msg.kind === 'correlation') {
      if (Number.isFinite(msg.r)) {
        dyad.r = msg.r;
        dyad.rT = msg.t;
        dyad.lag_s = msg.lag_s ?? dyad.lag_s;
      }
    } else if (msg.kind === 'onset_followed') {
      dyad.leader = msg.leader ?? dyad.leader;
      dyad.lag_s = msg.lag_s ?? dyad.lag_s;
    }
  }

  applyStatus(msg) {
    this.upsertSensor(String(msg.sensor), msg);
    if (msg.participant) this.ensureParticipant(String(msg.participant));
    // Status arrives every second per sensor, so the clock keeps moving with no angles.
    this.advance(msg.t);
  }

  /** A hub's health (aggregator only): the latest event per hub, never removed. */
  applyHub(msg) {
    const id = String(msg.hub);
    if (!this.hubs.has(id)) {
      if (this.hubs.size >= MAX_HUBS) return;
      this.layoutVersion += 1;
    }
    this.hubs.set(id, { ...msg, hub: id, receivedAt: Date.now() });
  }

  upsertSensor(id, fields) {
    if (!this.sensors.has(id)) {
      if (this.sensors.size >= MAX_SENSORS) return;
      this.layoutVersion += 1;
    }
    const prev = this.sensors.get(id) ?? { sensor: id };
    this.sensors.set(id, { ...prev, ...fields, sensor: id });
  }
}
