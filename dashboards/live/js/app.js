/**
 * sensorhub live dashboard: wires the websocket, the session model and the views.
 *
 * Messages only update the model (cheap, any rate); drawing happens in one animation-frame
 * loop at most RENDER_INTERVAL_MS apart, so a burst of thousands of messages costs one redraw.
 *
 * window.sensorhubDebug.snapshot() returns a read-only summary (point counts, capacities,
 * connection state) for tests and for a curious person at the console.
 */

import { Connection, pageToken, websocketUrl } from './connection.js';
import { fmtClock } from './format.js';
import { SessionModel } from './model.js';
import { HubPanel, MarkerList, Notices, SensorCards } from './panels.js';
import { ReplayBar } from './replay.js';
import { Timeline } from './timeline.js';
import { TracePanel } from './trace.js';

/** 10 redraws a second matches the 10 Hz angle stream; more would only burn CPU. */
const RENDER_INTERVAL_MS = 100;
/** Age texts ("no data for 4 s") need a redraw even when nothing arrives. */
const IDLE_RENDER_MS = 1000;
/** Label sent when the label field is empty. */
const DEFAULT_MARKER_LABEL = 'marker';

const $ = (id) => document.getElementById(id);

const model = new SessionModel();
const notices = new Notices($('notices'));
const timeline = new Timeline($('timeline'), model);
const sensorCards = new SensorCards($('sensors'), model);
const markerList = new MarkerList($('markers'), model);
const hubPanel = new HubPanel($('hubs-card'), $('hubs'), model);
const replayBar = new ReplayBar($('replay-bar'), {
  notify: (text, kind) => notices.show(text, kind),
});
/** @type {Map<string, TracePanel>} */
const panels = new Map();
let panelsVersion = -1;
let windowS = 120;
let dirty = true;
let lastRender = 0;
let renders = 0;
let renderMs = 0; // duration of the last render, for the debug hook
const sent = { add_marker: 0, calibrate: 0 };

const connection = new Connection(websocketUrl(), { onMessage, onState });

/** Send a client message; counts it for the debug hook. */
function send(msg) {
  const ok = connection.send(msg);
  if (ok && msg.type in sent) sent[msg.type] += 1;
  return ok;
}

const actions = { send, notify: (text, kind) => notices.show(text, kind) };

/**
 * connection.opens when this socket's hello came: a second hello on it means a restart,
 * except from an aggregator of several hubs, which sends one whenever a hub brings new
 * participants (the model merges it).
 */
let helloOnSocket = -1;

function onMessage(msg) {
  if (msg.type === 'hello' && helloOnSocket === connection.opens && !msg.aggregator) {
    // The hub started its stream over (a replay seeking backwards): forget what it showed.
    model.reset();
  }
  const what = model.apply(msg);
  if (what === 'hello') {
    helloOnSocket = connection.opens;
    connection.markHealthy();
    loadMarkers(model.session);
    $('session-id').textContent = model.session ?? '—';
    $('replay-badge').hidden = !model.replay;
    // An aggregator cannot calibrate (each hub does, on its own dashboard): no such buttons.
    document.body.classList.toggle('aggregator', model.aggregator);
    replayBar.setActive(model.replay);
    setConnText();
  } else if (what === 'error') {
    const code = msg.code ? `${msg.code}: ` : '';
    notices.show(`${code}${msg.message ?? 'error from the hub'}`, 'error');
  } else if (what === 'ack') {
    onAck(msg);
  }
  dirty = true;
}

/**
 * Markers set before this page connected (a reload mid-session must not lose them), from the
 * hub's REST API. Best effort: without it the list still fills from live marker events.
 */
async function loadMarkers(session) {
  const token = pageToken();
  try {
    const res = await fetch('/api/markers', {
      headers: token ? { Authorization: `Bearer ${token}` } : {},
      cache: 'no-store',
    });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const body = await res.json();
    if (model.session !== session || !Array.isArray(body.markers)) return;
    model.mergeMarkers(body.markers);
    dirty = true;
  } catch (err) {
    console.warn('sensorhub: could not load earlier markers:', err);
  }
}

/** The hub accepted a request: confirm it in words a lab assistant can act on. */
function onAck(msg) {
  const r = msg.result && typeof msg.result === 'object' ? msg.result : {};
  if (msg.request === 'add_marker') {
    notices.show(`Marker “${r.label ?? ''}” added at ${fmtClock(r.t)}`, 'info');
  } else if (msg.request === 'calibrate') {
    const who = r.participant ?? '';
    if (r.step) {
      const secs = Number.isFinite(r.capturing_s) ? ` for ${r.capturing_s} s` : '';
      const pose = r.step === 'upright' ? 'sit upright and still' : 'lean forward and hold';
      notices.show(`${who}: ${pose}${secs} (capturing ${r.step} pose)`, 'info');
    } else if (r.calibration) {
      notices.show(`${who}: calibration reset (${r.calibration.method ?? 'default'})`, 'info');
      const part = model.participants.get(String(who));
      if (part) part.calibration = r.calibration.method ?? null;
      panels.get(String(who))?.setCalibration(part?.calibration);
    }
  }
}

function setConnText(state = connection.state, info = {}) {
  const pill = $('conn');
  pill.className = `conn conn-${state}`;
  let text;
  if (state === 'open') text = model.session === null ? 'Connected' : 'Live';
  else if (state === 'connecting') text = connection.opens ? 'Reconnecting…' : 'Connecting…';
  else {
    const secs = Math.max(0, Math.ceil((connection.retryAt - Date.now()) / 1000));
    text = `Offline · retry in ${secs} s`;
    pill.title = `${info.reason ?? 'disconnected'} — click to retry now`;
  }
  if (state !== 'waiting') pill.title = 'Websocket connection to the hub';
  $('conn-text').textContent = text;
  const live = state === 'open';
  $('marker-button').disabled = !live;
  for (const b of document.querySelectorAll('.calib button')) b.disabled = !live;
}

let lastConnInfo = {};
function onState(state, info) {
  lastConnInfo = info;
  if (state === 'waiting' && info.hubReason) {
    notices.show(`Hub closed the connection: ${info.hubReason}`, 'error');
  }
  setConnText(state, info);
}

/** Keep one TracePanel per participant, in the hub's order. */
function syncPanels() {
  if (panelsVersion === model.layoutVersion) return;
  panelsVersion = model.layoutVersion;
  const box = $('traces');
  for (const [id, panel] of panels) {
    if (model.participants.get(id) !== panel.part) {
      panel.destroy();
      panels.delete(id);
    }
  }
  for (const part of model.participants.values()) {
    if (!panels.has(part.id)) panels.set(part.id, new TracePanel(part, model, actions));
  }
  box.replaceChildren(...[...panels.values()].map((p) => p.root));
  box.dataset.count = String(panels.size);
  if (panels.size === 0) {
    const p = document.createElement('p');
    p.className = 'placeholder';
    p.textContent = 'Waiting for the hub…';
    box.append(p);
  }
  for (const p of panels.values()) p.resize();
  setConnText();
}

function render() {
  const started = performance.now();
  syncPanels();
  // Until a full window has passed, show [0, window] rather than negative session times.
  const xMax = Number.isFinite(model.now) ? Math.max(model.now, windowS) : windowS;
  for (const panel of panels.values()) panel.render(xMax, windowS);
  const first = panels.values().next().value;
  timeline.render(xMax - windowS, xMax, first ? first.plotRect() : null);
  sensorCards.render();
  hubPanel.render();
  markerList.render();
  $('session-clock').textContent = fmtClock(model.now);
  if (connection.state === 'waiting') setConnText('waiting', lastConnInfo);
  renders += 1;
  renderMs = performance.now() - started;
}

function frame(ts) {
  requestAnimationFrame(frame);
  const due = dirty ? RENDER_INTERVAL_MS : IDLE_RENDER_MS;
  if (ts - lastRender < due) return;
  lastRender = ts;
  dirty = false;
  render();
}

function wireControls() {
  $('marker-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const input = $('marker-label');
    // The hub wants a non-empty label; one click with no text still marks the moment.
    const label = input.value.trim() || DEFAULT_MARKER_LABEL;
    if (send({ type: 'add_marker', label })) {
      input.value = '';
    } else {
      notices.show('Not connected: marker not sent', 'error');
    }
  });
  for (const b of document.querySelectorAll('.window-select button')) {
    b.addEventListener('click', () => {
      windowS = Number(b.dataset.window);
      for (const o of document.querySelectorAll('.window-select button')) {
        o.setAttribute('aria-pressed', String(o === b));
      }
      dirty = true;
    });
  }
  $('conn').addEventListener('click', () => connection.retryNow());
}

/** Read-only view of the dashboard's state, for tests and the console. */
function snapshot() {
  const traces = {};
  for (const [id, part] of model.participants) {
    const panel = panels.get(id);
    traces[id] = {
      points: part.trace.length,
      capacity: part.trace.capacity,
      updates: part.updates,
      lastT: Number.isFinite(part.trace.lastT) ? part.trace.lastT : null,
      drawnPoints: panel ? panel.drawnPoints : 0,
      renders: panel ? panel.renders : 0,
    };
  }
  return {
    connection: connection.state,
    opens: connection.opens,
    session: model.session,
    now: Number.isFinite(model.now) ? model.now : null,
    windowS,
    renders,
    renderMs: Math.round(renderMs * 100) / 100,
    traces,
    episodes: { stored: model.episodes.length, capacity: model.episodes.capacity },
    coleans: { stored: model.coleans.length, capacity: model.coleans.capacity },
    markers: { stored: model.markers.length, capacity: model.markers.capacity },
    timelineItems: timeline.itemCount,
    sensors: model.sensors.size,
    aggregator: model.aggregator,
    hubs: Object.fromEntries([...model.hubs].map(([id, h]) => [id, h.state])),
    hubPanelShown: hubPanel.shown,
    sent: { ...sent },
    replay: { shown: replayBar.active, requests: replayBar.requests, state: replayBar.state },
    stats: {
      ...model.stats,
      badFrames: connection.badFrames,
      handlerErrors: connection.handlerErrors,
    },
  };
}

Object.defineProperty(window, 'sensorhubDebug', {
  value: Object.freeze({ snapshot }),
  writable: false,
  configurable: false,
});

wireControls();
setConnText();
connection.start();
requestAnimationFrame(frame);
