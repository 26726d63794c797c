/** Colours and text formatting shared by the dashboard's views. */

/**
 * Participant colours: the Okabe–Ito palette, distinguishable with the common colour-vision
 * deficiencies. Blue and orange first, so a dyad is never a red/green pair.
 */
export const PARTICIPANT_COLOURS = [
  '#0072B2', // blue
  '#E69F00', // orange
  '#009E73', // bluish green
  '#CC79A7', // reddish purple
  '#56B4E9', // sky blue
  '#D55E00', // vermilion
];

/** Colour for the i-th participant (wraps around). */
export function participantColour(index) {
  return PARTICIPANT_COLOURS[index % PARTICIPANT_COLOURS.length];
}

/** '#rrggbb' + alpha in [0, 1] -> 'rgba(r, g, b, a)'. */
export function withAlpha(hex, alpha) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}

/** Session seconds -> 'm:ss' (or 'h:mm:ss' past an hour); '–:––' when unknown. */
export function fmtClock(seconds) {
  if (!Number.isFinite(seconds)) return '–:––';
  const sign = seconds < 0 ? '−' : '';
  const s = Math.floor(Math.abs(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${sign}${h}:${String(m).padStart(2, '0')}:${ss}` : `${sign}${m}:${ss}`;
}

/** Degrees with one decimal and a real minus sign. */
export function fmtDeg(value) {
  if (!Number.isFinite(value)) return '–';
  const v = value.toFixed(1);
  return `${v.startsWith('-') ? '−' + v.slice(1) : v}°`;
}

/** A number with a fixed count of decimals, or '–'. */
export function fmtNum(value, decimals = 0) {
  return Number.isFinite(value) ? value.toFixed(decimals) : '–';
}

/** Create an element with a class and optional text. */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}
