// RESP2 request framing (arrays and inline, pipelined, split anywhere, limits, protocol errors) and the
// reply writers.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "net/net_limits.h"
#include "net/resp_parser.h"
#include "net/resp_writer.h"

namespace stockd::net {
namespace {

struct Parsed {
  std::vector<std::vector<std::string>> commands;
  RespParseStatus last = RespParseStatus::incomplete;
  std::string error;
  bool operator==(const Parsed&) const = default;
};

// Parses every complete command of `in`, as a server would after each read.
Parsed parse_all(std::string_view in) {
  Parsed p;
  std::vector<std::string_view> args;
  while (true) {
    RespParseResult r = parse_resp_command(in, &args);
    if (r.status == RespParseStatus::incomplete) break;
    if (r.status == RespParseStatus::error) {
      p.last = RespParseStatus::error;
      p.error = r.error;
      break;
    }
    EXPECT_GT(r.consumed, 0u);
    p.commands.emplace_back(args.begin(), args.end());
    in.remove_prefix(r.consumed);
  }
  return p;
}

// Parsing a prefix never contradicts parsing the whole: each command complete in the prefix is the same,
// and the prefix ends in `incomplete` unless the whole ends in the same error there.
void expect_prefixes_consistent(std::string_view in) {
  Parsed whole = parse_all(in);
  for (std::size_t n = 0; n <= in.size(); ++n) {
    Parsed part = parse_all(in.substr(0, n));
    ASSERT_LE(part.commands.size(), whole.commands.size()) << n;
    for (std::size_t i = 0; i < part.commands.size(); ++i) ASSERT_EQ(part.commands[i], whole.commands[i]) << n;
    if (part.last == RespParseStatus::error) {
      ASSERT_EQ(part, whole) << "prefix of " << n << " bytes";
    }
  }
}

using Cmd = std::vector<std::string>;

TEST(RespParser, ArrayOfBulkStrings) {
  using namespace std::string_literals;
  std::string in = "*3\r\n$4\r\nHOLD\r\n$0\r\n\r\n$5\r\na\r\nb\0\r\n"s;  // binary-safe bulk
  Parsed p = parse_all(in);
  ASSERT_EQ(p.commands.size(), 1u);
  EXPECT_EQ(p.commands[0], (Cmd{"HOLD", "", std::string("a\r\nb\0", 5)}));
  EXPECT_EQ(p.last, RespParseStatus::incomplete);
}

TEST(RespParser, InlineCommands) {
  Parsed p = parse_all("PING\r\n  SETSTOCK\tA  10 \r\nAVAIL A\n\r\n\n");
  ASSERT_EQ(p.commands.size(), 5u);
  EXPECT_EQ(p.commands[0], (Cmd{"PING"}));
  EXPECT_EQ(p.commands[1], (Cmd{"SETSTOCK", "A", "10"}));
  EXPECT_EQ(p.commands[2], (Cmd{"AVAIL", "A"}));
  EXPECT_TRUE(p.commands[3].empty());  // empty lines are empty commands, consumed
  EXPECT_TRUE(p.commands[4].empty());
}

TEST(RespParser, EmptyAndNullArraysAreEmptyCommands) {
  Parsed p = parse_all("*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n");
  ASSERT_EQ(p.commands.size(), 3u);
  EXPECT_TRUE(p.commands[0].empty());
  EXPECT_TRUE(p.commands[1].empty());
  EXPECT_EQ(p.commands[2], (Cmd{"PING"}));
}

TEST(RespParser, PipelinedAndSplitAnywhere) {
  std::string in =
      "*2\r\n$4\r\nAUTH\r\n$3\r\ntok\r\n"
      "HOLD o-1 app 900 A 2\r\n"
      "*5\r\n$4\r\nSALE\r\n$3\r\no-2\r\n$3\r\npos\r\n$1\r\nA\r\n$1\r\n1\r\n"
      "PING\n";
  Parsed p = parse_all(in);
  ASSERT_EQ(p.commands.size(), 4u);
  EXPECT_EQ(p.commands[1], (Cmd{"HOLD", "o-1", "app", "900", "A", "2"}));
  EXPECT_EQ(p.commands[2], (Cmd{"SALE", "o-2", "pos", "A", "1"}));
  expect_prefixes_consistent(in);
}

TEST(RespParser, ProtocolErrors) {
  struct Case {
    std::string in, error;
  } cases[] = {
      {"*x\r\n", "invalid multibulk length"},
      {"*\r\n", "invalid multibulk length"},
      {"*01\r\n", "invalid multibulk length"},
      {"*+1\r\n", "invalid multibulk length"},
      {"*1\n", "invalid multibulk length"},
      {"*" + std::to_string(kRespArgsMax + 1) + "\r\n", "invalid multibulk length"},
      {"*99999999999999999999\r\n", "invalid multibulk length"},
      {"*1\r\n:1\r\n", "expected '$', got ':'"},
      {"*1\r\n$-1\r\n", "invalid bulk length"},
      {"*1\r\n$x\r\n", "invalid bulk length"},
      {"*1\r\n$" + std::to_string(kRespBulkBytesMax + 1) + "\r\n", "invalid bulk length"},
      {"*1\r\n$2\r\nabc\r\n", "expected CRLF after bulk string"},
      {"*1" + std::string(kRespCountLineBytesMax, '0'), "invalid multibulk length"},
      {std::string(kRespInlineBytesMax, 'a'), "too big inline request"},
  };
  for (const Case& c : cases) {
    Parsed p = parse_all(c.in);
    EXPECT_EQ(p.last, RespParseStatus::error) << c.in;
    EXPECT_EQ(p.error, c.error) << c.in;
    expect_prefixes_consistent(c.in.substr(0, 200));
  }
  std::string many;
  for (std::size_t i = 0; i <= kRespArgsMax; ++i) many += "a ";
  EXPECT_EQ(parse_all(many + "\r\n").error, "too many arguments in inline request");
}

TEST(RespParser, LimitsAreInclusive) {
  std::string bulk(kRespBulkBytesMax, 'b');
  Parsed p = parse_all("*1\r\n$" + std::to_string(bulk.size()) + "\r\n" + bulk + "\r\n");
  ASSERT_EQ(p.commands.size(), 1u);
  EXPECT_EQ(p.commands[0][0].size(), kRespBulkBytesMax);
  std::string args = "*" + std::to_string(kRespArgsMax) + "\r\n";
  for (std::size_t i = 0; i < kRespArgsMax; ++i) args += "$1\r\nx\r\n";
  p = parse_all(args);
  ASSERT_EQ(p.commands.size(), 1u);
  EXPECT_EQ(p.commands[0].size(), kRespArgsMax);
  std::string line(kRespInlineBytesMax - 1, 'a');
  p = parse_all(line + "\n");
  ASSERT_EQ(p.commands.size(), 1u);
  EXPECT_EQ(p.commands[0][0].size(), kRespInlineBytesMax - 1);
}

TEST(RespParser, IncompleteNeedsMore) {
  std::vector<std::string_view> args{"stale"};
  RespParseResult r = parse_resp_command("*2\r\n$4\r\nPING\r\n", &args);
  EXPECT_EQ(r.status, RespParseStatus::incomplete);
  EXPECT_TRUE(args.empty());
  EXPECT_EQ(parse_resp_command("", &args).status, RespParseStatus::incomplete);
  EXPECT_EQ(parse_resp_command("PING", &args).status, RespParseStatus::incomplete);
}

TEST(RespWriter, Replies) {
  std::string out;
  resp::simple_string(out, "OK");
  resp::simple_string(out, "a\r\nb");
  resp::error(out, "ERR", "Protocol error: invalid bulk length");
  resp::error(out, core::Code::insufficient_stock, "sku A requested 2 available 1");
  resp::error(out, "NOAUTH", "");
  resp::integer(out, -42);
  resp::bulk_string(out, std::string_view("a\0b", 3));
  resp::null_bulk(out);
  resp::array_header(out, 2);
  resp::null_array(out);
  using namespace std::string_literals;
  EXPECT_EQ(out, "+OK\r\n+a  b\r\n-ERR Protocol error: invalid bulk length\r\n"
                 "-INSUFFICIENT_STOCK sku A requested 2 available 1\r\n-NOAUTH\r\n:-42\r\n"
                 "$3\r\na\0b\r\n$-1\r\n*2\r\n*-1\r\n"s);
}

}  // namespace
}  // namespace stockd::net
