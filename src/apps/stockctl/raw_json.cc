// A scan over text already known to be valid JSON: it only finds where values begin and end.
#include "apps/stockctl/raw_json.h"

namespace stockctl {
namespace {

std::size_t skip_space(std::string_view s, std::size_t i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n')) ++i;
  return i;
}

// s[i] is the opening quote; returns the index after the closing one.
std::size_t skip_string(std::string_view s, std::size_t i) {
  for (++i; i < s.size(); ++i) {
    if (s[i] == '\\') ++i;
    else if (s[i] == '"') return i + 1;
  }
  return s.size();
}

// The index just after the value that starts at s[i].
std::size_t skip_value(std::string_view s, std::size_t i) {
  if (i >= s.size()) return i;
  if (s[i] == '"') return skip_string(s, i);
  if (s[i] != '{' && s[i] != '[') {
    while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ' ' && s[i] != '\t' &&
           s[i] != '\r' && s[i] != '\n')
      ++i;
    return i;
  }
  std::size_t depth = 0;
  while (i < s.size()) {
    char c = s[i];
    if (c == '"') {
      i = skip_string(s, i);
      continue;
    }
    if (c == '{' || c == '[') ++depth;
    if ((c == '}' || c == ']') && --depth == 0) return i + 1;
    ++i;
  }
  return i;
}

// s[i] is '['; appends its elements.
void split_array(std::string_view s, std::size_t i, std::vector<std::string_view>* items) {
  for (i = skip_space(s, i + 1); i < s.size() && s[i] != ']'; i = skip_space(s, i)) {
    std::size_t end = skip_value(s, i);
    items->push_back(s.substr(i, end - i));
    i = skip_space(s, end);
    if (i < s.size() && s[i] == ',') ++i;
  }
}

}  // namespace

bool raw_array_items(std::string_view body, std::string_view key, std::vector<std::string_view>* items) {
  items->clear();
  std::size_t i = skip_space(body, 0);
  if (i >= body.size() || body[i] != '{') return false;
  for (i = skip_space(body, i + 1); i < body.size() && body[i] == '"'; i = skip_space(body, i)) {
    std::size_t key_end = skip_string(body, i);
    std::string_view name = body.substr(i + 1, key_end - i - 2);
    i = skip_space(body, key_end);
    if (i >= body.size() || body[i] != ':') return false;
    i = skip_space(body, i + 1);
    if (name == key && i < body.size() && body[i] == '[') {
      split_array(body, i, items);
      return true;
    }
    i = skip_space(body, skip_value(body, i));
    if (i < body.size() && body[i] == ',') ++i;
  }
  return false;
}

}  // namespace stockctl
