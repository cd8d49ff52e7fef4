#include "net/resp_writer.h"

#include <charconv>

namespace stockd::net::resp {
namespace {

void line_text(std::string& out, std::string_view s) {
  for (char c : s) out += (c == '\r' || c == '\n') ? ' ' : c;
}

template <typename T>
void number(std::string& out, T v) {
  char buf[24];
  out.append(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
}

}  // namespace

void simple_string(std::string& out, std::string_view s) {
  out += '+';
  line_text(out, s);
  out += "\r\n";
}

void error(std::string& out, std::string_view prefix, std::string_view message) {
  out += '-';
  line_text(out, prefix);
  if (!message.empty()) {
    out += ' ';
    line_text(out, message);
  }
  out += "\r\n";
}

void error(std::string& out, core::Code code, std::string_view message) {
  std::string prefix(core::code_name(code));
  for (char& c : prefix)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  error(out, prefix, message);
}

void integer(std::string& out, std::int64_t v) {
  out += ':';
  number(out, v);
  out += "\r\n";
}

void bulk_string(std::string& out, std::string_view s) {
  out += '$';
  number(out, s.size());
  out += "\r\n";
  out += s;
  out += "\r\n";
}

void null_bulk(std::string& out) { out += "$-1\r\n"; }

void array_header(std::string& out, std::size_t count) {
  out += '*';
  number(out, count);
  out += "\r\n";
}

void null_array(std::string& out) { out += "*-1\r\n"; }

}  // namespace stockd::net::resp
