// RESP fast path: the contract's commands (HOLD, SALE, CONFIRM, RELEASE, AVAIL, SETSTOCK, plus EXTEND)
// and enough of Redis's connection commands (PING, AUTH, HELLO, CLIENT, SELECT, INFO, COMMAND, CONFIG,
// QUIT) that common client libraries and redis-benchmark connect with their default options.
#include <charconv>
#include <string>

#include "core/command.h"
#include "core/inventory.h"
#include "net/resp_parser.h"
#include "server/conn.h"
#include "server/server.h"

namespace stockd::server {
namespace {

enum RespReply : std::uint8_t { kReplyState = 0, kReplyOk = 1 };

std::string upper(std::string_view s) {
  std::string u(s);
  for (char& ch : u) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return u;
}

bool parse_int(std::string_view s, std::int64_t* v) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
  return ec == std::errc() && p == s.data() + s.size();
}

void simple(std::string& out, std::string_view s) {
  out += '+';
  out += s;
  out += "\r\n";
}

void error_line(std::string& out, std::string_view code_upper, std::string_view msg) {
  out += '-';
  out += code_upper;
  if (!msg.empty()) {
    out += ' ';
    for (char ch : msg) out += (ch == '\r' || ch == '\n') ? ' ' : ch;
  }
  out += "\r\n";
}

void error_code(std::string& out, core::Code code, std::string_view msg) {
  error_line(out, upper(core::code_name(code)), msg);
}

void integer(std::string& out, std::int64_t v) {
  out += ':';
  out += std::to_string(v);
  out += "\r\n";
}

void bulk(std::string& out, std::string_view s) {
  out += '$';
  out += std::to_string(s.size());
  out += "\r\n";
  out += s;
  out += "\r\n";
}

void outcome_error(std::string& out, const core::Outcome& o) {
  if (o.code == core::Code::insufficient_stock) {
    error_code(out, o.code, "sku " + o.detail_sku + " requested " + std::to_string(o.requested) + " available " +
                                std::to_string(o.available));
  } else if (o.code == core::Code::limit_exceeded) {
    error_code(out, o.code, "sku " + o.detail_sku + " requested " + std::to_string(o.requested) +
                                " max_per_hold " + std::to_string(o.available));
  } else {
    error_code(out, o.code, o.message);
  }
}

// Lines "sku qty sku qty ..." from args[first..].
bool parse_lines(const std::vector<std::string_view>& args, std::size_t first, std::vector<core::HoldLine>* lines) {
  if (args.size() <= first || (args.size() - first) % 2 != 0) return false;
  for (std::size_t i = first; i + 1 < args.size(); i += 2) {
    core::HoldLine l;
    l.sku = std::string(args[i]);
    if (!parse_int(args[i + 1], &l.qty)) return false;
    lines->push_back(std::move(l));
  }
  return true;
}

}  // namespace

void Server::resp_input(Conn& c) {
  std::vector<std::string_view> args;
  while (c.fd >= 0 && !c.close_after_flush && !c.polling) {
    args.clear();
    std::string_view in = c.input();
    net::RespParseResult r = net::parse_resp_command(in, &args);
    if (r.status == net::RespParseStatus::incomplete) break;
    if (r.status == net::RespParseStatus::error) {
      error_line(c.out, "ERR", "Protocol error: " + r.error);
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
    error_code(out, code, message);
    return true;
  };
  auto wrong_args = [&]() {
    if (c.inflight > 0) return false;
    error_line(out, "ERR", "wrong number of arguments for '" + std::string(args[0]) + "' command");
    return true;
  };
  bool pre_auth = cmd == "AUTH" || cmd == "HELLO" || cmd == "QUIT";
  if (auth_.enabled() && c.principal.kind == Principal::Kind::none && !pre_auth) {
    return reject(core::Code::unauthorized, "authenticate with AUTH <token> first");
  }

  // Writes: into the batch, answered after the batch is durable.
  core::Command command;
  const char* route = nullptr;
  std::uint8_t reply = kReplyState;
  if (cmd == "HOLD" || cmd == "SALE") {
    bool sale = cmd == "SALE";
    std::size_t first = sale ? 3 : 4;
    if (args.size() < first + 2 || (args.size() - first) % 2 != 0) return wrong_args();
    core::CreateHold h;
    h.id = std::string(args[1]);
    h.channel = std::string(args[2]);
    h.confirm = sale;
    if (!sale) {
      std::int64_t ttl = 0;
      if (!parse_int(args[3], &ttl)) {
        return reject(core::Code::invalid_request, "ttl_s must be an integer");
      }
      h.ttl_s = ttl;
    }
    if (!parse_lines(args, first, &h.lines)) {
      return reject(core::Code::invalid_request, "expected sku qty pairs with integer quantities");
    }
    if (!c.principal.may_act_for(h.channel)) {
      return reject(core::Code::forbidden, "this token may not act for channel " + h.channel);
    }
    command = std::move(h);
    route = sale ? "RESP SALE" : "RESP HOLD";
  } else if (cmd == "CONFIRM" || cmd == "RELEASE" || cmd == "EXTEND") {
    if (args.size() != (cmd == "EXTEND" ? 3u : 2u)) return wrong_args();
    std::string id(args[1]);
    if (!c.principal.admin()) {
      std::uint32_t h = engine_.inventory().find_hold(id);
      if (h != core::kNoIndex &&
          !c.principal.may_act_for(engine_.inventory().channel_name(engine_.inventory().hold_channel(h)))) {
        return reject(core::Code::forbidden, "hold " + id + " belongs to another channel");
      }
    }
    if (cmd == "CONFIRM") {
      command = core::ConfirmHold{id, std::nullopt};
      route = "RESP CONFIRM";
    } else if (cmd == "RELEASE") {
      command = core::ReleaseHold{id};
      route = "RESP RELEASE";
    } else {
      core::ExtendHold e{id, 0};
      if (!parse_int(args[2], &e.ttl_s)) {
        return reject(core::Code::invalid_request, "ttl_s must be an integer");
      }
      command = std::move(e);
      route = "RESP EXTEND";
    }
  } else if (cmd == "SETSTOCK") {
    if (args.size() != 3) return wrong_args();
    if (!c.principal.admin()) {
      return reject(core::Code::forbidden, "SETSTOCK needs the admin token");
    }
    core::PutSku p;
    p.sku = std::string(args[1]);
    std::int64_t on_hand = 0;
    if (!parse_int(args[2], &on_hand)) {
      return reject(core::Code::invalid_request, "on_hand must be an integer");
    }
    p.on_hand = on_hand;
    command = std::move(p);
    route = "RESP SETSTOCK";
    reply = kReplyOk;
  }
  if (route) {
    // Identifiers and ranges are checked once, by the engine (core::validate): an invalid command is
    // answered -INVALID_REQUEST in order with the batch and never journaled.
    if (batch_.size() >= static_cast<std::size_t>(opt_.max_queue) ) {
      if (c.inflight > 0) return false;
      error_code(out, core::Code::overloaded, "write queue full, retry later");
      ++overloaded_total_;
      metrics_.request(route, 429, now_us() - start);
      return true;
    }
    batch_.push_back(engine::BatchItem{std::move(command), now_ms(), {}, 0});
    pending_.push_back(Pending{&c, route, start, reply, true});
    ++c.inflight;
    return true;
  }

  // Reads and connection commands never overtake this connection's pending writes.
  if (c.inflight > 0) return false;
  if (cmd == "AVAIL") {
    if (args.size() != 2 && args.size() != 3) return wrong_args();
    const core::Inventory& inv = engine_.inventory();
    std::uint32_t sku = inv.find_sku(args[1]);
    std::string channel = args.size() == 3 ? std::string(args[2]) : c.principal.channel;
    if (!channel.empty() && !c.principal.may_act_for(channel)) {
      error_code(out, core::Code::forbidden, "this token may not read channel " + channel);
    } else if (sku == core::kNoIndex) {
      error_code(out, core::Code::unknown_sku, "unknown sku " + std::string(args[1]));
    } else if (channel.empty()) {
      integer(out, inv.available_total(sku));
    } else if (std::uint32_t ch = inv.find_channel(channel); ch == core::kNoIndex) {
      error_code(out, core::Code::unknown_channel, "unknown channel " + channel);
    } else {
      integer(out, inv.available(sku, ch));
    }
    metrics_.request("RESP AVAIL", 200, now_us() - start);
  } else if (cmd == "PING") {
    if (args.size() > 2) return wrong_args();
    if (args.size() == 2) bulk(out, args[1]); else simple(out, "PONG");
  } else if (cmd == "ECHO") {
    if (args.size() != 2) return wrong_args();
    bulk(out, args[1]);
  } else if (cmd == "QUIT") {
    simple(out, "OK");
    c.close_after_flush = true;
  } else if (cmd == "AUTH") {
    if (args.size() != 2 && args.size() != 3) return wrong_args();
    Principal p = auth_.identify(args.back());
    if (!auth_.enabled()) {
      error_line(out, "ERR", "AUTH <password> called without any password configured");
    } else if (p.kind == Principal::Kind::none) {
      error_code(out, core::Code::unauthorized, "invalid token");
    } else {
      c.principal = p;
      simple(out, "OK");
    }
  } else if (cmd == "HELLO") {
    std::size_t i = 1;
    if (args.size() > 1) {
      std::int64_t proto = 0;
      if (!parse_int(args[1], &proto)) {
        error_line(out, "ERR", "Protocol version is not an integer or out of range");
        return true;
      }
      if (proto != 2) {
        error_line(out, "NOPROTO", "sorry, this protocol version is not supported");
        return true;
      }
      i = 2;
    }
    for (; i < args.size(); ++i) {
      std::string opt = upper(args[i]);
      if (opt == "AUTH" && i + 2 < args.size()) {
        Principal p = auth_.identify(args[i + 2]);
        if (auth_.enabled() && p.kind == Principal::Kind::none) {
          error_code(out, core::Code::unauthorized, "invalid token");
          return true;
        }
        if (auth_.enabled()) c.principal = p;
        i += 2;
      } else if (opt == "SETNAME" && i + 1 < args.size()) {
        ++i;
      } else {
        error_line(out, "ERR", "Syntax error in HELLO option '" + std::string(args[i]) + "'");
        return true;
      }
    }
    if (auth_.enabled() && c.principal.kind == Principal::Kind::none) {
      error_line(out, "NOAUTH", "HELLO must be called with the client already authenticated");
      return true;
    }
    out += "*14\r\n";
    bulk(out, "server"); bulk(out, "redis");
    bulk(out, "version"); bulk(out, "7.0.0");
    bulk(out, "proto"); integer(out, 2);
    bulk(out, "id"); integer(out, static_cast<std::int64_t>(c.id));
    bulk(out, "mode"); bulk(out, "standalone");
    bulk(out, "role"); bulk(out, "master");
    bulk(out, "modules"); out += "*0\r\n";
  } else if (cmd == "CLIENT") {
    std::string sub = args.size() > 1 ? upper(args[1]) : "";
    if (sub == "GETNAME") out += "$-1\r\n";
    else if (sub == "ID") integer(out, static_cast<std::int64_t>(c.id));
    else if (sub == "SETNAME" || sub == "SETINFO" || sub == "NO-EVICT" || sub == "NO-TOUCH") simple(out, "OK");
    else error_line(out, "ERR", "unknown subcommand '" + std::string(sub) + "'");
  } else if (cmd == "SELECT") {
    if (args.size() != 2) return wrong_args();
    if (args[1] == "0") simple(out, "OK"); else error_line(out, "ERR", "DB index is out of range");
  } else if (cmd == "COMMAND") {
    std::string sub = args.size() > 1 ? upper(args[1]) : "";
    if (sub == "COUNT") integer(out, 16); else out += "*0\r\n";
  } else if (cmd == "CONFIG") {
    out += "*0\r\n";
  } else if (cmd == "INFO") {
    std::string info = "# Server\r\nredis_version:7.0.0\r\nstockd_version:0.1.0\r\nredis_mode:standalone\r\n"
                       "# Keyspace\r\n";
    bulk(out, info);
  } else if (cmd == "DBSIZE") {
    integer(out, static_cast<std::int64_t>(engine_.inventory().sku_count()));
  } else {
    std::string msg = "unknown command '" + std::string(args[0]) + "', with args beginning with: ";
    for (std::size_t i = 1; i < args.size() && i < 4; ++i) msg += "'" + std::string(args[i]) + "' ";
    error_line(out, "ERR", msg);
  }
  return true;
}

void Server::resp_deliver(Conn& c, const Pending& p, const core::Outcome& o) {
  int status = core::http_status(o.code);
  if (!o.ok()) {
    outcome_error(c.out, o);
  } else if (p.reply == kReplyOk) {
    simple(c.out, "OK");
  } else {
    simple(c.out, core::hold_state_name(o.hold_state));
    if (o.created) status = 201;
  }
  metrics_.request(p.route, status, now_us() - p.start_us);
}

}  // namespace stockd::server
