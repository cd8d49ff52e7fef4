#include "server/resp_reply.h"

#include <cctype>
#include <charconv>

#include "core/field_name.h"
#include "net/resp_writer.h"

#ifndef STOCKD_VERSION
#error "STOCKD_VERSION is defined by src/server/CMakeLists.txt from the CMake project version"
#endif

namespace stockd::server {
namespace {

// Lines "sku qty sku qty ..." from args[first..] (the caller checked that they come in pairs). False,
// with the message naming the line as HTTP does (core::line_field), when a quantity is not an integer.
bool parse_lines(const std::vector<std::string_view>& args, std::size_t first, std::vector<core::HoldLine>* lines,
                 std::string* message) {
  for (std::size_t i = first; i + 1 < args.size(); i += 2) {
    core::HoldLine l;
    l.sku = std::string(args[i]);
    if (!parse_int(args[i + 1], &l.qty)) {
      *message = core::line_field(lines->size(), "qty") + " must be an integer";
      return false;
    }
    lines->push_back(std::move(l));
  }
  return true;
}

bool fail(RespWrite* w, core::Code code, std::string message) {
  w->error = code;
  w->message = std::move(message);
  return true;
}

bool parse_hold(std::string_view cmd, const std::vector<std::string_view>& args, const Principal& who,
                RespWrite* w) {
  bool sale = cmd == "SALE";
  std::size_t first = sale ? 3 : 4;
  if (args.size() < first + 2 || (args.size() - first) % 2 != 0) {
    w->wrong_args = true;
    return true;
  }
  core::CreateHold h;
  h.id = std::string(args[1]);
  h.channel = std::string(args[2]);
  h.confirm = sale;
  if (!sale) {
    std::int64_t ttl = 0;
    if (!parse_int(args[3], &ttl)) return fail(w, core::Code::invalid_request, "ttl_s must be an integer");
    h.ttl_s = ttl;
  }
  if (std::string message; !parse_lines(args, first, &h.lines, &message)) {
    return fail(w, core::Code::invalid_request, std::move(message));
  }
  if (!who.may_act_for(h.channel)) {
    return fail(w, core::Code::forbidden, "this token may not act for channel " + h.channel);
  }
  w->command = std::move(h);
  w->route = sale ? "RESP SALE" : "RESP HOLD";
  return true;
}

void hello(ConnBase& c, const std::vector<std::string_view>& args, const Auth& auth) {
  std::string& out = c.out;
  std::size_t i = 1;
  if (args.size() > 1) {
    std::int64_t proto = 0;
    if (!parse_int(args[1], &proto)) {
      return net::resp::error(out, "ERR", "Protocol version is not an integer or out of range");
    }
    if (proto != 2) return net::resp::error(out, "NOPROTO", "sorry, this protocol version is not supported");
    i = 2;
  }
  for (; i < args.size(); ++i) {
    std::string opt = upper(args[i]);
    if (opt == "AUTH" && i + 2 < args.size()) {
      Principal p = auth.identify(args[i + 2]);
      if (auth.enabled() && p.kind == Principal::Kind::none) {
        return net::resp::error(out, core::Code::unauthorized, "invalid token");
      }
      if (auth.enabled()) c.principal = p;
      i += 2;
    } else if (opt == "SETNAME" && i + 1 < args.size()) {
      ++i;
    } else {
      return net::resp::error(out, "ERR", "Syntax error in HELLO option '" + std::string(args[i]) + "'");
    }
  }
  if (auth.enabled() && c.principal.kind == Principal::Kind::none) {
    return net::resp::error(out, "NOAUTH", "HELLO must be called with the client already authenticated");
  }
  using net::resp::bulk_string;
  using net::resp::integer;
  net::resp::array_header(out, 14);
  bulk_string(out, "server"); bulk_string(out, "redis");
  bulk_string(out, "version"); bulk_string(out, "7.0.0");
  bulk_string(out, "proto"); integer(out, 2);
  bulk_string(out, "id"); integer(out, static_cast<std::int64_t>(c.id));
  bulk_string(out, "mode"); bulk_string(out, "standalone");
  bulk_string(out, "role"); bulk_string(out, "master");
  bulk_string(out, "modules"); net::resp::array_header(out, 0);
}

}  // namespace

std::string upper(std::string_view s) {
  std::string u(s);
  for (char& ch : u) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return u;
}

bool parse_int(std::string_view s, std::int64_t* v) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
  return ec == std::errc() && p == s.data() + s.size();
}

void resp_wrong_args(std::string& out, std::string_view name) {
  net::resp::error(out, "ERR", "wrong number of arguments for '" + std::string(name) + "' command");
}

void resp_outcome_error(std::string& out, const core::Outcome& o) {
  if (o.code == core::Code::insufficient_stock) {
    net::resp::error(out, o.code, "sku " + o.detail_sku + " requested " + std::to_string(o.requested) +
                                      " available " + std::to_string(o.available));
  } else if (o.code == core::Code::limit_exceeded) {
    net::resp::error(out, o.code, "sku " + o.detail_sku + " requested " + std::to_string(o.requested) +
                                      " max_per_hold " + std::to_string(o.available));
  } else {
    net::resp::error(out, o.code, o.message);
  }
}

int resp_write_reply(std::string& out, const core::Outcome& o, bool reply_ok) {
  int status = core::http_status(o.code);
  if (!o.ok()) {
    resp_outcome_error(out, o);
  } else if (o.batch) {
    resp_batch_reply(out, *o.batch);
    if (o.batch->failed) status = 409;
  } else if (reply_ok) {
    net::resp::simple_string(out, "OK");
  } else {
    net::resp::simple_string(out, core::hold_state_name(o.hold_state));
    if (o.created) status = 201;
  }
  return status;
}

bool parse_resp_write(std::string_view cmd, const std::vector<std::string_view>& args, const Principal& who,
                      RespWrite* w) {
  if (cmd == "HOLD" || cmd == "SALE") return parse_hold(cmd, args, who, w);
  if (cmd == "CONFIRM" || cmd == "RELEASE" || cmd == "EXTEND") {
    if (args.size() != (cmd == "EXTEND" ? 3u : 2u)) {
      w->wrong_args = true;
      return true;
    }
    std::string id(args[1]);
    w->hold_id = id;
    if (cmd == "CONFIRM") {
      w->command = core::ConfirmHold{id, std::nullopt};
      w->route = "RESP CONFIRM";
    } else if (cmd == "RELEASE") {
      w->command = core::ReleaseHold{id};
      w->route = "RESP RELEASE";
    } else {
      core::ExtendHold e{id, 0};
      if (!parse_int(args[2], &e.ttl_s)) return fail(w, core::Code::invalid_request, "ttl_s must be an integer");
      w->command = std::move(e);
      w->route = "RESP EXTEND";
    }
    return true;
  }
  if (cmd == "BATCH") return parse_resp_batch(args, who, w);
  if (cmd == "SETSTOCK") {
    if (args.size() != 3) {
      w->wrong_args = true;
      return true;
    }
    if (!who.admin()) return fail(w, core::Code::forbidden, "SETSTOCK needs the admin token");
    core::PutSku p;
    p.sku = std::string(args[1]);
    std::int64_t on_hand = 0;
    if (!parse_int(args[2], &on_hand)) return fail(w, core::Code::invalid_request, "on_hand must be an integer");
    p.on_hand = on_hand;
    w->command = std::move(p);
    w->route = "RESP SETSTOCK";
    w->reply_ok = true;
    return true;
  }
  return false;
}

void resp_connection_command(ConnBase& c, std::string_view cmd, const std::vector<std::string_view>& args,
                             const Auth& auth) {
  std::string& out = c.out;
  using net::resp::bulk_string;
  using net::resp::error;
  using net::resp::integer;
  using net::resp::simple_string;
  if (cmd == "PING") {
    if (args.size() > 2) return resp_wrong_args(out, args[0]);
    if (args.size() == 2) bulk_string(out, args[1]); else simple_string(out, "PONG");
  } else if (cmd == "ECHO") {
    if (args.size() != 2) return resp_wrong_args(out, args[0]);
    bulk_string(out, args[1]);
  } else if (cmd == "QUIT") {
    simple_string(out, "OK");
    c.close_after_flush = true;
  } else if (cmd == "AUTH") {
    if (args.size() != 2 && args.size() != 3) return resp_wrong_args(out, args[0]);
    Principal p = auth.identify(args.back());
    if (!auth.enabled()) {
      error(out, "ERR", "AUTH <password> called without any password configured");
    } else if (p.kind == Principal::Kind::none) {
      error(out, core::Code::unauthorized, "invalid token");
    } else {
      c.principal = p;
      simple_string(out, "OK");
    }
  } else if (cmd == "HELLO") {
    hello(c, args, auth);
  } else if (cmd == "CLIENT") {
    std::string sub = args.size() > 1 ? upper(args[1]) : "";
    if (sub == "GETNAME") net::resp::null_bulk(out);
    else if (sub == "ID") integer(out, static_cast<std::int64_t>(c.id));
    else if (sub == "SETNAME" || sub == "SETINFO" || sub == "NO-EVICT" || sub == "NO-TOUCH") simple_string(out, "OK");
    else error(out, "ERR", "unknown subcommand '" + sub + "'");
  } else if (cmd == "SELECT") {
    if (args.size() != 2) return resp_wrong_args(out, args[0]);
    if (args[1] == "0") simple_string(out, "OK"); else error(out, "ERR", "DB index is out of range");
  } else if (cmd == "COMMAND") {
    std::string sub = args.size() > 1 ? upper(args[1]) : "";
    if (sub == "COUNT") integer(out, 16); else net::resp::array_header(out, 0);
  } else if (cmd == "CONFIG") {
    net::resp::array_header(out, 0);
  } else if (cmd == "INFO") {
    bulk_string(out, "# Server\r\nredis_version:7.0.0\r\nstockd_version:" STOCKD_VERSION "\r\nredis_mode:standalone\r\n"
                     "# Keyspace\r\n");
  } else {
    std::string msg = "unknown command '" + std::string(args[0]) + "', with args beginning with: ";
    // Appended piece by piece: "'" + std::string trips GCC 12's -Wrestrict at -O3.
    for (std::size_t i = 1; i < args.size() && i < 4; ++i) {
      msg += '\'';
      msg += args[i];
      msg += "' ";
    }
    error(out, "ERR", msg);
  }
}

}  // namespace stockd::server
