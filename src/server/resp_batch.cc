// RESP BATCH: POST /v1/stock/batches on the fast path, for both front ends' parsers (resp_reply.h).
//
//   BATCH ref reason ATOMIC|EACH sku spec [sku spec ...]
//     spec:  =N      set on_hand to N
//            +N, -N  add N / take N (delta; +0 changes nothing)
//            ...?E   compare-and-set: only if on_hand is E (e.g. =10?12, -2?7)
//   reply: an array with one element per row, in order: +OK, or the row's error
//          (-PRECONDITION_FAILED sku A expect_on_hand 12 but on_hand is 10 actual 10, -UNKNOWN_SKU ...).
//          A failed ATOMIC batch answers the same array, every element an error (nothing applied).
//
// The ref is required (RESP has no empty word in inline commands, and a client that retries a
// pipelined write needs one anyway); the same ref again returns the first answer. A batch holds at
// most (1,024 - 4) / 2 = 510 rows (the RESP framing limit of 1,024 arguments): big imports use HTTP.
#include <string>

#include "net/resp_writer.h"
#include "server/resp_reply.h"

namespace stockd::server {
namespace {

// "=10", "+3", "-2", each optionally "?E". False when malformed.
bool parse_spec(std::string_view spec, core::BatchRow* row) {
  if (spec.empty()) return false;
  std::size_t q = spec.find('?');
  std::string_view value = spec.substr(0, q);
  if (q != std::string_view::npos) {
    std::int64_t e = 0;
    if (!parse_int(spec.substr(q + 1), &e)) return false;
    row->expect_on_hand = e;
  }
  if (value.empty()) return false;
  row->set = value.front() == '=';
  if (value.front() == '=' || value.front() == '+') {
    bool plus = value.front() == '+';
    value.remove_prefix(1);
    if (plus && (value.empty() || value.front() < '0' || value.front() > '9')) return false;  // no "+-3"
  } else if (value.front() != '-') {
    return false;
  }
  return parse_int(value, &row->value);
}

}  // namespace

bool parse_resp_batch(const std::vector<std::string_view>& args, const Principal& who, RespWrite* w) {
  if (args.size() < 6 || args.size() % 2 != 0) {
    w->wrong_args = true;
    return true;
  }
  auto fail = [&](std::string message) {
    w->error = core::Code::invalid_request;
    w->message = std::move(message);
    return true;
  };
  if (!who.admin()) {
    w->error = core::Code::forbidden;
    w->message = "BATCH needs the admin token";
    return true;
  }
  core::StockBatch b;
  b.ref = std::string(args[1]);
  if (!core::parse_stock_reason(args[2], &b.reason))
    return fail("reason must be one of received, cycle_count, damaged, returned, correction, other");
  std::string mode = upper(args[3]);
  if (mode != "ATOMIC" && mode != "EACH") return fail("the third argument must be ATOMIC or EACH");
  b.atomic = mode == "ATOMIC";
  for (std::size_t i = 4; i + 1 < args.size(); i += 2) {
    core::BatchRow row;
    row.sku = std::string(args[i]);
    if (!parse_spec(args[i + 1], &row))
      return fail("rows[" + std::to_string(b.rows.size()) + "]: the spec must be =N, +N or -N, optionally ?E");
    b.rows.push_back(std::move(row));
  }
  w->command = std::move(b);
  w->route = "RESP BATCH";
  return true;
}

void resp_batch_reply(std::string& out, const core::BatchAnswer& answer) {
  net::resp::array_header(out, static_cast<std::int64_t>(answer.rows.size()));
  for (const core::BatchRowResult& row : answer.rows) {
    if (row.code == core::Code::ok) {
      net::resp::simple_string(out, "OK");
    } else if (row.code == core::Code::precondition_failed) {
      net::resp::error(out, row.code, "sku " + row.sku + " " + row.message + " actual " + std::to_string(row.actual));
    } else {
      net::resp::error(out, row.code, "sku " + row.sku + " " + row.message);
    }
  }
}

}  // namespace stockd::server
