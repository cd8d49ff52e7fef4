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

namespace {

// The RESP commands a store may lack (store.h): answered -ERR from here, the one place.
struct RespCapability {
  std::string_view cmd;
  store::Capability capability;
  const char* message;
};
constexpr RespCapability kRespCapabilities[] = {
    {"BATCH", store::Capability::stock_batches, "BATCH is not supported by the cluster store"},
    {"DBSIZE", store::Capability::sku_count, "DBSIZE is not available on the cluster store"},
};

}  // namespace

bool Server::resp_request(Conn& c, const std::vector<std::string_view>& args) {
  std::string cmd = upper(args[0]);
  std::string& out = c.out;
  std::int64_t start = round_start_us_;
  // A reply written now must not overtake this connection's requests in flight: then the request
  // waits (returns false) and is answered after them, in order.
  auto reject = [&](core::Code code, const std::string& message) {
    if (c.inflight > 0) return false;
    net::resp::error(out, code, message);
    return true;
  };
  bool pre_auth = cmd == "AUTH" || cmd == "HELLO" || cmd == "QUIT";
  if (auth_.enabled() && c.principal.kind == Principal::Kind::none && !pre_auth) {
    return reject(core::Code::unauthorized, "authenticate with AUTH <token> first");
  }
  if (!caps_all_) {
    for (const RespCapability& rc : kRespCapabilities) {
      if (cmd != rc.cmd || caps_.has(rc.capability)) continue;
      if (c.inflight > 0) return false;
      net::resp::error(out, "ERR", rc.message);
      return true;
    }
  }

  // Writes: to the store, answered when they complete (resp_write_done).
  RespWrite w;
  if (parse_resp_write(cmd, args, c.principal, &w)) {
    if (w.wrong_args) {
      if (c.inflight > 0) return false;
      resp_wrong_args(out, args[0]);
      return true;
    }
    // Identifiers and ranges are checked once, by the store (core::validate): an invalid command is
    // answered -INVALID_REQUEST in order with the batch and never journaled.
    store::Write sw;
    sw.cmd = &w.command;
    sw.now_ms = now_ms();
    sw.stream = c.id;
    sw.status = core::Status{w.error, w.message};
    if (!w.hold_id.empty() && !c.principal.admin()) {
      sw.hold_id = w.hold_id;
      sw.acting_channel = c.principal.channel;
    }
    sw.queue_max = static_cast<std::size_t>(opt_.max_queue);
    std::uint32_t slot = pending_slot();
    Pending& p = pendings_[slot];
    p.conn = &c;
    p.route = w.route;
    p.start_us = start;
    p.reply = w.reply_ok ? kReplyOk : kReplyState;
    p.keep_alive = true;
    p.forbidden.clear();
    if (!sw.acting_channel.empty()) {
      p.forbidden.assign("hold ");
      p.forbidden.append(w.hold_id);
      p.forbidden.append(" belongs to another channel");
    }
    sw.tag = slot;
    core::Code code = store_.submit(sw);
    if (code == core::Code::ok) {
      ++c.inflight;
      return true;
    }
    release_pending(slot);
    if (code == core::Code::forbidden) return reject(core::Code::forbidden, "hold " + w.hold_id + " belongs to another channel");
    if (code == core::Code::overloaded) {
      if (c.inflight > 0) return false;
      net::resp::error(out, core::Code::overloaded, "write queue full, retry later");
      ++overloaded_total_;
      metrics_.request(w.route, 429, now_us() - start);
      return true;
    }
    return reject(sw.status.code, sw.status.message);
  }

  // Reads and connection commands never overtake this connection's requests in flight.
  if (c.inflight > 0) return false;
  if (cmd == "AVAIL" || cmd == "DBSIZE") {
    store::Read r;
    if (cmd == "AVAIL") {
      if (args.size() != 2 && args.size() != 3) {
        resp_wrong_args(out, args[0]);
        return true;
      }
      std::string_view channel = args.size() == 3 ? args[2] : std::string_view(c.principal.channel);
      if (!channel.empty() && !c.principal.may_act_for(channel)) {
        net::resp::error(out, core::Code::forbidden, "this token may not read channel " + std::string(channel));
        metrics_.request("RESP AVAIL", 200, now_us() - start);
        return true;
      }
      r.kind = store::ReadKind::avail;
      r.name = args[1];
      r.channel = channel;
    } else {
      r.kind = store::ReadKind::sku_count;
    }
    std::uint32_t slot = pending_slot();
    Pending& p = pendings_[slot];
    p.conn = &c;
    p.route = cmd == "AVAIL" ? "RESP AVAIL" : "";
    p.start_us = start;
    p.reply = 0;
    p.forbidden.clear();
    r.tag = slot;
    r.stream = c.id;
    r.now_ms = now_ms();
    ++c.inflight;
    store_.read(r);
  } else {
    resp_connection_command(c, cmd, args, auth_);
  }
  return true;
}

void Server::resp_write_done(Conn& c, const Pending& p, const store::WriteDone& d) {
  const core::Outcome& o = *d.outcome;
  int status;
  if (o.code == core::Code::forbidden && !p.forbidden.empty()) {
    net::resp::error(c.out, o.code, p.forbidden);
    status = 403;
  } else {
    status = resp_write_reply(c.out, o, p.reply == kReplyOk);
  }
  metrics_.request(p.route, status, now_us() - p.start_us);
}

void Server::resp_read_done(Conn& c, const Pending& p, const store::ReadDone& d) {
  const core::Outcome& o = *d.outcome;
  if (!o.ok()) resp_outcome_error(c.out, o);
  else net::resp::integer(c.out, d.count);
  if (d.kind == store::ReadKind::avail) metrics_.request("RESP AVAIL", 200, now_us() - p.start_us);
}

}  // namespace stockd::server
