#!lua name=stockd
-- The cluster store's Redis Function library (FUNCTION LOAD). Mechanisms only; the policy (which
-- buckets a channel draws from, in which order; which buckets exist and in which order they are sized)
-- is computed in C++ (cluster_policy.cc) and passed in. Every function touches keys of one slot (one
-- partition "{p<k>}") and is atomic; every change is appended to the partition's outbox stream in the
-- same call (outbox.h describes the entries).
--
-- Numbers: Redis runs Lua 5.1, whose numbers are doubles; every quantity stays at most 10^15 (the
-- limit of both stores, far below 2^53) and is written back with string.format('%d') (tostring would print
-- 1e+15). A SKU hash (key "{p<k>}:s:<sku>") holds:
--   oh on_hand, ss safety_stock, hd held, ver version (+1 per change), mph max_per_hold (0: none),
--   lst explicit low-stock threshold (-1: none), base on_hand last set or adjusted, aver allocation
--   version, cfg the allocation as C++ encodes it, and per bucket b ("sh", "f:<channel>",
--   "p:<pool>"): F:b free, H:b held, S:b sold (pools), U:b its setting while it exists (fence
--   "u<units>" or "r<ppb>", pool "<units>"). A removed fence or closed pool has no U:b; its held units
--   go to shared when they come back.
--   A split (hot) SKU also has spl (shards now), smax (shards ever), X:<j> the units moved to shard j
--   (counted in hd: to the home hash a shard is one big hold on shared stock) and P:<T> a transfer T
--   begun and not ended ("<j>|out|<qty>" or "<j>|back|0").
-- A shard hash (key "{p<k>}:s:<sku>#<j>", in that name's partition) has the layout of a SKU without
-- allocation (oh, ss 0, hd, F:sh, ver, aver 0, mph copied from home) plus home (the SKU), in (units
-- moved in and not moved back: in - oh were sold here and not yet reported home) and t:<T> the
-- transfers it applied ("<free>|<sold>|<at>" or "<qty>|<at>").
-- A hold line (key "{p<k>}:l:<hold id>:<sku>", in the SKU's partition): st held|done|tomb, q, ch,
-- d draws "b=n;b=n", c consumed.
-- A hold (key "{p<k>}:h:<id>", in the hold id's partition): st pending|held|confirming|releasing|
-- expiring|aborting|confirmed|released|expired, ch, lines (request order "sku:qty,..."), canon
-- (sorted), conf (1: a sale), ttl (ms), cat, exp, fin, hver, cl (confirmed lines), t0 (step start).
-- Listed channels (library version 9; docs/cluster.md "Listed channels on the cluster store"): a SKU
-- hash also has ex (units exposed, all listed channels: not free, not held) and per listed channel c
-- E:c (units set aside for c), ED:c (their draws "b=n;b=n", counted in the buckets' H:b like a hold's),
-- EP:c (the quantity last published, -1 never), EV:c (the version of that publication, +1 each), EA:c
-- (the version c acknowledged) and ES:c (1: a hold took exposed units, publish again). The rules (how
-- much to expose and publish) are C++'s (core/allocation_policy.h); stockd_expose applies them.

local VERSION = 9
local OUTBOX_MAXLEN = '1000000'
local CLOSED = '9007199254740991'  -- the safety stock of a closed shard (see split_in)
local TOMBSTONE_MS = '600000'  -- kTombstoneMs (cluster_store_impl.h)

local function S(n) return string.format('%d', n) end
local function N(v) if v == nil or v == false or v == '' then return 0 end return tonumber(v) end

local function hmap(key)
  local r = redis.call('HGETALL', key)
  local m = {}
  for i = 1, #r, 2 do m[r[i]] = r[i + 1] end
  return m, r
end

local function err(code, msg) return {'ERR', code, msg} end

-- floor(ppb * s / 1e9) exactly in doubles, for ppb <= 1e9 and s < 2^53 (see the note above).
local function ratio_units(ppb, s)
  local hi = math.floor(s / 1e9)
  local lo = s - hi * 1e9
  if lo < 0 then hi = hi - 1; lo = lo + 1e9 end
  local x = math.floor(lo / 1e4)
  local y = lo - x * 1e4
  local a = ppb * x
  local b = ppb * y
  local q1 = math.floor(a / 1e5)
  local r1 = a - q1 * 1e5
  return ppb * hi + q1 + math.floor((r1 * 1e4 + b) / 1e9)
end

local function total_free(m) return math.max(0, N(m.oh) - N(m.ss) - N(m.hd) - N(m.ex)) end

local function outbox(key, fields)
  local args = {'XADD', key, 'MAXLEN', '~', OUTBOX_MAXLEN, '*'}
  for i = 1, #fields do args[#args + 1] = fields[i] end
  redis.call(unpack(args))
end

-- The free units of every bucket, "b=n;b=n" sorted (the events feed's per-channel figures, outbox.h).
local function frees(m)
  local r = {}
  for f, v in pairs(m) do
    if string.sub(f, 1, 2) == 'F:' then r[#r + 1] = string.sub(f, 3) .. '=' .. v end
  end
  table.sort(r)
  return table.concat(r, ';')
end

-- A shard reports oh - in and hd - in: summed with its home's row (whose hd counts the units moved to
-- the shard) they give the SKU's on_hand and held (docs/ledger.md).
-- parts (optional, library version 7): earlier takes of the same call, "ver|ref|ch|d_hd|at;..." (see
-- takes_flush), each a hold change of its own in the ledger.
local function sku_entry(out, sku, m, kind, d_oh, d_hd, ref, reason, now, ch, parts)
  local oh, hd = m.oh, m.hd
  if m['in'] ~= nil then oh = S(N(m.oh) - N(m['in'])); hd = S(N(m.hd) - N(m['in'])) end
  local f = {'t', 'sku', 'sku', sku, 'ver', m.ver, 'kind', kind, 'd_oh', S(d_oh), 'd_hd', S(d_hd),
             'ref', ref or '', 'reason', reason or '', 'at', now, 'oh', oh, 'ss', m.ss, 'hd', hd,
             'fr', frees(m), 'cfg', m.cfg or '', 'lst', m.lst or '-1', 'base', m.base or '0', 'ch', ch or ''}
  if parts and parts ~= '' then f[#f + 1] = 'parts'; f[#f + 1] = parts end
  outbox(out, f)
end

local function split(s, sep)
  local r = {}
  if s == nil or s == '' then return r end
  for part in string.gmatch(s, '([^' .. sep .. ']+)') do r[#r + 1] = part end
  return r
end

-- Units of one draw come back: to the bucket they came from while it exists (a pool only up to its
-- total), else shared; only the part that makes the SKU sellable again becomes free. cnt: the counter
-- they leave, 'hd' (a hold line, the default) or 'ex' (an exposure).
local function give_back(m, f, b, q, cnt)
  cnt = cnt or 'hd'
  local before = total_free(m)
  m[cnt] = S(N(m[cnt]) - q)
  local back = total_free(m) - before
  local target = 'F:sh'
  if b ~= 'sh' then
    m['H:' .. b] = S(N(m['H:' .. b]) - q)
    f['H:' .. b] = m['H:' .. b]
    local u = m['U:' .. b]
    if u and string.sub(b, 1, 2) == 'p:' then
      local room = math.max(0, tonumber(u) - N(m['S:' .. b]) - N(m['H:' .. b]) - N(m['F:' .. b]))
      local to_pool = math.min(back, room)
      m['F:' .. b] = S(N(m['F:' .. b]) + to_pool)
      f['F:' .. b] = m['F:' .. b]
      back = back - to_pool
    elseif u then
      target = 'F:' .. b
    end
  end
  m[target] = S(N(m[target]) + back)
  f[target] = m[target]
  f[cnt] = m[cnt]
end

-- Exposures (listed channels). Draws "b=n;b=n" as a list of {b, n}, and back.
local function draws_of(s)
  local r = {}
  for _, d in ipairs(split(s, ';')) do
    local eq = string.find(d, '=', 1, true)
    r[#r + 1] = {string.sub(d, 1, eq - 1), tonumber(string.sub(d, eq + 1))}
  end
  return r
end
local function draws_str(t)
  local r = {}
  for _, d in ipairs(t) do
    if d[2] > 0 then r[#r + 1] = d[1] .. '=' .. S(d[2]) end
  end
  return table.concat(r, ';')
end
local function setf(m, f, name, v) m[name] = v; f[name] = v end
-- Units exposed per channel in this partition ("{p<k>}:exs", channel -> units, beside the SKU hash
-- `key`): the channel view's `exposed` sums the partitions (ClusterStore::channel_exposed).
-- SKUs whose publication went stale ("{p<k>}:exd"): the node that changed them exposes them right
-- after; if it died first (or its expose lost every race), any node's full sweep does
-- (ClusterStore::sweep). stockd_expose removes a SKU once no channel's publication of it is stale.
local function exd_key(key) return string.sub(key, 1, string.find(key, '}', 1, true)) .. ':exd' end
local function mark_stale(key, m, f, c, sku)
  setf(m, f, 'ES:' .. c, '1')
  redis.call('SADD', exd_key(key), sku)
end
local function exs(key, c, delta)
  if delta == 0 then return end
  redis.call('HINCRBY', string.sub(key, 1, string.find(key, '}', 1, true)) .. ':exs', c, S(delta))
end

-- Gives q units of channel c's exposure back to the buckets they came from, last drawn first, as the
-- core's release_exposure. Writes into m and f.
local function expo_release(key, m, f, c, q)
  exs(key, c, -q)
  local d = draws_of(m['ED:' .. c])
  setf(m, f, 'E:' .. c, S(N(m['E:' .. c]) - q))
  while q > 0 and #d > 0 do
    local last = d[#d]
    local p = math.min(q, last[2])
    give_back(m, f, last[1], p, 'ex')
    last[2] = last[2] - p
    q = q - p
    if last[2] == 0 then d[#d] = nil end
  end
  setf(m, f, 'ED:' .. c, draws_str(d))
end

-- Stock fell below held + exposed (a set, an adjustment, a stock batch, a higher safety stock): the
-- exposures shrink to what is left, lowest priority first (`order`: the listed channels, lowest
-- priority first, from C++: core/allocation_policy.h deficit_cuts), each cut an outbox entry t=dfc
-- (the exposure_deficit event). Exposures of channels not in `order` go first.
local function cut_deficit(key, m, order, out, sku, now)
  local room = math.max(0, N(m.oh) - N(m.ss) - N(m.hd))
  local ex = N(m.ex)
  if ex <= room then return end
  local names, listed = {}, {}
  for _, c in ipairs(split(order, ',')) do listed[c] = true end
  for fld, v in pairs(m) do
    if string.sub(fld, 1, 2) == 'E:' and not listed[string.sub(fld, 3)] and N(v) > 0 then names[#names + 1] = string.sub(fld, 3) end
  end
  table.sort(names)
  for _, c in ipairs(split(order, ',')) do names[#names + 1] = c end
  local f = {}
  for _, c in ipairs(names) do
    if ex <= room then break end
    local u = N(m['E:' .. c])
    if u > 0 then
      local q = math.min(u, ex - room)
      expo_release(key, m, f, c, q)
      mark_stale(key, m, f, c, sku)
      ex = ex - q
      if out then
        outbox(out, {'t', 'dfc', 'sku', sku, 'ch', c, 'cut', S(q), 'left', m['E:' .. c], 'oh', m.oh, 'at', now or '0'})
      end
    end
  end
  local args = {'HSET', key}
  for k, v in pairs(f) do args[#args + 1] = k; args[#args + 1] = v end
  if #args > 2 then redis.call(unpack(args)) end
end

-- Sizes every bucket, in the order `plan` lists them (fences by channel priority, then pools); what
-- they do not take is shared. Buckets without a setting (U:b) get no free units. Writes into m and key.
-- The arithmetic is src/core/allocation_policy.h's fence_size and sized_free, here because it must be
-- atomic with the change of on_hand (docs/cluster.md, "Policy in C++, mechanisms in Redis Functions").
local function resize(key, m, plan, out, sku, now)
  -- plan: "<buckets>|<listed channels, lowest priority first>" (the part after | since version 9)
  local bar = string.find(plan or '', '|', 1, true)
  if bar then
    cut_deficit(key, m, string.sub(plan, bar + 1), out, sku, now)
    plan = string.sub(plan, 1, bar - 1)
  end
  local sellable = math.max(0, N(m.oh) - N(m.ss))
  local left = total_free(m)
  local set = {}
  for f, _ in pairs(m) do
    if string.sub(f, 1, 2) == 'F:' and f ~= 'F:sh' then set[f] = 0 end
  end
  for _, b in ipairs(split(plan, ',')) do
    local u = m['U:' .. b]
    if u then
      local want
      if string.sub(b, 1, 2) == 'f:' then
        local size
        if string.sub(u, 1, 1) == 'u' then size = tonumber(string.sub(u, 2))
        else size = ratio_units(tonumber(string.sub(u, 2)), sellable) end
        want = size - N(m['H:' .. b])
      else
        want = tonumber(u) - N(m['S:' .. b]) - N(m['H:' .. b])
      end
      local free = math.min(math.max(want, 0), left)
      set['F:' .. b] = free
      left = left - free
    end
  end
  set['F:sh'] = left
  local args = {'HSET', key}
  for f, v in pairs(set) do
    m[f] = S(v)
    args[#args + 1] = f
    args[#args + 1] = m[f]
  end
  redis.call(unpack(args))
end

-- Writes `fields` into the hash `key` and its copy `obj`, adding 1 to the version field `verf`.
local function versioned_set(key, obj, verf, fields)
  obj[verf] = S(N(obj[verf]) + 1)
  local args = {'HSET', key, verf, obj[verf]}
  for f, v in pairs(fields) do
    obj[f] = v
    args[#args + 1] = f
    args[#args + 1] = v
  end
  redis.call(unpack(args))
end

local function bump(key, m, fields) versioned_set(key, m, 'ver', fields) end

local function stale(m, aver)
  if (m.aver or '0') ~= aver then return {'STALE', m.aver or '0', m.cfg or '', m.spl or '0', m.smax or '0'} end
  return nil
end

local function flat(key) return {'OK', redis.call('HGETALL', key)} end

-- A call's context (hold_create_many: the holds of one partition in one call), or nil: every SKU
-- hash is read once (m, kept up to date in memory), its changed fields written once at the end
-- (ctx_flush), and the members added to a set or sorted set go in one command per key. Fewer
-- redis.call round trips through the Lua bridge is most of what a hold costs here (docs/benchmarks.md).
local function ctx_new()
  return {m = {}, dirty = {}, adds = {}, order = {}, takes = {}, taken = {}, holds = {}, houts = {}}
end
local function sku_get(ctx, key)
  if ctx == nil then return hmap(key) end
  local m = ctx.m[key]
  if m == nil then m = hmap(key); ctx.m[key] = m end
  return m
end
-- bump() for a SKU of the context: in memory, written by ctx_flush.
local function sku_bump(ctx, key, m, fields)
  if ctx == nil then return bump(key, m, fields) end
  local d = ctx.dirty[key]
  if d == nil then d = {}; ctx.dirty[key] = d end
  m.ver = S(N(m.ver) + 1)
  d.ver = m.ver
  for f, v in pairs(fields) do m[f] = v; d[f] = v end
end
-- redis.call(cmd, key, ...) now, or with the context once per (cmd, key) at ctx_flush.
local function ctx_add(ctx, cmd, key, ...)
  if ctx == nil then return redis.call(cmd, key, ...) end
  local id = cmd .. ' ' .. key
  local a = ctx.adds[id]
  if a == nil then a = {cmd, key}; ctx.adds[id] = a; ctx.order[#ctx.order + 1] = id end
  for _, v in ipairs({...}) do a[#a + 1] = v end
end
-- A call's outbox entries of one kind, merged: for every PARTS_MAX items of t (in order), one entry,
-- the last item's (emit(last, earlier)), the items before it encoded (encode(item)) and joined with ';'.
local PARTS_MAX = 256
local function merged_entries(t, encode, emit)
  for i = 1, #t, PARTS_MAX do
    local last = math.min(#t, i + PARTS_MAX - 1)
    local earlier = {}
    for j = i, last - 1 do earlier[#earlier + 1] = encode(t[j]) end
    emit(t[last], table.concat(earlier, ';'))
  end
end
-- A SKU's takes in this call: the last take's entry with the ones before it in `parts`
-- ("ver|ref|ch|d_hd|at"); the figures are the SKU's after all of the call's takes of it (a ledger
-- keeps the highest version's).
local function takes_flush(ctx, key)
  merged_entries(ctx.takes[key], function(x) return x.ver .. '|' .. x.ref .. '|' .. x.ch .. '|' .. S(x.qty) .. '|' .. x.at end,
    function(x, parts)
      local m = x.m
      local ver = m.ver
      m.ver = x.ver  -- the entry is its last take's
      sku_entry(x.out, x.sku, m, 'hold', 0, x.qty, x.ref, '', x.at, x.ch, parts)
      m.ver = ver
    end)
end
-- A take's outbox entry: now, or with the context at ctx_flush.
local function take_entry(ctx, key, out, sku, m, qty, ref, now, ch)
  if ctx == nil then return sku_entry(out, sku, m, 'hold', 0, qty, ref, '', now, ch) end
  local t = ctx.takes[key]
  if t == nil then t = {}; ctx.takes[key] = t; ctx.taken[#ctx.taken + 1] = key end
  t[#t + 1] = {ver = m.ver, ref = ref, ch = ch, qty = qty, at = now, out = out, sku = sku, m = m}
end
-- The call's new holds (held) of one stream: the last one's entry with the ones before it in `more`
-- ("id|ch|lines|cat|exp|hver": held, fin 0).
local function holds_flush(ctx, out)
  merged_entries(ctx.holds[out],
    function(x) return x.id .. '|' .. x.h.ch .. '|' .. x.h.lines .. '|' .. x.h.cat .. '|' .. x.h.exp .. '|' .. x.h.hver end,
    function(x, more)
      local h = x.h
      local f = {'t', 'hold', 'id', x.id, 'ch', h.ch, 'st', h.st, 'lines', h.cl or h.lines, 'cat', h.cat,
                 'exp', h.exp, 'fin', h.fin or '0', 'hver', h.hver}
      if more ~= '' then f[#f + 1] = 'more'; f[#f + 1] = more end
      outbox(out, f)
    end)
end
local function ctx_flush(ctx)
  if ctx == nil then return end
  for _, key in ipairs(ctx.taken) do takes_flush(ctx, key) end
  for _, out in ipairs(ctx.houts) do holds_flush(ctx, out) end
  for key, d in pairs(ctx.dirty) do
    local args = {'HSET', key}
    for f, v in pairs(d) do args[#args + 1] = f; args[#args + 1] = v end
    redis.call(unpack(args))
  end
  for _, id in ipairs(ctx.order) do redis.call(unpack(ctx.adds[id])) end
  ctx.m, ctx.dirty, ctx.adds, ctx.order, ctx.takes, ctx.taken, ctx.holds, ctx.houts = {}, {}, {}, {}, {}, {}, {}, {}
end

-- The hash of a SKU about to change, or nil and the answer to give instead: unknown SKU, or STALE
-- when the caller computed its policy from another allocation version than `aver`.
local function sku_for_change(key, sku, aver)
  local m = hmap(key)
  if m.ver == nil then return nil, err('unknown_sku', 'unknown sku ' .. sku) end
  local st = stale(m, aver)
  if st then return nil, st end
  return m
end

-- A SKU locked by a stock batch between its prepare and its end (bk: the batch) refuses other changes of
-- its stock and allocation until then: retry (see "Stock batches" below).
local function locked(sku, m)
  return err('overloaded', 'sku ' .. sku .. ' is being changed by stock batch ' .. m.bk .. ': retry')
end

-- KEYS: sku hash, outbox. ARGV: sku, now, plan, aver, on_hand, safety, max_per_hold, threshold, permille,
-- split ("" leaves a field as it is; max_per_hold 0 and threshold -1 clear). A new split count bumps
-- aver, so every node's cached view of the SKU is refreshed before it takes from it again.
local function sku_put(keys, args)
  local key, out = keys[1], keys[2]
  local m = hmap(key)
  if m.bk then return locked(args[1], m) end
  local is_new = m.ver == nil
  if is_new then m = {oh = '0', ss = '0', hd = '0', ver = '0', mph = '0', lst = '-1', base = '0', aver = '0'} end
  local st = stale(m, args[4])
  if st and not is_new then return st end
  local oh = args[5] ~= '' and tonumber(args[5]) or N(m.oh)
  local ss = args[6] ~= '' and tonumber(args[6]) or N(m.ss)
  if oh < N(m.hd) then
    return err('invalid_state', 'on_hand ' .. S(oh) .. ' is below the ' .. m.hd .. ' units held')
  end
  local d_oh = oh - N(m.oh)
  local f = {oh = S(oh), ss = S(ss)}
  -- The default threshold is recomputed from on_hand when on_hand is set and when the explicit one
  -- is cleared (as the core does; the differential test's seed 3 with split SKUs).
  if args[5] ~= '' or args[8] == '-1' then f.base = S(oh) end
  if args[7] ~= '' then f.mph = args[7] end
  if args[8] ~= '' then f.lst = args[8] end
  if is_new then f.hd = '0'; f.aver = '0'; f.lst = f.lst or '-1'; f.mph = f.mph or '0'; f.base = f.base or '0' end
  if (args[10] or '') ~= '' and args[10] ~= (m.spl or '0') then
    f.spl = args[10]
    f.smax = S(math.max(N(m.smax), N(args[10])))
    f.aver = S(N(f.aver or m.aver) + 1)
  end
  bump(key, m, f)
  resize(key, m, args[3], out, args[1], args[2])
  sku_entry(out, args[1], m, 'set', d_oh, 0, '', '', args[2])
  return flat(key)
end

-- KEYS: sku hash, outbox, refs hash, refs index. ARGV: sku, now, plan, aver, delta, reason, ref.
local function sku_adjust(keys, args)
  local key, out = keys[1], keys[2]
  local m, answer = sku_for_change(key, args[1], args[4])
  if not m then return answer end
  if m.bk then return locked(args[1], m) end
  local delta = tonumber(args[5])
  local ref = args[7]
  if ref ~= '' then
    local prev = redis.call('HGET', keys[3], ref)
    if prev then
      if prev == args[5] then return {'REPLAY', redis.call('HGETALL', key)} end
      return err('idempotency_conflict', 'ref ' .. ref .. ' was applied with delta ' .. prev)
    end
  end
  local oh = N(m.oh) + delta
  if oh < N(m.hd) then
    return err('invalid_state', 'adjustment would take on_hand to ' .. S(oh) .. ', below the ' .. m.hd .. ' units held')
  end
  if oh > 1000000000000000 then return err('invalid_request', 'on_hand would exceed 1000000000000000') end  -- limits.h kOnHandMax
  bump(key, m, {oh = S(oh), base = S(oh)})
  resize(key, m, args[3], out, args[1], args[2])
  if ref ~= '' then
    redis.call('HSET', keys[3], ref, args[5])
    redis.call('ZADD', keys[4], args[2], args[1] .. '\n' .. ref)
  end
  sku_entry(out, args[1], m, 'adjust', delta, 0, ref, args[6], args[2])
  return flat(key)
end

-- KEYS: sku hash, outbox. ARGV: sku, now, plan, aver, new cfg, then bucket/setting pairs (the new set
-- of fences and open pools). Bumps aver.
local function sku_alloc(keys, args)
  local key, out = keys[1], keys[2]
  local m, answer = sku_for_change(key, args[1], args[4])
  if not m then return answer end
  if m.bk then return locked(args[1], m) end
  local del = {}
  for f, _ in pairs(m) do
    if string.sub(f, 1, 2) == 'U:' then del[#del + 1] = f; m[f] = nil end
  end
  if #del > 0 then redis.call('HDEL', key, unpack(del)) end
  local f = {aver = S(N(m.aver) + 1), cfg = args[5]}
  for i = 6, #args, 2 do
    local v = args[i + 1]
    if string.sub(v, 1, 1) == 'n' then v = string.sub(v, 2); f['S:' .. args[i]] = '0' end
    f['U:' .. args[i]] = v
  end
  bump(key, m, f)
  resize(key, m, args[3], out, args[1], args[2])
  sku_entry(out, args[1], m, 'alloc', 0, 0, '', '', args[2])
  return flat(key)
end

-- KEYS: sku hash, outbox. ARGV: sku, now, aver, new cfg, pool. The pool's free units go to shared.
local function pool_close(keys, args)
  local key, out = keys[1], keys[2]
  local m, answer = sku_for_change(key, args[1], args[3])
  if not m then return answer end
  if m.bk then return locked(args[1], m) end
  local b = 'p:' .. args[5]
  if m['U:' .. b] == nil then return err('invalid_request', 'sku ' .. args[1] .. ' has no open pool ' .. args[5]) end
  redis.call('HDEL', key, 'U:' .. b)
  m['U:' .. b] = nil
  local free = N(m['F:' .. b])
  bump(key, m, {aver = S(N(m.aver) + 1), cfg = args[4], ['F:' .. b] = '0', ['F:sh'] = S(N(m['F:sh']) + free)})
  sku_entry(out, args[1], m, 'pool_close', 0, 0, '', '', args[2])
  return flat(key)
end

-- KEYS: sku hash, line, outbox, the SKU's set of live lines. ARGV: sku, hold id, channel, qty, aver,
-- now, attempt, buckets in
-- draw order... A line record belongs to one attempt (the hold record's att): a take of an attempt
-- that a repair tombstoned, or that a newer attempt replaced, is refused (TOMB).
-- take_refusal checks without writing: the answer to give instead of taking, or nil and the SKU's
-- and the line's hashes for take_apply.
local function take_refusal(key, line, args, ctx)
  local qty = tonumber(args[4])
  local l = hmap(line)
  if l.st ~= nil then
    if l.a == args[7] then
      if l.st == 'tomb' then return {'TOMB'} end
      if l.q == args[4] and l.ch == args[3] then return {'OK'} end
      return err('idempotency_conflict', 'hold ' .. args[2] .. ' already holds another quantity of ' .. args[1])
    end
    if l.st == 'held' then return {'TOMB'} end
  end
  local m = sku_get(ctx, key)
  if m.ver == nil then return {'UNKNOWN'} end
  local st = stale(m, args[5])
  if st then return st end
  -- "~": a frozen listed channel, which may take only its exposure
  if args[8] == '~' and N(m['E:' .. args[3]]) < qty then return {'FROZEN'} end
  if N(m.mph) > 0 and qty > N(m.mph) then return {'LIMIT', m.mph} end
  local avail = 0
  for i = 8, #args do avail = avail + N(m['F:' .. args[i]]) end
  if #args >= 8 then avail = avail + N(m['E:' .. args[3]]) end  -- a listed channel's exposure (none if frozen)
  if avail < qty then return {'SHORT', S(avail)} end
  return nil, m, l
end

local function take_apply(keys, args, m, l, ctx)
  local key, line, out = keys[1], keys[2], keys[3]
  local qty = tonumber(args[4])
  if l.st ~= nil then redis.call('DEL', line) end
  local f = {hd = S(N(m.hd) + qty)}
  local draws = {}
  local left = qty
  local function from_buckets(want)
    for i = 8, #args do
      if want == 0 then break end
      local b = args[i]
      local q = math.min(N(m['F:' .. b]), want)
      if q > 0 then
        setf(m, f, 'F:' .. b, S(N(m['F:' .. b]) - q))
        if b ~= 'sh' then setf(m, f, 'H:' .. b, S(N(m['H:' .. b]) + q)) end
        draws[#draws + 1] = b .. '=' .. S(q)
        left = left - q
        want = want - q
      end
    end
  end
  -- A listed channel takes its exposure first, its draws last drawn first (the core's take_exposed);
  -- with a webhook ("@" leads its buckets) while its latest publication of the SKU is unacknowledged,
  -- free units first (the core's take(): that publication may be on its way).
  local c = args[3]
  local e = N(m['E:' .. c])
  local pes = nil  -- the exposure's stale flag before this take (an abort restores it: line_finish)
  if e > 0 then
    if args[8] == '@' and N(m['EV:' .. c]) > N(m['EA:' .. c]) then
      local free = 0
      for i = 9, #args do free = free + N(m['F:' .. args[i]]) end
      if math.min(left, free) > 0 then
        from_buckets(math.min(left, free))
        -- published again even if the quantity stays (the core's take(): the marketplace counted
        -- this sale down)
        pes = m['ES:' .. c] or '0'
        mark_stale(key, m, f, c, args[1])
      end
    end
    local q = math.min(left, e)
    if q > 0 then
      local d = draws_of(m['ED:' .. c])
      local part = q
      while part > 0 do
        local last = d[#d]
        local p = math.min(part, last[2])
        draws[#draws + 1] = '!' .. last[1] .. '=' .. S(p)  -- "!": from the exposure (line_finish)
        last[2] = last[2] - p
        part = part - p
        if last[2] == 0 then d[#d] = nil end
      end
      setf(m, f, 'ED:' .. c, draws_str(d))
      setf(m, f, 'E:' .. c, S(e - q))
      setf(m, f, 'ex', S(N(m.ex) - q))
      exs(key, c, -q)
      pes = pes or m['ES:' .. c] or '0'
      mark_stale(key, m, f, c, args[1])
      left = left - q
    end
  end
  from_buckets(left)
  sku_bump(ctx, key, m, f)
  -- A line record that existed was deleted above, so the new one has no TTL to clear.
  if pes then
    redis.call('HSET', line, 'st', 'held', 'q', args[4], 'ch', args[3], 'd', table.concat(draws, ';'), 'c', '0', 'a', args[7], 'pes', pes)
  else
    redis.call('HSET', line, 'st', 'held', 'q', args[4], 'ch', args[3], 'd', table.concat(draws, ';'), 'c', '0', 'a', args[7])
  end
  ctx_add(ctx, 'SADD', keys[4], args[2])
  take_entry(ctx, key, out, args[1], m, qty, args[2], args[6], args[3])
end

local function take(keys, args)
  local answer, m, l = take_refusal(keys[1], keys[2], args)
  if answer then return answer end
  take_apply(keys, args, m, l)
  return {'OK'}
end

-- KEYS: sku hash, outbox. ARGV: sku, now, ver, then per listed channel: channel, units to draw,
-- quantity to publish (-1: none), number of buckets, its buckets in draw order. Applies what the node
-- computed (core/allocation_policy.h expose_sku) from the hash at version ver, atomically: units move
-- from free into the channel's exposure (the core's draw: merged per bucket), publications get the
-- next version of their (channel, SKU) pair and an outbox entry t=pub. The SKU changed since (or a
-- stock batch holds it): {'STALE', hash}, nothing written (the node computes again). Else {'OK', hash}.
local function expose(keys, args)
  local key, out = keys[1], keys[2]
  local m = hmap(key)
  if m.ver == nil then return {'GONE'} end
  if m.ver ~= args[3] or m.bk then return {'STALE', redis.call('HGETALL', key)} end
  local f, pubs = {}, {}
  local i = 4
  while i <= #args do
    local c, more, pub, nb = args[i], tonumber(args[i + 1]), tonumber(args[i + 2]), tonumber(args[i + 3])
    if more > 0 then
      local d = draws_of(m['ED:' .. c])
      local left = more
      for j = 1, nb do
        local b = args[i + 3 + j]
        local q = math.min(N(m['F:' .. b]), left)
        if q > 0 then
          setf(m, f, 'F:' .. b, S(N(m['F:' .. b]) - q))
          if b ~= 'sh' then setf(m, f, 'H:' .. b, S(N(m['H:' .. b]) + q)) end
          local merged = false
          for _, x in ipairs(d) do
            if x[1] == b then x[2] = x[2] + q; merged = true; break end
          end
          if not merged then d[#d + 1] = {b, q} end
          left = left - q
        end
      end
      if left > 0 then return err('invalid_state', 'sku ' .. args[1] .. ': ' .. S(left) .. ' units short for the exposure of ' .. c) end
      setf(m, f, 'ED:' .. c, draws_str(d))
      setf(m, f, 'E:' .. c, S(N(m['E:' .. c]) + more))
      setf(m, f, 'ex', S(N(m.ex) + more))
      exs(key, c, more)
    end
    if pub >= 0 then
      setf(m, f, 'EP:' .. c, S(pub))
      setf(m, f, 'EV:' .. c, S(N(m['EV:' .. c]) + 1))
      setf(m, f, 'ES:' .. c, '0')
      pubs[#pubs + 1] = c
    end
    i = i + 4 + nb
  end
  local stale_left = false
  for fld, v in pairs(m) do
    if string.sub(fld, 1, 3) == 'ES:' and v == '1' then stale_left = true end
  end
  if not stale_left then redis.call('SREM', exd_key(key), args[1]) end
  if next(f) == nil then return {'OK', redis.call('HGETALL', key)} end
  bump(key, m, f)
  sku_entry(out, args[1], m, 'expose', 0, 0, '', '', args[2])
  for _, c in ipairs(pubs) do
    outbox(out, {'t', 'pub', 'ch', c, 'sku', args[1], 'q', m['EP:' .. c], 'v', m['EV:' .. c], 'at', args[2]})
  end
  return {'OK', redis.call('HGETALL', key)}
end

-- The SKU hash an acknowledgement or a drop changes, or nil and the answer instead (no such SKU, or
-- a stock batch holds it: retry).
local function expo_sku(keys, args)
  local m = hmap(keys[1])
  if m.ver == nil then return nil, {'GONE'} end
  if m.bk then return nil, locked(args[1], m) end
  return m
end

-- KEYS: sku hash, outbox. ARGV: sku, now, channel, version. The channel acknowledged version `version`
-- of its publication of the SKU: remembered (EA), and if it is still the latest, the units set aside
-- above the published quantity go back (core/allocation_policy.h ack_excess). Idempotent.
-- Answers {'OK', hash} ({'GONE'}: no such SKU).
local function expose_ack(keys, args)
  local key, out = keys[1], keys[2]
  local m, answer = expo_sku(keys, args)
  if not m then return answer end
  local c = args[3]
  if N(m['EA:' .. c]) >= N(args[4]) then return {'OK', redis.call('HGETALL', key)} end
  redis.call('HSET', key, 'EA:' .. c, args[4])
  m['EA:' .. c] = args[4]
  if m['EV:' .. c] == args[4] then
    local excess = math.max(0, N(m['E:' .. c]) - N(m['EP:' .. c]))
    if excess > 0 then
      local f = {}
      expo_release(key, m, f, c, excess)
      bump(key, m, f)
      sku_entry(out, args[1], m, 'expose', 0, 0, '', '', args[2])
    end
  end
  return {'OK', redis.call('HGETALL', key)}
end

-- KEYS: sku hash, outbox. ARGV: sku, now, channel. The channel is no longer listed: its exposure goes
-- back at once and its fields go (the core's drop_listing). Answers {'OK', hash}.
local function expose_drop(keys, args)
  local key, out = keys[1], keys[2]
  local m, answer = expo_sku(keys, args)
  if not m then return answer end
  local c = args[3]
  if m['E:' .. c] == nil and m['EP:' .. c] == nil then return {'OK', redis.call('HGETALL', key)} end
  local f = {}
  expo_release(key, m, f, c, N(m['E:' .. c]))
  local gone = {}
  -- EV and EA stay: a channel listed again goes on numbering its publications of the SKU above what
  -- the ledger applied (it ignores a version it has seen).
  for _, p in ipairs({'E:', 'ED:', 'EP:', 'ES:'}) do
    gone[#gone + 1] = p .. c
    f[p .. c] = nil
    m[p .. c] = nil
  end
  redis.call('HDEL', key, unpack(gone))
  bump(key, m, f)
  sku_entry(out, args[1], m, 'expose', 0, 0, '', '', args[2])
  return {'OK', redis.call('HGETALL', key)}
end

local function consume(m, f, b, q)
  m.hd = S(N(m.hd) - q)
  m.oh = S(N(m.oh) - q)
  f.hd = m.hd
  f.oh = m.oh
  if b ~= 'sh' then
    m['H:' .. b] = S(N(m['H:' .. b]) - q)
    f['H:' .. b] = m['H:' .. b]
    if string.sub(b, 1, 2) == 'p:' then
      m['S:' .. b] = S(N(m['S:' .. b]) + q)
      f['S:' .. b] = m['S:' .. b]
    end
  end
end

-- KEYS: sku hash, line, outbox, live-line set. ARGV: sku, hold id, kind (release|expire|abort|confirm), now,
-- tombstone ms, confirm qty (confirm only; else 0), attempt. Consumes up to the confirm qty, draw by
-- draw, and gives the rest back. A line this attempt never took becomes a tombstone for the attempt
-- (kept tombstone ms), so a take still on its way cannot happen after the attempt was given up.
local function line_finish(keys, args)
  local key, line, out = keys[1], keys[2], keys[3]
  local l = hmap(line)
  if l.st == nil then
    redis.call('HSET', line, 'st', 'tomb', 'a', args[7])
    redis.call('PEXPIRE', line, args[5])
    return {'OK'}
  end
  if l.a ~= args[7] or l.st ~= 'held' then return {'OK'} end
  local m = hmap(key)
  local f = {}
  local want = 0
  if args[3] == 'confirm' then want = tonumber(args[6]) end
  local consumed = 0
  -- Draws marked "!" came from the channel's exposure (take_apply): an abort (the hold never was,
  -- for its client) puts them back there exactly, in reverse, while the channel is still listed.
  local restore = args[3] == 'abort' and m['EP:' .. (l.ch or '')] ~= nil
  local back = {}
  for _, d in ipairs(split(l.d, ';')) do
    local eq = string.find(d, '=', 1, true)
    local b = string.sub(d, 1, eq - 1)
    local q = tonumber(string.sub(d, eq + 1))
    local xs = string.sub(b, 1, 1) == '!'
    if xs then b = string.sub(b, 2) end
    if xs and restore then
      back[#back + 1] = {b, q}
    else
      local c = math.min(want - consumed, q)
      if c > 0 then consume(m, f, b, c); consumed = consumed + c end
      if q > c then give_back(m, f, b, q - c) end
    end
  end
  if #back > 0 then
    local c = l.ch
    local ed = draws_of(m['ED:' .. c])
    local units = 0
    for k = #back, 1, -1 do
      local b, q = back[k][1], back[k][2]
      if #ed > 0 and ed[#ed][1] == b then ed[#ed][2] = ed[#ed][2] + q else ed[#ed + 1] = {b, q} end
      units = units + q
    end
    setf(m, f, 'ED:' .. c, draws_str(ed))
    setf(m, f, 'E:' .. c, S(N(m['E:' .. c]) + units))
    setf(m, f, 'ex', S(N(m.ex) + units))
    exs(key, c, units)
    setf(m, f, 'hd', S(N(m.hd) - units))
  end
  if restore and l.pes then setf(m, f, 'ES:' .. l.ch, l.pes) end  -- the take's stale flag undone too
  local d_hd = -N(l.q)
  bump(key, m, f)
  redis.call('HSET', line, 'st', 'done', 'c', S(consumed))
  redis.call('SREM', keys[4], args[2])
  local kind = args[3]
  if kind == 'abort' then kind = 'release' end
  sku_entry(out, args[1], m, kind, -consumed, d_hd, args[2], '', args[4], l.ch)
  if m.ss == CLOSED and N(l.q) > consumed then return {'OK', 'PARKED'} end  -- the caller moves them home
  return {'OK'}
end

-- Hold records. KEYS (every hold function): hold, expiry index, repair index, retention index, outbox,
-- pointer. A hold whose lines all live in one partition lives there too, record and lines ("local",
-- made in one call by hold_create, field loc = 1); when that is not its id's partition, the id's
-- partition keeps a pointer to it (key "{p<k>}:hp:<id>": home partition, canon, ch, lines, att), so
-- that a request naming only the id finds it with one hop. The functions of the id's partition answer
-- {'AT', home} for a hold that lives elsewhere, {'PTR', home, canon, ch, att, t} when a new hold would reuse
-- its id.
local function hold_entry(out, id, h)
  outbox(out, {'t', 'hold', 'id', id, 'ch', h.ch, 'st', h.st, 'lines', h.cl or h.lines, 'cat', h.cat,
               'exp', h.exp, 'fin', h.fin or '0', 'hver', h.hver})
end

local function hold_set(key, h, fields) versioned_set(key, h, 'hver', fields) end

-- The answer to a new hold whose id an existing hold (h, its record) has: conflict, or EXISTS.
local function hold_exists(key, h, args)
  if h.ch ~= args[2] or h.canon ~= args[4] then
    return err('idempotency_conflict', 'hold ' .. args[1] .. ' exists with another channel or lines')
  end
  if args[5] == '1' and (h.st == 'held' or h.st == 'releasing' or h.st == 'expiring') then
    return err('idempotency_conflict', 'hold ' .. args[1] .. ' exists and is held, not sold: confirm it instead')
  end
  return {'EXISTS', redis.call('HGETALL', key)}
end

-- The pointer answer for a hold that lives in another partition, or nil.
local function pointer(key)
  local p = hmap(key)
  if p.home == nil then return nil end
  return {'PTR', p.home, p.canon or '', p.ch or '', p.att or '', p.t or '0'}
end

-- ARGV: id, channel, lines, canon, conf (0|1), now, ttl ms, attempt token.
local function hold_begin(keys, args)
  local h = hmap(keys[1])
  if h.st ~= nil then return hold_exists(keys[1], h, args) end
  local ptr = keys[6] and pointer(keys[6])
  if ptr then return ptr end
  redis.call('HSET', keys[1], 'st', 'pending', 'ch', args[2], 'lines', args[3], 'canon', args[4], 'conf', args[5],
             'ttl', args[7], 'cat', args[6], 'exp', '0', 'fin', '0', 'hver', '1', 't0', args[6], 'att', args[8])
  redis.call('ZADD', keys[3], args[6], args[1])
  return {'NEW'}
end

-- ARGV: id, now, target (held | confirming), physical lines ("" = the lines; else "name:qty,..." where
-- a line of a split SKU may be several: "<sku>" and "<sku>#<j>"). Only a pending hold (not aborted by
-- a repair) commits.
local function hold_commit(keys, args)
  local h = hmap(keys[1])
  if h.st == args[3] then return {'OK', redis.call('HGETALL', keys[1])} end
  if h.st ~= 'pending' then return {'GONE', h.st or ''} end
  local exp = S(N(args[2]) + N(h.ttl))
  local f = {st = args[3], exp = exp, t0 = args[2]}
  if (args[4] or '') ~= '' then f.pl = args[4] end
  if args[3] == 'confirming' then f.cl = h.lines end  -- a sale confirms every line
  hold_set(keys[1], h, f)
  if args[3] == 'held' then
    redis.call('ZADD', keys[2], exp, args[1])
    redis.call('ZREM', keys[3], args[1])
    hold_entry(keys[5], args[1], h)
  else
    redis.call('ZADD', keys[3], args[2], args[1])
  end
  return {'OK', redis.call('HGETALL', keys[1])}
end

-- ARGV: id, now. A pending hold is cut off from committing (its lines are then given back by the
-- caller, a late take finds a tombstone). Returns the record.
local function hold_abort(keys, args)
  local h = hmap(keys[1])
  if h.st == 'pending' then hold_set(keys[1], h, {st = 'aborting', t0 = args[2]}) end
  return {'OK', redis.call('HGETALL', keys[1])}
end

-- ARGV: id. Deletes an aborting hold: a rejected attempt is not remembered.
local function hold_drop(keys, args)
  local h = hmap(keys[1])
  if h.st == 'aborting' then
    redis.call('DEL', keys[1])
    redis.call('ZREM', keys[3], args[1])
  end
  return {'OK'}
end

-- undo (library version 9): a local hold made by a request that was then answered otherwise (its id
-- taken: cluster_store_local.cc) is released as if it never was: its lines finish as an abort, which
-- puts units taken from a listed channel's exposure back into it (line_finish).
local FINISH = {confirm = 'confirming', release = 'releasing', expire = 'expiring', undo = 'releasing'}
local DONE = {confirming = 'confirmed', releasing = 'released', expiring = 'expired'}

-- {'AT', home} when the hold `id` lives in another partition (keys[6] is its pointer), else nil.
local function elsewhere(keys)
  if keys[6] == nil then return nil end
  local home = redis.call('HGET', keys[6], 'home')
  if home then return {'AT', home} end
  return nil
end

-- The keys of a local hold's line on `sku`, in the record's partition: sku hash, line, outbox,
-- live-line set (as take and line_finish want them).
local function local_line_keys(keys, id, sku)
  local tag = string.sub(keys[1], 1, string.find(keys[1], '}', 1, true))
  return {tag .. ':s:' .. sku, tag .. ':l:' .. id .. ':' .. sku, keys[5], tag .. ':ls:' .. sku}
end

local function lines_of(s)
  local r = {}
  for _, item in ipairs(split(s, ',')) do
    local colon = string.find(item, ':[^:]*$')
    r[#r + 1] = {string.sub(item, 1, colon - 1), string.sub(item, colon + 1)}
  end
  return r
end

-- A local hold (loc = 1) in state FINISH[action] is finished in the same call: every line consumed
-- (confirm: up to its confirmed quantity) and/or given back, then the final state; the same changes
-- and outbox entries as line_finish per line and hold_finish_end, in one atomic step.
local function finish_local(keys, id, h, now, pending, undo)
  -- pending: the intermediate state's fields, not yet written (hold_finish_begin): they go into the
  -- final write, and hver counts both steps as the multi-partition path's two writes would.
  if pending then
    h.hver = S(N(h.hver) + 1)
    for f, v in pairs(pending) do h[f] = v end
  end
  local want = {}
  if h.st == 'confirming' then
    for _, l in ipairs(lines_of(h.cl or '')) do want[l[1]] = l[2] end
  end
  local kind = ({confirming = 'confirm', releasing = 'release', expiring = 'expire'})[h.st]
  if undo then kind = 'abort' end
  for _, l in ipairs(lines_of(h.lines)) do
    line_finish(local_line_keys(keys, id, l[1]), {l[1], id, kind, now, TOMBSTONE_MS, want[l[1]] or '0', h.att})
  end
  local final = {st = DONE[h.st], fin = now}
  if pending then
    for f, v in pairs(pending) do if f ~= 'st' then final[f] = v end end
  end
  hold_set(keys[1], h, final)
  redis.call('ZREM', keys[2], id)  -- a local hold is never in the repair index (no pending state)
  redis.call('ZADD', keys[4], now, id)
  hold_entry(keys[5], id, h)
end

local function flat_of(t)
  local r = {}
  for f, v in pairs(t) do r[#r + 1] = f; r[#r + 1] = v end
  return r
end

-- ARGV: id, action (confirm | release | expire), now, confirmed lines ("sku:qty,..."; "*": every line
-- in full, library version 8, so that a whole confirm needs no read of the record first). Moves a held hold
-- into the action's intermediate state (expiring instead when its time is up); a hold already in an
-- intermediate state is returned as it is, so the caller finishes that step (idempotent). A local
-- hold goes on to its final state in the same call.
local function hold_finish_begin(keys, args)
  local h = hmap(keys[1])
  if h.st == nil then return elsewhere(keys) or {'UNKNOWN'} end
  local now = N(args[3])
  if h.st == 'held' then
    local action = args[2]
    if now >= N(h.exp) then action = 'expire'
    elseif action == 'expire' then return {'STATE', redis.call('HGETALL', keys[1])} end
    local f = {st = FINISH[action], t0 = args[3]}
    if action == 'confirm' then f.cl = (args[4] == '*') and h.lines or args[4] end
    if h.loc == '1' then  -- to its final state in this call: one write of the record, no read-back
      finish_local(keys, args[1], h, args[3], f, action == 'undo')
      return {'STATE', flat_of(h)}
    end
    hold_set(keys[1], h, f)
    redis.call('ZREM', keys[2], args[1])
    redis.call('ZADD', keys[3], args[3], args[1])
  end
  return {'STATE', redis.call('HGETALL', keys[1])}
end

-- ARGV: id, now, retention ms. Ends the intermediate state (idempotent).
local function hold_finish_end(keys, args)
  local h = hmap(keys[1])
  local final = DONE[h.st or '']
  if final then
    hold_set(keys[1], h, {st = final, fin = args[2]})
    redis.call('ZREM', keys[2], args[1])
    redis.call('ZREM', keys[3], args[1])
    redis.call('ZADD', keys[4], args[2], args[1])
    hold_entry(keys[5], args[1], h)
  end
  return {'STATE', redis.call('HGETALL', keys[1])}
end

-- ARGV: id, now, ttl ms.
local function hold_extend(keys, args)
  local h = hmap(keys[1])
  if h.st == nil then return elsewhere(keys) or {'UNKNOWN'} end
  if h.st == 'held' and N(args[2]) < N(h.exp) then
    local exp = S(N(args[2]) + N(args[3]))
    hold_set(keys[1], h, {exp = exp})
    redis.call('ZADD', keys[2], exp, args[1])
    hold_entry(keys[5], args[1], h)
  end
  return {'STATE', redis.call('HGETALL', keys[1])}
end

-- ARGV: id. Forgets a finished hold (retention over); the caller deletes its line records.
local function hold_forget(keys, args)
  local h = hmap(keys[1])
  if h.st == 'confirmed' or h.st == 'released' or h.st == 'expired' or h.st == nil then
    redis.call('DEL', keys[1])
    redis.call('ZREM', keys[4], args[1])
  end
  return {'OK'}
end

-- A hold whose lines all live in the partition of keys[1], in one call: the checks of hold_begin, then
-- every line's take checked before any is taken (all or nothing: a refused hold writes nothing and
-- answers {'REFUSED', {answer per line}}), then the record, held (or, for a sale, confirmed: every
-- line consumed in the same call). The outbox gets the entries the steps of a multi-partition hold
-- write. KEYS: the hold keys (6; 5, without the pointer, when the id lives in another partition: its
-- pointer is claimed there). ARGV: id, channel, lines, canon, conf (0|1), now, ttl ms, attempt,
-- then per line: sku, qty, aver, number of buckets, the buckets in draw order. Answers {'NEW',
-- record}, {'EXISTS', record}, {'PTR', ...} (the id's partition points elsewhere) or an error.
local function hold_create(keys, args, ctx)
  local h = hmap(keys[1])
  if h.st ~= nil then return hold_exists(keys[1], h, args) end
  local ptr = keys[6] and pointer(keys[6])
  if ptr then return ptr end
  local lines, results, refused = {}, {}, false
  local i = 9
  while i <= #args do
    local nb = tonumber(args[i + 3])
    local targs = {args[i], args[1], args[2], args[i + 1], args[i + 2], args[6], args[8]}
    for j = 1, nb do targs[#targs + 1] = args[i + 3 + j] end
    local tkeys = local_line_keys(keys, args[1], args[i])
    local answer, m, l = take_refusal(tkeys[1], tkeys[2], targs, ctx)
    if answer then refused = true end
    results[#results + 1] = answer or {'OK'}
    lines[#lines + 1] = {tkeys, targs, m, l}
    i = i + 4 + nb
  end
  if refused then return {'REFUSED', results} end
  for _, x in ipairs(lines) do take_apply(x[1], x[2], x[3], x[4], ctx) end
  local exp = S(N(args[6]) + N(args[7]))
  -- The record as hold_begin then hold_commit would leave it (hver 2), written once.
  h = {st = 'held', ch = args[2], lines = args[3], canon = args[4], conf = args[5], ttl = args[7], cat = args[6],
       exp = exp, fin = '0', hver = '2', t0 = args[6], att = args[8], loc = '1'}
  if args[5] == '1' then h.st = 'confirming'; h.cl = args[3] end
  local flat_h = {}
  for f, v in pairs(h) do flat_h[#flat_h + 1] = f; flat_h[#flat_h + 1] = v end
  redis.call('HSET', keys[1], unpack(flat_h))
  if args[5] == '1' then
    ctx_flush(ctx)  -- finish_local reads the SKU hashes from Redis
    finish_local(keys, args[1], h, args[6])
    return {'NEW', redis.call('HGETALL', keys[1])}
  end
  ctx_add(ctx, 'ZADD', keys[2], exp, args[1])
  if ctx == nil then
    hold_entry(keys[5], args[1], h)
  else  -- with the call's other new holds at ctx_flush (holds_flush)
    local t = ctx.holds[keys[5]]
    if t == nil then t = {}; ctx.holds[keys[5]] = t; ctx.houts[#ctx.houts + 1] = keys[5] end
    t[#t + 1] = {id = args[1], h = h}
  end
  return {'NEW', flat_h}
end

-- Many local holds of one partition in one call (the cluster store's create_many): one script, so one
-- replicated MULTI/EXEC and one turn of the event loop for all, with one context (ctx_new: each SKU
-- read and written once). ARGV: the number of holds, then per hold the number of its keys, the number
-- of its args, and its args; KEYS: every hold's keys in turn (hold_create's: 6, or 5 without the
-- pointer when the id's partition is another). Answers hold_create's answer per hold, in order; an
-- error is that hold's answer.
local function hold_create_many(keys, args)
  local out = {}
  local ctx = ctx_new()
  local ki, ai = 1, 2
  for h = 1, tonumber(args[1]) do
    local nk, na = tonumber(args[ai]), tonumber(args[ai + 1])
    ai = ai + 2
    local hk, ha = {}, {}
    for j = 0, nk - 1 do hk[j + 1] = keys[ki + j] end
    for j = 0, na - 1 do ha[j + 1] = args[ai + j] end
    ki, ai = ki + nk, ai + na
    local ok, r = pcall(hold_create, hk, ha, ctx)
    if ok then out[h] = r
    elseif type(r) == 'table' and r.err then out[h] = r
    else out[h] = {err = tostring(r)} end
  end
  ctx_flush(ctx)
  return out
end

-- In the id's partition, for a local hold made elsewhere. KEYS: the hold keys (6). ARGV: id, home,
-- canon, ch, lines, attempt, replace (an attempt: a pointer of that attempt is replaced; "" = none),
-- now. Answers {'NEW'} (the pointer now names home), {'HERE'} (a hold with this id lives in this
-- partition) or the pointer there was: {'PTR', home, canon, ch, att, t}.
local function hold_claim(keys, args)
  if redis.call('EXISTS', keys[1]) == 1 then return {'HERE'} end
  local p = hmap(keys[6])
  if p.home ~= nil and not (args[7] ~= '' and p.att == args[7]) then
    return {'PTR', p.home, p.canon or '', p.ch or '', p.att or '', p.t or '0'}
  end
  if p.home ~= nil then redis.call('DEL', keys[6]) end
  redis.call('HSET', keys[6], 'home', args[2], 'canon', args[3], 'ch', args[4], 'lines', args[5], 'att', args[6],
             't', args[8])
  return {'NEW'}
end

-- KEYS: the hold keys (6). ARGV: id, home, attempt ("" = any). Removes the pointer when it names home
-- (and, when given, was made by that attempt).
local function hold_unpoint(keys, args)
  local p = hmap(keys[6])
  if p.home == args[2] and (args[3] == '' or p.att == args[3]) then redis.call('DEL', keys[6]) end
  return {'OK'}
end

-- "a|b||c" -> {"a", "b", "", "c"} (split() skips empty parts).
local function fields_of(s, sep)
  local r, i = {}, 1
  while true do
    local j = string.find(s, sep, i, true)
    if not j then r[#r + 1] = string.sub(s, i); return r end
    r[#r + 1] = string.sub(s, i, j - 1)
    i = j + 1
  end
end

-- KEYS: channels hash, outbox, webhooks hash. ARGV: name, priority, ttl s, state ("" = unchanged),
-- now, max channels, then (library version 9) reason (manual | delivery_failing, with a state: the
-- core's set_state: a delivery_failing freeze applies only to an active channel, its unfreeze only to
-- a channel frozen for delivery_failing), listing ("" unchanged, "-" none, else
-- "percent,buffer,cap,min"), webhook ("" unchanged, "-" none, else as C++ encodes it, in the webhooks
-- hash). A channel is "<priority>|<ttl>|<state>|<order>|<frozen reason>|<listing>".
local function channel_put(keys, args)
  local cur = redis.call('HGET', keys[1], args[1])
  local p = {'100', '900', 'active', '', '', ''}
  if cur then
    p = fields_of(cur, '|')
    for k = #p + 1, 6 do p[k] = '' end
  else
    if redis.call('HLEN', keys[1]) >= N(args[6]) then return err('invalid_request', 'too many channels (at most ' .. args[6] .. ')') end
    p[4] = S(redis.call('HINCRBY', keys[1], '#order', 1))
  end
  if args[2] ~= '' then p[1] = args[2] end
  if args[3] ~= '' then p[2] = args[3] end
  if args[4] ~= '' then
    local why = args[7] or ''
    if why == '' then why = 'manual' end
    local apply = true
    if why == 'delivery_failing' then
      apply = (args[4] == 'frozen' and p[3] == 'active') or (args[4] == 'active' and p[5] == 'delivery_failing')
    end
    if apply then
      p[3] = args[4]
      if args[4] == 'frozen' then p[5] = why else p[5] = '' end
    end
  end
  if (args[8] or '') == '-' then p[6] = '' elseif (args[8] or '') ~= '' then p[6] = args[8] end
  if keys[3] then
    if args[9] == '-' then redis.call('HDEL', keys[3], args[1])
    elseif (args[9] or '') ~= '' then redis.call('HSET', keys[3], args[1], args[9]) end
  end
  local v = table.concat(p, '|')
  redis.call('HSET', keys[1], args[1], v)
  redis.call('HINCRBY', keys[1], '#ver', 1)
  outbox(keys[2], {'t', 'ch', 'ch', args[1], 'prio', p[1], 'ttl', p[2], 'st', p[3], 'at', args[5],
                   'lst', p[6] ~= '' and '1' or '0', 'why', p[5]})
  return {'OK', v}
end

-- KEYS: sku hash, outbox, the SKU's set of live lines. ARGV: sku, now, plan, aver, repair (0|1).
-- Checks, atomically, that held equals the units of the SKU's live hold lines, that the buckets' free
-- units add up to the available, and that on_hand >= held >= 0. With repair, a SKU that fails is
-- given held = its lines' units and resized (the lines are the record of what is held).
local function sku_check(keys, args)
  local key, out = keys[1], keys[2]
  local m = hmap(key)
  if m.ver == nil then return {'GONE'} end
  if m.bk then return {'OK'} end  -- a stock batch's escrow is out of its buckets until the batch ends
  local tag = string.sub(key, 1, string.find(key, '}', 1, true))
  local lines = 0
  local stale_members = {}
  for _, id in ipairs(redis.call('SMEMBERS', keys[3])) do
    local l = redis.call('HMGET', tag .. ':l:' .. id .. ':' .. args[1], 'st', 'q')
    if l[1] == 'held' then lines = lines + N(l[2]) else stale_members[#stale_members + 1] = id end
  end
  local free = 0
  for f, v in pairs(m) do
    if string.sub(f, 1, 2) == 'F:' then free = free + N(v) end
    if string.sub(f, 1, 2) == 'X:' then lines = lines + N(v) end  -- units moved to a shard
  end
  local hd = N(m.hd)
  local avail = total_free(m)
  if hd == lines and free == avail and N(m.oh) >= hd and hd >= 0 and #stale_members == 0 then return {'OK'} end
  local report = {'DRIFT', S(hd), S(lines), S(free), S(avail), S(#stale_members)}
  if args[5] ~= '1' then return report end
  local st = stale(m, args[4])
  if st then return st end
  if #stale_members > 0 then redis.call('SREM', keys[3], unpack(stale_members)) end
  bump(key, m, {hd = S(lines)})
  resize(key, m, args[3], out, args[1], args[2])
  sku_entry(out, args[1], m, 'reconcile', 0, lines - hd, '', 'reconcile', args[2])
  report[1] = 'REPAIRED'
  return report
end

-- ---- Hot SKUs split over shards (docs/cluster.md "Hot SKUs"). A transfer T moves units between a
-- SKU's home hash and one shard: split_begin (home) -> split_in or split_back (shard) -> split_end
-- (home) -> split_forget (shard). Each step is idempotent by T; the home lists begun transfers in P:<T>
-- and in the partition's index ":spx", so any node's sweep ends a transfer its node left half done.

-- KEYS: home hash, outbox, transfer index. ARGV: sku, now, T, shard j, out|back, qty (out: at most).
-- out: qty units of home's free shared stock leave for shard j (counted in hd and X:j from now on).
local function split_begin(keys, args)
  local key = keys[1]
  local m = hmap(key)
  if m.ver == nil then return err('unknown_sku', 'unknown sku ' .. args[1]) end
  local pf = 'P:' .. args[3]
  if m[pf] ~= nil then return {'OK', m[pf]} end
  local j = args[4]
  local p
  if args[5] == 'out' then
    local q = math.min(N(args[6]), N(m['F:sh']))
    if q <= 0 then return {'NONE'} end
    p = j .. '|out|' .. S(q)
    bump(key, m, {['F:sh'] = S(N(m['F:sh']) - q), hd = S(N(m.hd) + q), ['X:' .. j] = S(N(m['X:' .. j]) + q), [pf] = p})
    sku_entry(keys[2], args[1], m, 'split_out', 0, q, args[3], '', args[2])
  else
    p = j .. '|back|0'
    redis.call('HSET', key, pf, p)
  end
  redis.call('ZADD', keys[3], args[2], args[1] .. '\n' .. args[3])
  return {'OK', p}
end

-- A shard that gave its units back is closed (ss = CLOSED): units released there afterwards are
-- parked (neither held nor free) until they are moved home, where they fill the SKU's safety stock
-- first if it is short, as the embedded core does. split_in opens the shard again.
-- KEYS: shard hash, outbox. ARGV: shard name, sku, now, T, qty, max_per_hold. Home sends units only
-- when it has free shared units (its stock is above safety stock and held), so parked units become
-- free here too.
-- A shard's hash, the field recording transfer T, and whether T was applied already.
local function shard_for_transfer(key, t)
  local m = hmap(key)
  local tf = 't:' .. t
  return m, tf, m[tf] ~= nil
end

local function split_in(keys, args)
  local key = keys[1]
  local m, tf, applied = shard_for_transfer(key, args[4])
  if applied then return {'OK'} end
  local q = N(args[5])
  local f = {oh = S(N(m.oh) + q), ['in'] = S(N(m['in']) + q), ['F:sh'] = S(N(m.oh) + q - N(m.hd)), ss = '0',
             mph = args[6], home = args[2], [tf] = S(q) .. '|' .. args[3]}
  if m.ver == nil then
    m = {ss = '0', hd = '0', ver = '0', aver = '0', lst = '-1', base = '0'}
    for k, v in pairs(m) do if k ~= 'ver' then f[k] = v end end
  end
  bump(key, m, f)
  sku_entry(keys[2], args[1], m, 'split_in', 0, -q, args[4], '', args[3])
  return {'OK'}
end

-- KEYS: shard hash, outbox. ARGV: shard name, now, T. The shard's units that are not held (free or
-- parked) leave for home, with the count of units sold here since the last report; the shard is
-- closed. Answers "<units>|<sold>|<at>".
local function split_back(keys, args)
  local key = keys[1]
  local m, tf, applied = shard_for_transfer(key, args[3])
  if applied then return {'OK', m[tf]} end
  if m.ver == nil then return {'OK', '0|0|0'} end
  local free = N(m.oh) - N(m.hd)
  local sold = N(m['in']) - N(m.oh)
  local rec = S(free) .. '|' .. S(sold) .. '|' .. args[2]
  bump(key, m, {oh = m.hd, ['in'] = m.hd, ['F:sh'] = '0', ss = CLOSED, [tf] = rec})
  sku_entry(keys[2], args[1], m, 'split_back', sold, free + sold, args[3], '', args[2])
  return {'OK', rec}
end

-- KEYS: home hash, outbox, transfer index. ARGV: sku, now, T, free, sold (back: what split_back answered).
local function split_end(keys, args)
  local key = keys[1]
  local m = hmap(key)
  local pf = 'P:' .. args[3]
  local p = m[pf]
  if p ~= nil then
    local parts = split(p, '|')
    redis.call('HDEL', key, pf)
    m[pf] = nil
    if parts[2] == 'back' then
      local free, sold = N(args[4]), N(args[5])
      local xf = 'X:' .. parts[1]
      local f = {[xf] = S(N(m[xf]) - free - sold)}
      if sold > 0 then consume(m, f, 'sh', sold) end
      if free > 0 then give_back(m, f, 'sh', free) end
      bump(key, m, f)
      sku_entry(keys[2], args[1], m, 'split_back', -sold, -(free + sold), args[3], '', args[2])
    end
  end
  redis.call('ZREM', keys[3], args[1] .. '\n' .. args[3])
  return {'OK'}
end

-- KEYS: shard hash. ARGV: T. The shard forgets an ended transfer.
local function split_forget(keys, args)
  redis.call('HDEL', keys[1], 't:' .. args[1])
  return {'OK'}
end

-- ---- Stock batches (POST /v1/stock/batches; docs/cluster.md "Stock batches"). A batch B runs in two
-- steps per partition its rows touch. The node decides the rows with the core's rule
-- (core::plan_stock_batch) on figures it read; batch_prep checks that the partition's SKUs still have
-- those figures, changes nothing if not, and otherwise locks each SKU (bk = B, bd = its net change). A decrease's units are put aside at once
-- (escrow): the free units it removes are taken out of the buckets (be: "b=n;b=n", shared first), so
-- no hold can take them meanwhile; on_hand, held and the version do not change yet. batch_end puts the
-- escrowed units back where they were taken from, then (commit) applies the net change as one set of
-- on_hand (resize, entry) or (abort) leaves the SKU exactly as it was; and unlocks. The batch record
-- (batch_mark, in B's partition) holds the decision; a lock whose node died is ended by any node's
-- sweep from that record (lease in {p}:bk).
-- Takes the free units a decrease of on_hand by -d removes out of the buckets (shared first, then the
-- others in name order); returns the draws "b=n;b=n".
local function batch_escrow(key, m, d)
  local before = total_free(m)
  local after = math.max(0, N(m.oh) + d - N(m.ss) - N(m.hd) - N(m.ex))
  local left = before - after
  local names = {}
  for f, _ in pairs(m) do
    if string.sub(f, 1, 2) == 'F:' and f ~= 'F:sh' then names[#names + 1] = f end
  end
  table.sort(names)
  table.insert(names, 1, 'F:sh')
  local draws, f = {}, {}
  for _, b in ipairs(names) do
    if left <= 0 then break end
    local q = math.min(N(m[b]), left)
    if q > 0 then
      f[#f + 1] = b
      f[#f + 1] = S(N(m[b]) - q)
      draws[#draws + 1] = string.sub(b, 3) .. '=' .. S(q)
      left = left - q
    end
  end
  if #f > 0 then redis.call('HSET', key, unpack(f)) end
  return table.concat(draws, ';')
end

-- Puts escrowed units back into the buckets they came from.
local function batch_unescrow(key, m, draws)
  for _, d in ipairs(split(draws or '', ';')) do
    local eq = string.find(d, '=', 1, true)
    local b = 'F:' .. string.sub(d, 1, eq - 1)
    m[b] = S(N(m[b]) + tonumber(string.sub(d, eq + 1)))
    redis.call('HSET', key, b, m[b])
  end
end

-- A SKU's on_hand changes by d for batch B (a new SKU is made first when `create`).
local function batch_apply(key, out, sku, m, d, plan, now, ref, reason, create)
  local f = {oh = S(N(m.oh) + d), base = S(N(m.oh) + d)}
  if create then f.ss = '0'; f.hd = '0'; f.aver = '0'; f.lst = '-1'; f.mph = '0' end
  bump(key, m, f)
  resize(key, m, plan, out, sku, now)
  sku_entry(out, sku, m, 'batch', d, 0, ref, reason, now)
end

-- KEYS: outbox, lock index ({p}:bk), lock record ({p}:bl:<B>), then one SKU hash per SKU. ARGV: now, B,
-- lease end, reason, ref, number of SKUs, then per SKU: sku, plan, aver, and what the node decided on
-- (core::plan_stock_batch, the rows' rule: it is not here): exists (1|0), on_hand, held, then the
-- change d, create (1|0), moved (1|0). Answers {'BUSY', sku, other batch}, {'CHANGED', sku} (the SKU no
-- longer has the figures decided on: it exists or not otherwise, another on_hand, or more held; a
-- decrease of held changes no verdict), {'SPLIT', sku}, {'STALE', sku, aver, cfg, spl, smax}: nothing
-- changed; {'PREPARED'} (B holds the locks already) or {'OK'}.
local function batch_prep(keys, args)
  local B = args[2]
  local skus, a = {}, 7
  for s = 1, tonumber(args[6]) do
    skus[s] = {key = keys[3 + s], sku = args[a], aver = args[a + 2], exists = args[a + 3] == '1',
               oh = tonumber(args[a + 4]), hd = tonumber(args[a + 5]), d = tonumber(args[a + 6]),
               create = args[a + 7], moved = args[a + 8]}
    a = a + 9
  end
  local mine = 0
  for _, sk in ipairs(skus) do
    local m = hmap(sk.key)
    sk.m = m
    if m.bk then
      if m.bk ~= B then return {'BUSY', sk.sku, m.bk} end
      mine = mine + 1
    else
      if (m.ver ~= nil) ~= sk.exists or N(m.oh) ~= sk.oh or N(m.hd) > sk.hd then return {'CHANGED', sk.sku} end
      if m.ver ~= nil then
        if N(m.smax) > 0 then return {'SPLIT', sk.sku} end
        local st = stale(m, sk.aver)
        if st then return {'STALE', sk.sku, st[2], st[3], st[4], st[5]} end
      end
    end
  end
  if mine > 0 then return {'PREPARED'} end
  local names = {}
  for _, sk in ipairs(skus) do
    local escrow = ''
    if sk.d < 0 then escrow = batch_escrow(sk.key, sk.m, sk.d) end
    redis.call('HSET', sk.key, 'bk', B, 'bd', S(sk.d), 'bn', sk.create, 'bm', sk.moved, 'be', escrow)
    names[#names + 1] = sk.sku
  end
  if #names > 0 then
    redis.call('HSET', keys[3], 'skus', table.concat(names, '\n'), 'reason', args[4], 'ref', args[5])
    redis.call('ZADD', keys[2], args[3], B)
  end
  return {'OK'}
end

-- KEYS: outbox, lock index, lock record, then the SKU hashes B locked here. ARGV: now, B, commit (1|0),
-- then per SKU: sku, plan. Applies (commit) or gives back (abort) each SKU's change, unlocks, and
-- answers {'OK', hash, hash, ...} (each SKU's fields after; empty for a SKU that does not exist).
local function batch_end(keys, args)
  local now, B, commit = args[1], args[2], args[3] == '1'
  local rec = hmap(keys[3])
  local answer = {'OK'}
  for s = 4, #keys do
    local key, sku, plan = keys[s], args[4 + 2 * (s - 4)], args[5 + 2 * (s - 4)]
    local m = hmap(key)
    if m.bk == B then
      local d, create, moved = tonumber(m.bd), m.bn == '1', m.bm == '1'
      batch_unescrow(key, m, m.be)
      redis.call('HDEL', key, 'bk', 'bd', 'bn', 'bm', 'be')
      m.bk, m.bd, m.bn, m.bm, m.be = nil, nil, nil, nil, nil
      if commit and (d ~= 0 or create or moved) then
        batch_apply(key, keys[1], sku, m, d, plan, now, rec.ref or '', rec.reason or '', create)
      elseif not commit and create then
        redis.call('DEL', key)
      end
    end
    answer[#answer + 1] = redis.call('HGETALL', key)
  end
  redis.call('ZREM', keys[2], B)
  redis.call('DEL', keys[3])
  return answer
end

-- KEYS: the batch record ({p}:b:<B>, in B's partition). ARGV: from, to, answer, retention ms. Moves the
-- record from state `from` ('' = no record) to `to` ('' = removed) with `answer` and answers {'OK'}; otherwise
-- changes nothing and answers {'STATE', state, answer} ('' when there is no record). Kept retention ms
-- after its last change.
local function batch_mark(keys, args)
  local st = redis.call('HGET', keys[1], 'st') or ''
  if st ~= args[1] then return {'STATE', st, redis.call('HGET', keys[1], 'ans') or ''} end
  if args[2] == '' then
    redis.call('DEL', keys[1])
    return {'OK'}
  end
  redis.call('HSET', keys[1], 'st', args[2], 'ans', args[3])
  redis.call('PEXPIRE', keys[1], args[4])
  return {'OK'}
end

local function version() return VERSION end

redis.register_function{function_name = 'stockd_version', callback = version, flags = {'no-writes'}}
redis.register_function('stockd_sku_put', sku_put)
redis.register_function('stockd_sku_adjust', sku_adjust)
redis.register_function('stockd_sku_alloc', sku_alloc)
redis.register_function('stockd_pool_close', pool_close)
redis.register_function('stockd_take', take)
redis.register_function('stockd_line_finish', line_finish)
redis.register_function('stockd_hold_begin', hold_begin)
redis.register_function('stockd_hold_commit', hold_commit)
redis.register_function('stockd_hold_abort', hold_abort)
redis.register_function('stockd_hold_drop', hold_drop)
redis.register_function('stockd_hold_finish_begin', hold_finish_begin)
redis.register_function('stockd_hold_finish_end', hold_finish_end)
redis.register_function('stockd_hold_extend', hold_extend)
redis.register_function('stockd_hold_forget', hold_forget)
redis.register_function('stockd_hold_create', hold_create)
redis.register_function('stockd_hold_create_many', hold_create_many)
redis.register_function('stockd_hold_claim', hold_claim)
redis.register_function('stockd_hold_unpoint', hold_unpoint)
redis.register_function('stockd_channel_put', channel_put)
redis.register_function('stockd_expose', expose)
redis.register_function('stockd_expose_ack', expose_ack)
redis.register_function('stockd_expose_drop', expose_drop)
redis.register_function('stockd_sku_check', sku_check)
redis.register_function('stockd_split_begin', split_begin)
redis.register_function('stockd_split_in', split_in)
redis.register_function('stockd_split_back', split_back)
redis.register_function('stockd_split_end', split_end)
redis.register_function('stockd_split_forget', split_forget)
redis.register_function('stockd_batch_prep', batch_prep)
redis.register_function('stockd_batch_end', batch_end)
redis.register_function('stockd_batch_mark', batch_mark)
