#include "apps/stockctl/args.h"

#include <charconv>
#include <cstdlib>

namespace stockctl {
namespace {

bool to_int(std::string_view s, long long* v) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
  return !s.empty() && ec == std::errc() && p == s.data() + s.size();
}

bool to_ratio(std::string_view s, double* v) {
  std::string copy(s);
  char* end = nullptr;
  *v = std::strtod(copy.c_str(), &end);
  return !copy.empty() && end == copy.c_str() + copy.size() && *v >= 0 && *v <= 1;
}

}  // namespace

bool parse_line(std::string_view arg, nlohmann::json* line, std::string* error) {
  auto colon = arg.rfind(':');
  long long qty = 0;
  if (colon == std::string_view::npos || colon == 0 || !to_int(arg.substr(colon + 1), &qty)) {
    *error = "line '" + std::string(arg) + "' must be SKU:QTY, e.g. A:2";
    return false;
  }
  *line = {{"sku", std::string(arg.substr(0, colon))}, {"qty", qty}};
  return true;
}

bool parse_lines(const std::vector<std::string>& args, nlohmann::json* lines, std::string* error) {
  *lines = nlohmann::json::array();
  for (const auto& a : args) {
    nlohmann::json l;
    if (!parse_line(a, &l, error)) return false;
    lines->push_back(std::move(l));
  }
  return true;
}

bool parse_fence(std::string_view arg, std::string* channel, nlohmann::json* fence, std::string* error) {
  auto eq = arg.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    *error = "fence '" + std::string(arg) + "' must be CHANNEL=ratio:R or CHANNEL=units:N";
    return false;
  }
  *channel = std::string(arg.substr(0, eq));
  std::string_view v = arg.substr(eq + 1);
  bool ratio = v.find('.') != std::string_view::npos;
  if (v.starts_with("ratio:")) {
    v.remove_prefix(6);
    ratio = true;
  } else if (v.starts_with("units:")) {
    v.remove_prefix(6);
    ratio = false;
  }
  if (ratio) {
    double r = 0;
    if (!to_ratio(v, &r)) {
      *error = "fence '" + std::string(arg) + "': a ratio is a number from 0 to 1";
      return false;
    }
    *fence = {{"ratio", r}};
  } else {
    long long u = 0;
    if (!to_int(v, &u) || u < 0) {
      *error = "fence '" + std::string(arg) + "': units is a whole number >= 0";
      return false;
    }
    *fence = {{"units", u}};
  }
  return true;
}

bool parse_pool(std::string_view arg, std::string* name, nlohmann::json* pool, std::string* error) {
  auto eq = arg.find('=');
  auto colon = arg.find(':', eq == std::string_view::npos ? 0 : eq);
  long long units = 0;
  if (eq == std::string_view::npos || eq == 0 || colon == std::string_view::npos ||
      !to_int(arg.substr(eq + 1, colon - eq - 1), &units) || units < 0) {
    *error = "pool '" + std::string(arg) + "' must be NAME=UNITS:CHANNEL[,CHANNEL...]";
    return false;
  }
  *name = std::string(arg.substr(0, eq));
  nlohmann::json channels = nlohmann::json::array();
  std::string_view rest = arg.substr(colon + 1);
  while (!rest.empty()) {
    auto comma = rest.find(',');
    std::string_view ch = rest.substr(0, comma);
    if (!ch.empty()) channels.push_back(std::string(ch));
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  if (channels.empty()) {
    *error = "pool '" + std::string(arg) + "' lists no channel";
    return false;
  }
  *pool = {{"units", units}, {"channels", channels}};
  return true;
}

}  // namespace stockctl
