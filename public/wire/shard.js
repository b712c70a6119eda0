// @ts-check
// Which directory shard owns a name key: FNV-1a over the key's UTF-16 code units, modulo the shard count. One copy,
// shared by the server (src/claims.ts) and scripts/scaling-sim.mjs, so the simulation measures the spread the
// directory really gets. Changing it moves every claim to another shard: only with every home and shard redeployed.

/**
 * FNV-1a, 32 bits: cheap, stable across runtimes and releases, and even enough for shard picking (the simulation
 * measures it within 6% of even at a million keys).
 * @param {string} s
 * @returns {number}
 */
export function fnv1a(s) {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/**
 * The shard, 0 to shards - 1, that owns `key`. A count that is not a whole number of at least 1 counts as 1, so a
 * misconfigured count sends everything to one shard rather than to none.
 * @param {string} key
 * @param {number} shards
 * @returns {number}
 */
export function shardOf(key, shards) {
  const n = Number.isSafeInteger(shards) && shards >= 1 ? shards : 1;
  return fnv1a(key) % n;
}
