/**
 * bounded-map.ts — a Map that never holds more than `capacity` entries. When
 * full, a new key pushes out the oldest one (Maps keep insertion order), so
 * an always-on cache stays the same size however long the device runs.
 */
export class BoundedMap<K, V> extends Map<K, V> {
  constructor(readonly capacity: number) {
    super();
    if (!(capacity >= 1)) throw new RangeError(`BoundedMap capacity must be at least 1, not ${capacity}`);
  }

  override set(key: K, value: V): this {
    if (this.size >= this.capacity && !this.has(key)) this.delete(this.keys().next().value as K);
    return super.set(key, value);
  }
}
