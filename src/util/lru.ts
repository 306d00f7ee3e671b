/** One entry of {@link LruCache}, on its recency list. */
interface LruNode<K, V> {
  key: K;
  value: V;
  weight: number;
  /** Less recently used neighbour (null: this is the least recently used). */
  older: LruNode<K, V> | null;
  /** More recently used neighbour (null: this is the most recently used). */
  newer: LruNode<K, V> | null;
}

/**
 * A least-recently-used map bounded by a byte budget (each value's weight is given on insert).
 * O(1) get and set: a Map finds the entry, a doubly linked list keeps the recency order. (It
 * once kept the order by deleting and re-inserting Map keys on every hit; the deleted slots
 * that left in the Map's table made hits and evictions cost microseconds on a server's read path.)
 */
export class LruCache<K, V> {
  private readonly map = new Map<K, LruNode<K, V>>();
  /** Least recently used entry: evicted first. */
  private oldest: LruNode<K, V> | null = null;
  /** Most recently used entry. */
  private newest: LruNode<K, V> | null = null;
  private total = 0;

  /**
   * @param budget most total weight (bytes) kept; 0 disables caching.
   * @param onEvict called with each value the budget pushes out or a new value for its key
   *   replaces (not for values dropped by {@link clear}).
   */
  constructor(readonly budget: number, private readonly onEvict?: (value: V, key: K) => void) {}

  /** The value for `key`, now the most recently used; undefined when absent. */
  get(key: K): V | undefined {
    const node = this.map.get(key);
    if (!node) return undefined;
    if (node !== this.newest) {
      this.unlink(node);
      this.append(node);
    }
    return node.value;
  }

  /** Whether `key` is held (its recency unchanged). */
  has(key: K): boolean {
    return this.map.has(key);
  }

  /**
   * Holds `value` for `key` as the most recently used, then lets the least recently used go
   * until the total weight is within budget. A value heavier than the whole budget is not held
   * (and a value already held for `key` stays).
   */
  set(key: K, value: V, weight: number): void {
    if (weight > this.budget) return;
    const old = this.map.get(key);
    if (old) {
      this.total -= old.weight;
      this.unlink(old);
      this.map.delete(key);
      if (old.value !== value) this.onEvict?.(old.value, key);
    }
    const node: LruNode<K, V> = { key, value, weight, older: null, newer: null };
    this.append(node);
    this.map.set(key, node);
    this.total += weight;
    while (this.total > this.budget && this.oldest) {
      const out = this.oldest;
      this.unlink(out);
      this.map.delete(out.key);
      this.total -= out.weight;
      this.onEvict?.(out.value, out.key);
    }
  }

  clear(): void {
    this.map.clear();
    this.oldest = this.newest = null;
    this.total = 0;
  }

  /** Total weight currently held. */
  get weight(): number {
    return this.total;
  }

  private unlink(node: LruNode<K, V>): void {
    if (node.older) node.older.newer = node.newer;
    else this.oldest = node.newer;
    if (node.newer) node.newer.older = node.older;
    else this.newest = node.older;
    node.older = node.newer = null;
  }

  private append(node: LruNode<K, V>): void {
    node.older = this.newest;
    node.newer = null;
    if (this.newest) this.newest.newer = node;
    else this.oldest = node;
    this.newest = node;
  }
}
