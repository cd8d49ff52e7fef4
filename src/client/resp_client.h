// resp_client.h: a blocking RESP2 client with pipelining: queue N commands, flush them in one write,
// read N replies in order. Not thread-safe: one RespClient per thread.
#pragma once
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "client/endpoint.h"
#include "client/resp_reply.h"
#include "client/socket.h"

namespace stockd::client {

class RespClient {
 public:
  explicit RespClient(Endpoint endpoint, int timeout_ms = 30000) : endpoint_(std::move(endpoint)), timeout_ms_(timeout_ms) {}

  bool connect(std::string* error);
  // Queues one command (not sent until flush()).
  void append(std::initializer_list<std::string_view> args);
  void append(const std::vector<std::string>& args);
  std::size_t queued() const { return queued_; }
  // Sends every queued command, then reads one reply for each, in order, into *replies (cleared first).
  bool flush(std::vector<RespReply>* replies, std::string* error);
  // One command, one reply.
  bool call(std::initializer_list<std::string_view> args, RespReply* reply, std::string* error);

 private:
  Endpoint endpoint_;
  int timeout_ms_;
  Socket sock_;
  std::string out_;
  std::string in_;
  std::size_t queued_ = 0;
};

}  // namespace stockd::client
