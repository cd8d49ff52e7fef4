// Cluster mode's RESP fast path: the embedded server's commands and replies (server_resp.cc), byte for
// byte, executed synchronously through the worker's ClusterStore. The reply helpers are copied from
// server_resp.cc rather than shared so that the embedded server's file stays as it is.
#include <charconv>
#include <chrono>
#include <string>

#include "core/command.h"
#include "net/resp_parser.h"
#include "server/cluster_server.h"
#include "server/server.h"

namespace stockd::server {
namespace {

std::int64_t steady_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(steady_clock::now().time_since_epoch()).count();
}

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

void wrong_args(std::string& out, std::string_view name) {
  error_line(out, "ERR", "wrong number of arguments for '" + std::string(name) + "' command");
}

}  // namespace

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
        error_line(c.out, "ERR", "Protocol error: command too large");
        c.close_after_flush = true;
        c.in_pos = c.in.size();
      }
      return true;
    }
    if (r.status == net::RespParseStatus::error) {
      error_line(c.out, "ERR", "Protocol error: " + r.error);
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
    error_code(c.out, core::Code::unauthorized, "authenticate with AUTH <token> first");
    return;
  }
  if (resp_write(c, cmd, args, start_us)) return;
  if (cmd == "AVAIL") {
    resp_avail(c, args, start_us);
    return;
  }
  resp_connection(c, cmd, args);
}

// HOLD, SALE, CONFIRM, RELEASE, EXTEND, SETSTOCK. False when `cmd` is none of them.
bool ClusterWorker::resp_write(ClusterConn& c, const std::string& cmd, const std::vector<std::string_view>& args,
                               std::int64_t start_us) {
  std::string& out = c.out;
  core::Command command;
  const char* route = nullptr;
  bool reply_ok = false;             // +OK instead of the hold's state
  core::Outcome unknown_hold;        // ok unless a non-admin's hold was looked up and is unknown
  if (cmd == "HOLD" || cmd == "SALE") {
    bool sale = cmd == "SALE";
    std::size_t first = sale ? 3 : 4;
    if (args.size() < first + 2 || (args.size() - first) % 2 != 0) {
      wrong_args(out, args[0]);
      return true;
    }
    core::CreateHold h;
    h.id = std::string(args[1]);
    h.channel = std::string(args[2]);
    h.confirm = sale;
    if (!sale) {
      std::int64_t ttl = 0;
      if (!parse_int(args[3], &ttl)) {
        error_code(out, core::Code::invalid_request, "ttl_s must be an integer");
        return true;
      }
      h.ttl_s = ttl;
    }
    if (!parse_lines(args, first, &h.lines)) {
      error_code(out, core::Code::invalid_request, "expected sku qty pairs with integer quantities");
      return true;
    }
    if (!c.principal.may_act_for(h.channel)) {
      error_code(out, core::Code::forbidden, "this token may not act for channel " + h.channel);
      return true;
    }
    command = std::move(h);
    route = sale ? "RESP SALE" : "RESP HOLD";
  } else if (cmd == "CONFIRM" || cmd == "RELEASE" || cmd == "EXTEND") {
    if (args.size() != (cmd == "EXTEND" ? 3u : 2u)) {
      wrong_args(out, args[0]);
      return true;
    }
    std::string id(args[1]);
    bool other_channel = false;
    check_hold_owner(id, c.principal, &other_channel, &unknown_hold);
    if (other_channel) {
      error_code(out, core::Code::forbidden, "hold " + id + " belongs to another channel");
      return true;
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
        error_code(out, core::Code::invalid_request, "ttl_s must be an integer");
        return true;
      }
      command = std::move(e);
      route = "RESP EXTEND";
    }
  } else if (cmd == "SETSTOCK") {
    if (args.size() != 3) {
      wrong_args(out, args[0]);
      return true;
    }
    if (!c.principal.admin()) {
      error_code(out, core::Code::forbidden, "SETSTOCK needs the admin token");
      return true;
    }
    core::PutSku p;
    p.sku = std::string(args[1]);
    std::int64_t on_hand = 0;
    if (!parse_int(args[2], &on_hand)) {
      error_code(out, core::Code::invalid_request, "on_hand must be an integer");
      return true;
    }
    p.on_hand = on_hand;
    command = std::move(p);
    route = "RESP SETSTOCK";
    reply_ok = true;
  } else {
    return false;
  }

  // As the embedded engine: identifiers and ranges checked by core::validate, answered -INVALID_REQUEST.
  core::Outcome o;
  std::string message;
  if (core::validate(command, &message) != core::Code::ok) {
    o.code = core::Code::invalid_request;
    o.message = std::move(message);
  } else if (!unknown_hold.ok()) {
    o = std::move(unknown_hold);
  } else {
    backends::StoreReply r;
    o = store_->apply(command, wall_clock_ms(), &r);
  }
  int status = core::http_status(o.code);
  if (!o.ok()) {
    outcome_error(out, o);
  } else if (reply_ok) {
    simple(out, "OK");
  } else {
    simple(out, core::hold_state_name(o.hold_state));
    if (o.created) status = 201;
  }
  srv_.record(route, status, steady_us() - start_us);
  return true;
}

// AVAIL sku [channel]: the channel's figure, or with no channel (and a token not bound to one) the
// SKU's available. Checks in the embedded server's order: access, SKU, channel.
void ClusterWorker::resp_avail(ClusterConn& c, const std::vector<std::string_view>& args, std::int64_t start_us) {
  std::string& out = c.out;
  if (args.size() != 2 && args.size() != 3) return wrong_args(out, args[0]);
  std::string_view sku = args[1];
  std::string channel = args.size() == 3 ? std::string(args[2]) : c.principal.channel;
  std::string unknown_sku = "unknown sku " + std::string(sku);
  backends::StoreReply r;
  std::int64_t now = wall_clock_ms();
  if (!channel.empty() && !c.principal.may_act_for(channel)) {
    error_code(out, core::Code::forbidden, "this token may not read channel " + channel);
  } else if (!core::is_identifier(sku)) {
    error_code(out, core::Code::unknown_sku, unknown_sku);
  } else if (channel.empty()) {
    core::Outcome o = store_->get_sku(sku, now, &r);
    if (o.ok()) integer(out, r.sku.available);
    else if (o.code == core::Code::unknown_sku) error_code(out, o.code, unknown_sku);
    else outcome_error(out, o);
  } else {
    core::Outcome o = core::is_identifier(channel) ? store_->availability(channel, {sku}, now, &r) : core::Outcome{};
    if (!core::is_identifier(channel)) o.code = core::Code::unknown_channel;
    if (o.code == core::Code::unknown_channel) {
      // Unknown SKU first, as the embedded server answers.
      backends::StoreReply sr;
      core::Outcome so = store_->get_sku(sku, now, &sr);
      if (so.code == core::Code::unknown_sku) error_code(out, so.code, unknown_sku);
      else error_code(out, core::Code::unknown_channel, "unknown channel " + channel);
    } else if (!o.ok()) {
      outcome_error(out, o);
    } else if (r.available.empty()) {
      error_code(out, core::Code::unknown_sku, unknown_sku);
    } else {
      integer(out, r.available.front().second);
    }
  }
  srv_.record("RESP AVAIL", 200, steady_us() - start_us);
}

// The connection commands (PING, ECHO, QUIT, AUTH, HELLO, CLIENT, SELECT, COMMAND, CONFIG, INFO) and
// the unknown-command error, exactly as the embedded server answers them.
bool ClusterWorker::resp_connection(ClusterConn& c, const std::string& cmd, const std::vector<std::string_view>& args) {
  std::string& out = c.out;
  const Auth& auth = srv_.auth_;
  if (cmd == "PING") {
    if (args.size() > 2) {
      wrong_args(out, args[0]);
      return true;
    }
    if (args.size() == 2) bulk(out, args[1]); else simple(out, "PONG");
  } else if (cmd == "ECHO") {
    if (args.size() != 2) {
      wrong_args(out, args[0]);
      return true;
    }
    bulk(out, args[1]);
  } else if (cmd == "QUIT") {
    simple(out, "OK");
    c.close_after_flush = true;
  } else if (cmd == "AUTH") {
    if (args.size() != 2 && args.size() != 3) {
      wrong_args(out, args[0]);
      return true;
    }
    Principal p = auth.identify(args.back());
    if (!auth.enabled()) {
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
        Principal p = auth.identify(args[i + 2]);
        if (auth.enabled() && p.kind == Principal::Kind::none) {
          error_code(out, core::Code::unauthorized, "invalid token");
          return true;
        }
        if (auth.enabled()) c.principal = p;
        i += 2;
      } else if (opt == "SETNAME" && i + 1 < args.size()) {
        ++i;
      } else {
        error_line(out, "ERR", "Syntax error in HELLO option '" + std::string(args[i]) + "'");
        return true;
      }
    }
    if (auth.enabled() && c.principal.kind == Principal::Kind::none) {
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
    if (args.size() != 2) {
      wrong_args(out, args[0]);
      return true;
    }
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
    error_line(out, "ERR", "DBSIZE is not available on the cluster store");
  } else {
    std::string msg = "unknown command '" + std::string(args[0]) + "', with args beginning with: ";
    for (std::size_t i = 1; i < args.size() && i < 4; ++i) msg += "'" + std::string(args[i]) + "' ";
    error_line(out, "ERR", msg);
  }
  return true;
}

}  // namespace stockd::server
