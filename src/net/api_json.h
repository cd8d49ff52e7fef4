// api_json.h: the contract's JSON bodies (docs/api.md), both ways.
//
// Decoding (api_json.cc) turns a request body plus the path parameters into a core::Command, strictly:
// malformed JSON, a body that is not an object, an unknown field, a repeated field, a wrong type
// ("qty":"2", "qty":2.5, "qty":true), an integer that overflows int64, a bad identifier, a value out
// of its range (core/limits.h), more than kLinesPerHoldMax lines or a SKU named twice in one hold are
// all Code::invalid_request with a message naming the field ("lines[1].qty must be an integer").
// Nothing throws out of a decoder. A decoded command also passes core::validate().
// A body is "empty" when it holds only whitespace: that is invalid_request where a body is required,
// and means "no fields" for confirm and release.
//
// Encoding (api_render.cc) appends JSON to a std::string, written by hand (no DOM) and always valid
// UTF-8. Views must be rendered before the Inventory they point into changes.
//   error:        {"error":{"code":"...","message":"...","details":{...}}}   (details always present)
//   SKU:          {"sku","on_hand","safety_stock","held","available","channels":{"<ch>":{"available":N}},
//                  "version","max_per_hold" (null when none),"low_stock_threshold" (in force),
//                  "allocation":{"fences":{"<ch>":{"ratio"|"units","size","held"}},
//                                "pools":{"<name>":{"units","channels":[...],"size","held"}},
//                                "preempt","shared"}}
//   hold:         {"id","channel","state","lines":[{"sku","qty"}],"expires_at","created_at"
//                  [,"finished_at" once confirmed, released or expired]}   times: RFC 3339 UTC, ms
//   channel:      {"channel","priority","hold_ttl_s","state"}
//   availability: {"channel":"C","available":{"A":10}[,"unknown":["X"]]}  "unknown" only when non-empty
//                  (as in the contract's example); a SKU asked for twice appears once.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/command.h"
#include "core/inventory.h"
#include "core/status.h"
#include "core/views.h"

namespace stockd::net {

// ---- Decoding: an ok Status and *out set, or Code::invalid_request with its message (*out unspecified).
// Path parameters (`channel`, `sku`, `id`) come from the URL and are checked with core::is_identifier.

// PUT /v1/channels/{channel}  {"priority":1,"hold_ttl_s":900,"state":"active"|"frozen"}, all optional.
core::Status decode_put_channel(std::string_view channel, std::string_view body, core::Command* out);
// PUT /v1/skus/{sku}  {"on_hand","safety_stock","max_per_hold" (null or 0: no limit),
//                      "low_stock_threshold" (null: back to 10 % of on_hand)}, all optional.
core::Status decode_put_sku(std::string_view sku, std::string_view body, core::Command* out);
// POST /v1/skus/{sku}/adjustments  {"delta" (required, != 0),"reason","ref"}
core::Status decode_adjust(std::string_view sku, std::string_view body, core::Command* out);
// PUT /v1/skus/{sku}/allocation  {"fences":{ch:{"ratio":0..1}|{"units":N}},
//                                 "pools":{name:{"units":N,"channels":[ch,...]}},"preempt":bool}
// A ratio becomes parts per billion with llround(ratio * 1e9).
core::Status decode_set_allocation(std::string_view sku, std::string_view body, core::Command* out);
// POST /v1/holds  {"id","channel","lines":[{"sku","qty"}],"ttl_s" (optional),"confirm" (optional)}
core::Status decode_create_hold(std::string_view body, core::Command* out);
// POST /v1/holds/{id}/confirm  empty body, {} or {"lines":[{"sku","qty"}]}
core::Status decode_confirm(std::string_view id, std::string_view body, core::Command* out);
// POST /v1/holds/{id}/release  empty body or {}
core::Status decode_release(std::string_view id, std::string_view body, core::Command* out);
// POST /v1/holds/{id}/extend  {"ttl_s":N}
core::Status decode_extend(std::string_view id, std::string_view body, core::Command* out);
// POST /v1/channels/{channel}/publications/ack {"seq":N}
core::Status decode_ack_publications(std::string_view channel, std::string_view body, core::Command* out);

// POST /v1/stock/batches  {"ref" (optional),"reason" (required: received | cycle_count | damaged |
// returned | correction | other),"atomic" (optional, false),"rows":[{"sku","on_hand"|"delta",
// "expect_on_hand" (optional)}]} with 1 to kBatchRowsMax rows. The body's shape is checked here; the
// rows' values (identifier, ranges) are checked by the core, row by row (docs/api.md, "Stock batches").
core::Status decode_stock_batch(std::string_view body, core::Command* out);

// The request body that the decoders above turn back into `cmd` (for clients and round-trip tests).
// Tick and Configure have no HTTP body and write "{}". ClosePool has no body either ("{}").
// StockBatch writes the body of POST /v1/stock/batches.
void encode_command_body(const core::Command& cmd, std::string& out);

// ---- Encoding replies (appended to `out`).
void render_error(std::string& out, core::Code code, std::string_view message);
// The same error shape with a code that is not one of core::Code's (cluster mode's "not_implemented").
void render_error_named(std::string& out, std::string_view code, std::string_view message);
void render_status(std::string& out, std::string_view status);  // {"status":"<status>"} (healthz, readyz)
void render_snapshot(std::string& out, std::uint64_t lsn);      // {"snapshot":{"lsn":N}}
// An Outcome's error with the contract's details (insufficient_stock: sku, requested, available;
// limit_exceeded: sku, requested, max_per_hold). REQUIRES: !o.ok().
void render_outcome_error(std::string& out, const core::Outcome& o);
void render_channel(std::string& out, const core::ChannelView& c);  // the webhook secret redacted
// {"publications":[{"sku","quantity","seq"}],"next":SEQ}
// POST /v1/channels/{c}/publications/ack: {"channel","acked_seq","last_publication_seq"}
void render_ack(std::string& out, const core::ChannelView& c);
void render_publications(std::string& out, std::span<const core::PublicationView> pubs, std::uint64_t next);
void render_channel_list(std::string& out, const core::Inventory& inv);  // {"channels":[...]}
void render_channel_list(std::string& out, std::span<const core::ChannelView> channels);
void render_sku(std::string& out, const core::SkuView& v);
// {"skus":[views of SKUs offset .. offset+limit-1 in index order],"total":N}
void render_sku_list(std::string& out, const core::Inventory& inv, std::size_t offset, std::size_t limit);
// The same from the views of one page and the count of SKUs in all.
void render_sku_list(std::string& out, std::span<const core::SkuView> page, std::size_t total);
void render_hold(std::string& out, const core::HoldView& h);
// A stock batch's answer: {"ref":"R"|null,"results":[{"sku","ok":true,"sku_view":{SKU}} |
// {"sku","ok":false,"error":{"code","message","details":{} | {"actual":N}}}]}. `ok_skus` holds the
// view of every ok row's SKU right after the batch, in row order. HTTP status: 409 when
// answer.failed, else 200.
void render_batch(std::string& out, const core::BatchAnswer& answer, std::span<const core::SkuView> ok_skus);
// REQUIRES: channel < inv.channel_count(). `skus` are the names asked for, known or not.
void render_availability(std::string& out, const core::Inventory& inv, std::uint32_t channel,
                         const std::vector<std::string_view>& skus);
// The same from what a store found: `asked` in order without repeats, each with its available units
// or std::nullopt when the SKU is unknown:
// {"channel":"C","available":{"A":10,...}[,"unknown":["X",...]]}
struct AskedSku {
  std::string_view name;
  std::optional<std::int64_t> available;
};
void render_availability(std::string& out, std::string_view channel, std::span<const AskedSku> asked);
// {"ok":true|false,"skus_checked":N,"drift":[] | ["<problem>"]}
void render_reconcile(std::string& out, std::size_t sku_count, std::string_view problem);
// {"ok":true|false,"skus_checked":N,"drift":["<problem>",...]}
void render_reconcile(std::string& out, std::size_t skus_checked, std::span<const std::string> drift);

}  // namespace stockd::net
