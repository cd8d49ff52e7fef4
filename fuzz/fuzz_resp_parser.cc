// Fuzzes the RESP2 request parser. Checks: no crash or sanitizer report, the limits hold, a prefix of the
// stream never contradicts the whole stream (a command complete in the prefix is the same command, an
// error in the prefix is the same error), and every parsed command, written back as an array of bulk
// strings with the reply writers' framing, parses to the same arguments.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "net/net_limits.h"
#include "net/resp_parser.h"
#include "net/resp_writer.h"

namespace {

using namespace stockd::net;

struct Outcome {
  std::vector<std::vector<std::string>> commands;
  bool error = false;
  std::string message;
};

Outcome parse_all(std::string_view in) {
  Outcome out;
  std::vector<std::string_view> args;
  while (true) {
    RespParseResult r = parse_resp_command(in, &args);
    if (r.status == RespParseStatus::incomplete) {
      FUZZ_CHECK(args.empty());
      break;
    }
    if (r.status == RespParseStatus::error) {
      FUZZ_CHECK(!r.error.empty());
      out.error = true;
      out.message = r.error;
      break;
    }
    FUZZ_CHECK(r.consumed > 0 && r.consumed <= in.size());
    FUZZ_CHECK(args.size() <= kRespArgsMax);
    std::vector<std::string> cmd;
    for (std::string_view a : args) {
      FUZZ_CHECK(a.size() <= kRespBulkBytesMax);
      FUZZ_CHECK(a.data() >= in.data() && a.data() + a.size() <= in.data() + r.consumed);  // zero-copy
      cmd.emplace_back(a);
    }
    if (!cmd.empty()) {
      std::string framed;
      resp::array_header(framed, cmd.size());
      for (const auto& a : cmd) resp::bulk_string(framed, a);
      std::vector<std::string_view> again;
      RespParseResult r2 = parse_resp_command(framed, &again);
      FUZZ_CHECK(r2.status == RespParseStatus::ok && r2.consumed == framed.size());
      FUZZ_CHECK(again.size() == cmd.size());
      for (std::size_t i = 0; i < cmd.size(); ++i) FUZZ_CHECK(again[i] == cmd[i]);
    }
    out.commands.push_back(std::move(cmd));
    in.remove_prefix(r.consumed);
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  Outcome whole = parse_all(in);
  std::size_t cut = size == 0 ? 0 : (data[0] * 131u + size) % (size + 1);
  Outcome part = parse_all(in.substr(0, cut));
  FUZZ_CHECK(part.commands.size() <= whole.commands.size());
  for (std::size_t i = 0; i < part.commands.size(); ++i) FUZZ_CHECK(part.commands[i] == whole.commands[i]);
  if (part.error) FUZZ_CHECK(whole.error && whole.message == part.message && part.commands.size() == whole.commands.size());
  return 0;
}
