// RESP fast path: the contract's commands (HOLD, SALE, CONFIRM, RELEASE, AVAIL, SETSTOCK, plus EXTEND and BATCH)
// and enough of Redis's connection commands (PING, AUTH, HELLO, CLIENT, SELECT, INFO, COMMAND, CONFIG,
// QUIT) that common client libraries and redis-benchmark connect with their default options.
#include <string>

#include "core/command.h"
#include "core/inventory.h"
#include "net/resp_parser.h"
#include "net/resp_writer.h"
#include "server/conn.h"
#include "server/resp_reply.h"
#include "server/server.h"

namespace stockd::server {
namespace {

enum RespReply : std::uint8_t { kReplyState = 0, kReplyOk = 1 };

}  // namespace

void Server::resp_input(Conn& c) {
  std::vector<std::string_view> args;
  while (c.fd >= 0 && !c.close_after_flush && !c.polling) {
    args.clear();
    std::string_view in = c.input();
    net::RespParseResult r = net::parse_resp_command(in, &args);
    if (r.status == net::RespParseStatus::incomplete) break;
    if (r.status == net::RespParseStatus::error) {
      net::resp::error(c.out, "ERR", "Protocol error: " + r.error);
      c.close_after_flush = true;
      c.in_pos = c.in.size();
      break;
    }
    if (args.empty()) {  // an empty inline line
      c.in_pos += r.consumed;
      continue;
    }
    if (!resp_request(c, args)) {
      c.waiting_batch = true;
      break;
    }  // waits for this connection's writes in the batch
    c.in_pos += r.consumed;
  }
}

bool Server::resp_request(Conn& c, const std::vector<std::string_view>& args) {
  std::string cmd = upper(args[0]);
  std::string& out = c.out;
  std::int64_t start = round_start_us_;
  // A reply written now must not overtake this connection's writes waiting in the batch: then the
  // request waits (returns false) and is answered after the batch, in order.
  auto reject = [&](core::Code code, const std::string& message) {
    if (c.inflight > 0) return false;
    net::resp::error(out, code, message);
    return true;
  };
  bool pre_auth = cmd == "AUTH" || cmd == "HELLO" || cmd == "QUIT";
  if (auth_.enabled() && c.principal.kind == Principal::Kind::none && !pre_auth) {
    return reject(core::Code::unauthorized, "authenticate with AUTH <token> first");
  }

  // Writes: into the batch, answered after the batch is durable.
  RespWrite w;
  if (parse_resp_write(cmd, args, c.principal, &w)) {
    if (w.wrong_args) {
      if (c.inflight > 0) return false;
      resp_wrong_args(out, args[0]);
      return true;
    }
    if (!w.hold_id.empty() && !c.principal.admin()) {
      const core::Inventory& inv = engine_.inventory();
      std::uint32_t h = inv.find_hold(w.hold_id);
      if (h != core::kNoIndex && !c.principal.may_act_for(inv.channel_name(inv.hold_channel(h)))) {
        return reject(core::Code::forbidden, "hold " + w.hold_id + " belongs to another channel");
      }
    }
    if (w.error != core::Code::ok) return reject(w.error, w.message);
    // Identifiers and ranges are checked once, by the engine (core::validate): an invalid command is
    // answered -INVALID_REQUEST in order with the batch and never journaled.
    if (batch_.size() >= static_cast<std::size_t>(opt_.max_queue) ) {
      if (c.inflight > 0) return false;
      net::resp::error(out, core::Code::overloaded, "write queue full, retry later");
      ++overloaded_total_;
      metrics_.request(w.route, 429, now_us() - start);
      return true;
    }
    batch_.push_back(engine::BatchItem{std::move(w.command), now_ms(), {}, 0});
    pending_.push_back(Pending{&c, w.route, start, w.reply_ok ? kReplyOk : kReplyState, true});
    ++c.inflight;
    return true;
  }

  // Reads and connection commands never overtake this connection's pending writes.
  if (c.inflight > 0) return false;
  if (cmd == "AVAIL") {
    if (args.size() != 2 && args.size() != 3) {
      resp_wrong_args(out, args[0]);
      return true;
    }
    const core::Inventory& inv = engine_.inventory();
    std::uint32_t sku = inv.find_sku(args[1]);
    std::string channel = args.size() == 3 ? std::string(args[2]) : c.principal.channel;
    if (!channel.empty() && !c.principal.may_act_for(channel)) {
      net::resp::error(out, core::Code::forbidden, "this token may not read channel " + channel);
    } else if (sku == core::kNoIndex) {
      net::resp::error(out, core::Code::unknown_sku, "unknown sku " + std::string(args[1]));
    } else if (channel.empty()) {
      net::resp::integer(out, inv.available_total(sku));
    } else if (std::uint32_t ch = inv.find_channel(channel); ch == core::kNoIndex) {
      net::resp::error(out, core::Code::unknown_channel, "unknown channel " + channel);
    } else {
      net::resp::integer(out, inv.available(sku, ch));
    }
    metrics_.request("RESP AVAIL", 200, now_us() - start);
  } else if (cmd == "DBSIZE") {
    net::resp::integer(out, static_cast<std::int64_t>(engine_.inventory().sku_count()));
  } else {
    resp_connection_command(c, cmd, args, auth_);
  }
  return true;
}

void Server::resp_deliver(Conn& c, const Pending& p, const core::Outcome& o) {
  int status = resp_write_reply(c.out, o, p.reply == kReplyOk);
  metrics_.request(p.route, status, now_us() - p.start_us);
}

}  // namespace stockd::server
