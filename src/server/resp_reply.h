// resp_reply.h: the RESP front end's request handling (server_resp.cc), the same for every store:
// argument parsing of the contract's write commands, the replies to outcomes, and Redis's connection
// commands (PING, AUTH, HELLO, CLIENT, ...). The wire encoding itself is net/resp_writer.h.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/command.h"
#include "core/inventory.h"  // core::Outcome
#include "core/status.h"
#include "server/auth.h"
#include "server/conn_base.h"

namespace stockd::server {

// ASCII upper case of a command or option name.
std::string upper(std::string_view s);

// The whole of `s` as a decimal int64; false (and *v unspecified) otherwise.
bool parse_int(std::string_view s, std::int64_t* v);

// -ERR wrong number of arguments for '<name>' command
void resp_wrong_args(std::string& out, std::string_view name);

// The error reply to a failed outcome: -CODE message, with the details of insufficient_stock and
// limit_exceeded spelled out.
void resp_outcome_error(std::string& out, const core::Outcome& o);

// The reply to an applied write: the error, +OK (reply_ok) or the hold's state. Returns the HTTP-like
// status the metrics record (201 for a created hold).
int resp_write_reply(std::string& out, const core::Outcome& o, bool reply_ok);

// HOLD, SALE, CONFIRM, RELEASE, EXTEND, SETSTOCK or BATCH parsed into a command.
struct RespWrite {
  core::Command command;
  const char* route = nullptr;  // metrics label
  bool reply_ok = false;        // +OK instead of the hold's state
  bool wrong_args = false;      // answer resp_wrong_args()
  core::Code error = core::Code::ok;  // else, when not ok: answer -ERROR message
  std::string message;
  // CONFIRM, RELEASE, EXTEND with the right count of arguments: the hold acted on. The caller checks
  // that the principal may act on it before answering `error` (a forbidden hold wins over a bad ttl).
  std::string hold_id;
};

// False when `cmd` (upper case) is not one of the write commands. Checks arguments and the principal's
// channel (HOLD, SALE) or admin rights (SETSTOCK); identifiers and ranges are left to core::validate.
bool parse_resp_write(std::string_view cmd, const std::vector<std::string_view>& args, const Principal& who,
                      RespWrite* w);

// BATCH ref reason ATOMIC|EACH sku spec [sku spec ...] (resp_batch.cc explains it) into a StockBatch.
bool parse_resp_batch(const std::vector<std::string_view>& args, const Principal& who, RespWrite* w);
// A stock batch's answer: an array of +OK or the row's error, one per row.
void resp_batch_reply(std::string& out, const core::BatchAnswer& answer);

// The connection commands (PING, ECHO, QUIT, AUTH, HELLO, CLIENT, SELECT, COMMAND, CONFIG, INFO) and, for
// any other `cmd` (upper case), the unknown-command error. Sets c.principal (AUTH, HELLO) and
// c.close_after_flush (QUIT).
void resp_connection_command(ConnBase& c, std::string_view cmd, const std::vector<std::string_view>& args,
                             const Auth& auth);

}  // namespace stockd::server
