// A Map with a size cap that evicts the least recently touched entry: every
// per-IP / per-account / per-Call-ID table in analytics and sources uses it so
// that an attacker spraying addresses cannot grow memory without bound.

export class BoundedMap<K, V> {
  readonly #map = new Map<K, V>();
  #evictions = 0;

  constructor(
    readonly capacity: number,
    private readonly onEvict?: (key: K, value: V) => void,
  ) {
    if (!(capacity >= 1)) throw new RangeError(`capacity must be >= 1, got ${capacity}`);
  }

  get size(): number {
    return this.#map.size;
  }

  /** How many entries were dropped because the cap was reached. */
  get evictions(): number {
    return this.#evictions;
  }

  /** Returns the value and marks it most recently used. */
  get(key: K): V | undefined {
    const v = this.#map.get(key);
    if (v !== undefined) {
      this.#map.delete(key);
      this.#map.set(key, v);
    }
    return v;
  }

  /** Returns the value without touching its recency. */
  peek(key: K): V | undefined {
    return this.#map.get(key);
  }

  has(key: K): boolean {
    return this.#map.has(key);
  }

  set(key: K, value: V): void {
    this.#map.delete(key);
    this.#map.set(key, value);
    while (this.#map.size > this.capacity) {
      const oldest = this.#map.keys().next();
      if (oldest.done) break;
      const old = this.#map.get(oldest.value) as V;
      this.#map.delete(oldest.value);
      this.#evictions++;
      this.onEvict?.(oldest.value, old);
    }
  }

  delete(key: K): boolean {
    return this.#map.delete(key);
  }

  clear(): void {
    this.#map.clear();
  }

  /** Oldest first. */
  entries(): IterableIterator<[K, V]> {
    return this.#map.entries();
  }

  values(): IterableIterator<V> {
    return this.#map.values();
  }
}
