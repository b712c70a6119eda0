#!/usr/bin/env node
// @ts-check
// A simulation for docs/SCALING.md: how many Durable Objects a global Parley needs, and how evenly hashing
// spreads the load over them. Users get synthetic names, names are hashed to directory shards and users to home
// lobbies exactly as the design says, and the peak events per second of the busiest object are counted.
//
//   node scripts/scaling-sim.mjs [--capacity EVENTS_PER_S] [--users 10000,100000,1000000]

import { parseArgs } from "node:util";
// The hash the directory itself picks its shard with, so what is simulated is what runs.
import { shardOf } from "../public/wire/shard.js";

const { values } = parseArgs({
  options: {
    // Events per second one object sustains; measure it with `npm run bench` (the Lobby's relayed msgs/s).
    capacity: { type: "string", default: "1000" },
    users: { type: "string", default: "10000,100000,1000000,5000000" },
    // Workload per online user at the busy hour.
    "msgs-per-user-min": { type: "string", default: "2" },
    "logins-per-user-hour": { type: "string", default: "1" },
    "chats-per-user-hour": { type: "string", default: "2" },
    headroom: { type: "string", default: "0.5" },
  },
});

const capacity = Number(values.capacity);
const headroom = Number(values.headroom);
const msgsPerUserS = Number(values["msgs-per-user-min"]) / 60;
const loginsPerUserS = Number(values["logins-per-user-hour"]) / 3600;
const chatsPerUserS = Number(values["chats-per-user-hour"]) / 3600;
const SOCKET_LIMIT = 32_768; // hibernatable WebSockets per object

/** The busiest bin's share over the mean when `n` named users are hashed into `bins` (measured, not estimated). */
function imbalance(n, bins, salt) {
  const counts = new Uint32Array(bins);
  for (let i = 0; i < n; i++) counts[shardOf(`${salt}user${i}`, bins)]++;
  let max = 0;
  for (const c of counts) if (c > max) max = c;
  return max / (n / bins);
}

/** Smallest object count whose busiest object stays under the target load, hashing measured at that count. */
function objectsFor(n, perUserLoad, perObjectBudget, salt, socketsMatter) {
  let bins = Math.max(1, Math.ceil((n * perUserLoad) / perObjectBudget));
  if (socketsMatter) bins = Math.max(bins, Math.ceil(n / (SOCKET_LIMIT * headroom)));
  for (;;) {
    const peak = imbalance(n, bins, salt);
    const perObjectUsers = (n / bins) * peak;
    const load = perObjectUsers * perUserLoad;
    if (load <= perObjectBudget && (!socketsMatter || perObjectUsers <= SOCKET_LIMIT * headroom)) {
      return { bins, peak, load, perObjectUsers };
    }
    bins = Math.ceil(bins * 1.1);
  }
}

const budget = capacity * headroom;
console.log(`per-object capacity ${capacity} events/s, planned at ${Math.round(headroom * 100)}% (${budget} events/s)`);
console.log(
  `workload per online user: ${values["msgs-per-user-min"]} msgs/min, ${values["logins-per-user-hour"]} login/h, ${values["chats-per-user-hour"]} chats/h`,
);
console.log("");
console.log("users      | homes | busiest home: users, events/s | dir shards | busiest shard events/s | RPCs per chat");
for (const n of values.users.split(",").map(Number)) {
  // A home lobby handles its users' frames: every chat line in and out, logins, requests, answers.
  const homeLoad = msgsPerUserS * 2 + loginsPerUserS * 3 + chatsPerUserS * 4;
  const home = objectsFor(n, homeLoad, budget, "home", true);
  // A directory shard sees a claim and a release per login, and one lookup per connection request.
  const dirLoad = loginsPerUserS * 2 + chatsPerUserS;
  const dir = n === 0 ? null : objectsFor(n, dirLoad, budget, "dir", false);
  // Pairing across homes: lookup + deliver request + deliver answer; each relayed line then costs one RPC.
  const crossShare = home.bins > 1 ? 1 - 1 / home.bins : 0;
  console.log(
    `${String(n).padEnd(10)} | ${String(home.bins).padStart(5)} | ${String(Math.round(home.perObjectUsers)).padStart(6)}, ${home.load.toFixed(0).padStart(5)} (x${home.peak.toFixed(2)} mean) | ${String(dir?.bins ?? 0).padStart(10)} | ${(dir?.load ?? 0).toFixed(1).padStart(22)} | 3 + 1 per line (${(crossShare * 100).toFixed(0)}% of chats cross homes)`,
  );
}
