#include "client/resp_client.h"

namespace stockd::client {

bool RespClient::connect(std::string* error) {
  if (!sock_.connect(endpoint_, timeout_ms_, false, error)) return false;
  sock_.set_timeout_ms(timeout_ms_);
  in_.clear();
  return true;
}

void RespClient::append(std::initializer_list<std::string_view> args) {
  append_resp_command(out_, args);
  ++queued_;
}

void RespClient::append(const std::vector<std::string>& args) {
  std::vector<std::string_view> views(args.begin(), args.end());
  append_resp_command(out_, views);
  ++queued_;
}

bool RespClient::flush(std::vector<RespReply>* replies, std::string* error) {
  replies->clear();
  if (!sock_.valid() && !connect(error)) return false;
  if (!sock_.write_all(out_, error)) {
    sock_.close();
    return false;
  }
  out_.clear();
  std::size_t want = queued_;
  queued_ = 0;
  std::size_t pos = 0;
  while (replies->size() < want) {
    RespReply r;
    RespReplyResult res = parse_resp_reply(std::string_view(in_).substr(pos), &r);
    if (res.status == RespReplyStatus::ok) {
      pos += res.consumed;
      replies->push_back(std::move(r));
      continue;
    }
    if (res.status == RespReplyStatus::error) {
      *error = res.error;
      sock_.close();
      return false;
    }
    in_.erase(0, pos);
    pos = 0;
    long n = sock_.read_some(&in_, 64 * 1024, error);
    if (n <= 0) {
      if (n == 0) *error = "connection closed by server";
      sock_.close();
      return false;
    }
  }
  in_.erase(0, pos);
  return true;
}

bool RespClient::call(std::initializer_list<std::string_view> args, RespReply* reply, std::string* error) {
  append(args);
  std::vector<RespReply> replies;
  if (!flush(&replies, error)) return false;
  *reply = std::move(replies.front());
  return true;
}

}  // namespace stockd::client
