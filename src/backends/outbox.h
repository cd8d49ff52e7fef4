// outbox.h: the transactional outbox of the cluster store: what each Redis Function call appends to
// its partition's stream, inside the same atomic call as the change it describes, and what the
// ledger writer (ledger.h) applies to PostgreSQL.
//
// Streams: one per partition, key outbox_key(k) = "{p<k>}:out" (k in [0, kPartitions)), trimmed with
// XADD ... MAXLEN ~ kOutboxMaxLen (a ledger down for longer loses entries; the reconciler repairs the
// levels, see docs/cluster.md). Channel settings live in partition 0.
//
// Entry fields (all values are decimal integers or identifiers, no spaces; times in epoch ms):
//   t=sku   a SKU changed: sku, ver (the SKU's version after the change: +1 per change, so (sku, ver)
//           names one change exactly once), kind (set | adjust | alloc | hold | release | expire |
//           confirm | pool_close), d_oh (on_hand delta), d_hd (held delta), ref (adjustment ref or
//           hold id, may be empty), reason (adjustment reason, may be empty), at, and the levels after:
//           oh (on_hand), ss (safety_stock), hd (held); for the events feed (docs/cluster.md "Events
//           feed"): fr (every bucket's free units after the change, "b=n;b=n", b as in the SKU hash:
//           sh, f:<channel>, p:<pool>), cfg (the SKU's allocation as cluster_policy.h encodes it, may be
//           empty), lst (explicit low-stock threshold, -1: none), base (on_hand last set or adjusted).
//           Entries written before these four existed lack them; the ledger then keeps what it had.
//           ch: the hold's channel for the hold kinds (hold, release, expire, confirm), else empty
//           (library version 5; older entries lack it: the movement then has no channel).
//           parts (optional, library version 7): the earlier takes of the same SKU in the same call
//           (hold_create_many), "ver|ref|ch|d_hd|at;..." in ascending versions below ver, at most 256;
//           each is a hold change of its own (a movement); the entry's figures are the SKU's after
//           all of the call's takes of it (the ledger keeps the highest version's figures). One entry instead of one per hold is most of the outbox's cost per hold.
//   t=hold  a hold changed state: id, ch (channel), st (held | confirmed | released | expired),
//           lines ("sku:qty,sku:qty"), cat (created_at), exp (expires_at), fin (finished_at, 0 while
//           held), hver (the hold's version after the change, +1 per change). more (optional,
//           library version 7): the other holds the same hold_create_many call made held before this
//           one (its entry is the call's last new hold of that partition), "id|ch|lines|cat|exp|hver;..."
//           (state held, fin 0), at most 256; each is a hold change of its own.
//   t=ch    a channel was put: ch, prio, ttl, st (active | frozen), at; lst (library version 9:
//           1 while the channel is listed, 0 when direct; absent in older entries: 0).
//   t=pub   (library version 9) a publication of a listed channel (docs/cluster.md "Listed channels on
//           the cluster store"): ch (channel), sku, q (the quantity published), v (the version of the
//           (channel, SKU) publication: +1 per publication of that pair, from 1), at. The ledger
//           numbers them per channel (seq) in PostgreSQL, coalesced per (channel, SKU): a v not above
//           the one applied is a repeat and changes nothing.
//   t=dfc   (library version 9) stock fell below held + exposed and an exposure was cut (the
//           exposure_deficit event): sku, ch, cut (units), left (the exposure after), oh (on_hand), at
//           (0 when the call had no time, e.g. a reconciler's repair).
//   t=sku entries of kind expose (library version 9): units moved into or out of exposures; no
//           movement (the ledger's stock_movements keeps the row, GET /v1/movements skips it).
#pragma once
#include <string>

namespace stockd::backends {

inline constexpr long kOutboxMaxLen = 1'000'000;

inline std::string partition_tag(int k) { return "{p" + std::to_string(k) + "}"; }
inline std::string outbox_key(int k) { return partition_tag(k) + ":out"; }

}  // namespace stockd::backends
