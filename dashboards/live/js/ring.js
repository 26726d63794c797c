/**
 * Fixed-size containers. Everything the dashboard keeps over time lives in one of these, so
 * memory stays flat however long a session runs (4 participants x 10 Hz for hours).
 */

/**
 * A ring buffer of (t, y) points backed by two Float64Arrays allocated once.
 * A gap (no data) is stored as y = NaN and handed to uPlot as null, so the line breaks there.
 */
export class RingSeries {
  /** @param {number} capacity maximum number of points kept; the oldest are overwritten. */
  constructor(capacity) {
    if (!(capacity > 0)) throw new RangeError('capacity must be positive');
    this.capacity = Math.floor(capacity);
    this.t = new Float64Array(this.capacity);
    this.y = new Float64Array(this.capacity);
    this.start = 0; // index of the oldest point
    this.length = 0;
  }

  clear() {
    this.start = 0;
    this.length = 0;
  }

  /** Append a point (t must not go backwards; the caller checks). */
  push(t, y) {
    let i;
    if (this.length < this.capacity) {
      i = (this.start + this.length) % this.capacity;
      this.length += 1;
    } else {
      i = this.start; // overwrite the oldest
      this.start = (this.start + 1) % this.capacity;
    }
    this.t[i] = t;
    this.y[i] = y;
  }

  /** Time of the newest point, or -Infinity when empty. */
  get lastT() {
    if (this.length === 0) return -Infinity;
    return this.t[(this.start + this.length - 1) % this.capacity];
  }

  /** Value of the newest point (NaN for a gap or when empty). */
  get lastY() {
    if (this.length === 0) return NaN;
    return this.y[(this.start + this.length - 1) % this.capacity];
  }

  /** Time of the k-th oldest point. */
  tAt(k) {
    return this.t[(this.start + k) % this.capacity];
  }

  /** Index (0 = oldest) of the first point with t >= from: a binary search in ring order. */
  firstIndexFrom(from) {
    let lo = 0;
    let hi = this.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.tAt(mid) < from) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * Copy the points with t >= from (plus one before, so the line enters from the edge) into
   * fresh arrays for uPlot. Returns [xs, ys, yMin, yMax]; the copy is bounded by capacity.
   */
  window(from) {
    const first = Math.max(0, this.firstIndexFrom(from) - 1);
    const n = this.length - first;
    const xs = new Array(n);
    const ys = new Array(n);
    let yMin = Infinity;
    let yMax = -Infinity;
    for (let k = 0; k < n; k++) {
      const i = (this.start + first + k) % this.capacity;
      const y = this.y[i];
      xs[k] = this.t[i];
      if (Number.isNaN(y)) {
        ys[k] = null;
      } else {
        ys[k] = y;
        if (y < yMin) yMin = y;
        if (y > yMax) yMax = y;
      }
    }
    return [xs, ys, yMin, yMax];
  }
}

/** A fixed-capacity list of objects, oldest first; pushing beyond capacity drops the oldest. */
export class BoundedList {
  /** @param {number} capacity */
  constructor(capacity) {
    this.capacity = Math.floor(capacity);
    this.items = new Array(this.capacity).fill(undefined);
    this.start = 0;
    this.length = 0;
  }

  clear() {
    this.items.fill(undefined);
    this.start = 0;
    this.length = 0;
  }

  /** Append an item; returns the evicted item, if any. */
  push(item) {
    let evicted;
    if (this.length < this.capacity) {
      this.items[(this.start + this.length) % this.capacity] = item;
      this.length += 1;
    } else {
      evicted = this.items[this.start];
      this.items[this.start] = item;
      this.start = (this.start + 1) % this.capacity;
    }
    return evicted;
  }

  /** The k-th oldest item. */
  at(k) {
    return this.items[(this.start + k) % this.capacity];
  }

  /** Newest item matching pred, searching newest to oldest, or undefined. */
  findLast(pred) {
    for (let k = this.length - 1; k >= 0; k--) {
      const item = this.at(k);
      if (pred(item)) return item;
    }
    return undefined;
  }

  /** Iterate oldest to newest. */
  *[Symbol.iterator]() {
    for (let k = 0; k < this.length; k++) yield this.at(k);
  }
}
