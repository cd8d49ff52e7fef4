// Cluster mode's RESP fast path: the embedded server's commands and replies (server_resp.cc), byte for
// byte (both use resp_reply.h), executed synchronously through the worker's ClusterStore.
#include <string>

#include "core/command.h"
#include "net/resp_parser.h"
#include "net/resp_writer.h"
#include "server/clock.h"
#include "server/cluster_server.h"
#include "server/resp_reply.h"
#include "server/server.h"

namespace stockd::server {

bool ClusterWorker::resp_input(ClusterConn& c, std::size_t max) {
  const std::size_t out_max = static_cast<std::size_t>(srv_.opt_.max_output_bytes);
  std::vector<std::string_view> args;
  std::size_t served = 0;
  while (c.fd >= 0 && !c.close_after_flush) {
    std::string_view in = c.input();
    if (in.empty()) return true;
    if (served >= max || c.pending_output() >= out_max) return false;
    std::int64_t start = steady_us();
    args.clear();
    net::RespParseResult r = net::parse_resp_command(in, &args);
    if (r.status == net::RespParseStatus::incomplete) {
      if (in.size() >= input_cap(c)) {  // a command larger than the input buffer can ever complete
        net::resp::error(c.out, "ERR", "Protocol error: command too large");
        c.close_after_flush = true;
        c.in_pos = c.in.size();
      }
      return true;
    }
    if (r.status == net::RespParseStatus::error) {
      net::resp::error(c.out, "ERR", "Protocol error: " + r.error);
      c.close_after_flush = true;
      c.in_pos = c.in.size();
      return true;
    }
    c.in_pos += r.consumed;  // args still point into c.in: nothing below changes it
    if (args.empty()) continue;  // an empty inline line
    resp_request(c, args, start);
    ++served;
  }
  return true;
}

void ClusterWorker::resp_request(ClusterConn& c, const std::vector<std::string_view>& args, std::int64_t start_us) {
  std::string cmd = upper(args[0]);
  bool pre_auth = cmd == "AUTH" || cmd == "HELLO" || cmd == "QUIT";
  if (srv_.auth_.enabled() && c.principal.kind == Principal::Kind::none && !pre_auth) {
    net::resp::error(c.out, core::Code::unauthorized, "authenticate with AUTH <token> first");
    return;
  }
  if (resp_write(c, cmd, args, start_us)) return;
  if (cmd == "AVAIL") {
    resp_avail(c, args, start_us);
    return;
  }
  resp_connection(c, cmd, args);
}

// HOLD, SALE, CONFIRM, RELEASE, EXTEND, SETSTOCK, BATCH (-ERR). False when `cmd` is none of them.
bool ClusterWorker::resp_write(ClusterConn& c, const std::string& cmd, const std::vector<std::string_view>& args,
                               std::int64_t start_us) {
  std::string& out = c.out;
  RespWrite w;
  if (!parse_resp_write(cmd, args, c.principal, &w)) return false;
  if (w.wrong_args) {
    resp_wrong_args(out, args[0]);
    return true;
  }
  if (cmd == "BATCH") {  // stock batches are on the embedded store only (docs/api.md)
    net::resp::error(out, "ERR", "BATCH is not supported by the cluster store");
    return true;
  }
  core::Outcome unknown_hold;  // ok unless a non-admin's hold was looked up and is unknown
  if (!w.hold_id.empty()) {
    bool other_channel = false;
    check_hold_owner(w.hold_id, c.principal, &other_channel, &unknown_hold);
    if (other_channel) {
      net::resp::error(out, core::Code::forbidden, "hold " + w.hold_id + " belongs to another channel");
      return true;
    }
  }
  if (w.error != core::Code::ok) {
    net::resp::error(out, w.error, w.message);
    return true;
  }

  // As the embedded engine: identifiers and ranges checked by core::validate, answered -INVALID_REQUEST.
  core::Outcome o;
  std::string message;
  if (core::validate(w.command, &message) != core::Code::ok) {
    o.code = core::Code::invalid_request;
    o.message = std::move(message);
  } else if (!unknown_hold.ok()) {
    o = std::move(unknown_hold);
  } else {
    backends::StoreReply r;
    o = store_->apply(w.command, wall_clock_ms(), &r);
  }
  std::size_t begin = out.size();
  int status = resp_write_reply(out, o, w.reply_ok);
  if (o.ok()) unacked_.push_back({begin, out.size(), true});
  srv_.record(w.route, status, steady_us() - start_us);
  return true;
}

// AVAIL sku [channel]: the channel's figure, or with no channel (and a token not bound to one) the
// SKU's available. Checks in the embedded server's order: access, SKU, channel.
void ClusterWorker::resp_avail(ClusterConn& c, const std::vector<std::string_view>& args, std::int64_t start_us) {
  std::string& out = c.out;
  if (args.size() != 2 && args.size() != 3) return resp_wrong_args(out, args[0]);
  std::string_view sku = args[1];
  std::string channel = args.size() == 3 ? std::string(args[2]) : c.principal.channel;
  std::string unknown_sku = "unknown sku " + std::string(sku);
  backends::StoreReply r;
  std::int64_t now = wall_clock_ms();
  if (!channel.empty() && !c.principal.may_act_for(channel)) {
    net::resp::error(out, core::Code::forbidden, "this token may not read channel " + channel);
  } else if (!core::is_identifier(sku)) {
    net::resp::error(out, core::Code::unknown_sku, unknown_sku);
  } else if (channel.empty()) {
    core::Outcome o = store_->get_sku(sku, now, &r);
    if (o.ok()) net::resp::integer(out, r.sku.available);
    else if (o.code == core::Code::unknown_sku) net::resp::error(out, o.code, unknown_sku);
    else resp_outcome_error(out, o);
  } else {
    core::Outcome o = core::is_identifier(channel) ? store_->availability(channel, {sku}, now, &r) : core::Outcome{};
    if (!core::is_identifier(channel)) o.code = core::Code::unknown_channel;
    if (o.code == core::Code::unknown_channel) {
      // Unknown SKU first, as the embedded server answers.
      backends::StoreReply sr;
      core::Outcome so = store_->get_sku(sku, now, &sr);
      if (so.code == core::Code::unknown_sku) net::resp::error(out, so.code, unknown_sku);
      else net::resp::error(out, core::Code::unknown_channel, "unknown channel " + channel);
    } else if (!o.ok()) {
      resp_outcome_error(out, o);
    } else if (r.available.empty()) {
      net::resp::error(out, core::Code::unknown_sku, unknown_sku);
    } else {
      net::resp::integer(out, r.available.front().second);
    }
  }
  srv_.record("RESP AVAIL", 200, steady_us() - start_us);
}

// The connection commands, exactly as the embedded server answers them, and DBSIZE, which is not.
bool ClusterWorker::resp_connection(ClusterConn& c, const std::string& cmd, const std::vector<std::string_view>& args) {
  if (cmd == "DBSIZE") net::resp::error(c.out, "ERR", "DBSIZE is not available on the cluster store");
  else resp_connection_command(c, cmd, args, srv_.auth_);
  return true;
}

}  // namespace stockd::server
