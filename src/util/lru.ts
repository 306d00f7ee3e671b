/**
 * A least-recently-used map bounded by a byte budget (each value's weight is given on insert).
 * Uses Map's insertion order; O(1) get and set.
 */
export class LruCache<K, V> {
  private readonly map = new Map<K, { value: V; weight: number }>();
  private total = 0;

  /**
   * @param budget most total weight (bytes) kept; 0 disables caching.
   * @param onEvict called with each value the budget pushes out or a new value for its key
   *   replaces (not for values dropped by {@link clear}).
   */
  constructor(readonly budget: number, private readonly onEvict?: (value: V, key: K) => void) {}

  get(key: K): V | undefined {
    const hit = this.map.get(key);
    if (!hit) return undefined;
    this.map.delete(key);
    this.map.set(key, hit);
    return hit.value;
  }

  has(key: K): boolean {
    return this.map.has(key);
  }

  set(key: K, value: V, weight: number): void {
    if (weight > this.budget) return;
    const old = this.map.get(key);
    if (old) {
      this.total -= old.weight;
      this.map.delete(key);
      if (old.value !== value) this.onEvict?.(old.value, key);
    }
    this.map.set(key, { value, weight });
    this.total += weight;
    for (const [k, v] of this.map) {
      if (this.total <= this.budget) break;
      this.map.delete(k);
      this.total -= v.weight;
      this.onEvict?.(v.value, k);
    }
  }

  clear(): void {
    this.map.clear();
    this.total = 0;
  }

  /** Total weight currently held. */
  get weight(): number {
    return this.total;
  }
}
