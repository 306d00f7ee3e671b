/**
 * LruCache against a plain model (an array in recency order): random gets, sets of new and
 * existing keys, values heavier than the budget, clears; after every step the same keys,
 * values, total weight and evicted values, in the same order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LruCache } from '../src/util/lru.ts';
import { Rng } from './helpers.ts';

test('LruCache keeps what a model of recency and budget keeps, and reports the same evictions', () => {
  for (const budget of [0, 1, 10, 37, 100]) {
    const rng = new Rng(budget + 5);
    const evicted: string[] = [];
    const lru = new LruCache<number, string>(budget, (v, k) => evicted.push(`${k}=${v}`));
    let model: { key: number; value: string; weight: number }[] = []; // oldest first
    const modelEvicted: string[] = [];
    for (let step = 0; step < 3000; step++) {
      const key = rng.int(20);
      const op = rng.int(10);
      if (op < 4) {
        const i = model.findIndex((e) => e.key === key);
        const got = lru.get(key);
        if (i < 0) assert.equal(got, undefined, `step ${step}: get ${key}`);
        else {
          assert.equal(got, model[i].value, `step ${step}: get ${key}`);
          model.push(model.splice(i, 1)[0]);
        }
      } else if (op < 9) {
        const weight = rng.int(Math.max(2, Math.ceil(budget / 3))) + (rng.int(20) === 0 ? budget : 0);
        const value = rng.int(3) === 0 ? (model.find((e) => e.key === key)?.value ?? `v${step}`) : `v${step}`;
        lru.set(key, value, weight);
        if (weight <= budget) {
          const i = model.findIndex((e) => e.key === key);
          if (i >= 0) {
            const [old] = model.splice(i, 1);
            if (old.value !== value) modelEvicted.push(`${key}=${old.value}`);
          }
          model.push({ key, value, weight });
          while (model.reduce((n, e) => n + e.weight, 0) > budget) {
            const out = model.shift()!;
            modelEvicted.push(`${out.key}=${out.value}`);
          }
        }
      } else if (rng.int(30) === 0) {
        lru.clear();
        model = [];
      } else {
        assert.equal(lru.has(key), model.some((e) => e.key === key), `step ${step}: has ${key}`);
      }
      assert.equal(lru.weight, model.reduce((n, e) => n + e.weight, 0), `step ${step}: weight`);
      assert.deepEqual(evicted, modelEvicted, `step ${step}: evictions`);
    }
    // Everything the model holds is still there, in any order of asking.
    for (const e of [...model]) assert.equal(lru.has(e.key), true);
  }
});
