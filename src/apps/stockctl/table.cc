#include "apps/stockctl/table.h"

#include <algorithm>
#include <cassert>

namespace stockctl {
namespace {

bool is_number(const std::string& s) {
  if (s == "-") return true;
  if (s.empty()) return false;
  std::size_t i = (s[0] == '-') ? 1 : 0;
  if (i == s.size()) return false;
  bool dot = false;
  for (; i < s.size(); ++i) {
    if (s[i] == '.' && !dot) dot = true;
    else if (s[i] < '0' || s[i] > '9') return false;
  }
  return true;
}

void rtrim(std::string& s) {
  while (!s.empty() && s.back() == ' ') s.pop_back();
}

}  // namespace

void Table::add(std::vector<std::string> cells) {
  assert(cells.size() == headers_.size());
  cells.resize(headers_.size());
  rows_.push_back(std::move(cells));
}

std::string Table::render() const {
  std::size_t n = headers_.size();
  std::vector<std::size_t> width(n);
  std::vector<bool> right(n, !rows_.empty());
  for (std::size_t c = 0; c < n; ++c) {
    width[c] = headers_[c].size();
    for (const auto& row : rows_) {
      width[c] = std::max(width[c], row[c].size());
      if (!is_number(row[c])) right[c] = false;
    }
  }
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    std::string l;
    for (std::size_t c = 0; c < n; ++c) {
      if (c) l += "  ";
      std::string pad(width[c] - cells[c].size(), ' ');
      l += right[c] ? pad + cells[c] : cells[c] + pad;
    }
    rtrim(l);
    out += l;
    out += '\n';
  };
  line(headers_);
  for (const auto& row : rows_) line(row);
  return out;
}

std::string render_fields(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::size_t w = 0;
  for (const auto& [k, v] : fields) w = std::max(w, k.size());
  std::string out;
  for (const auto& [k, v] : fields) {
    out += k;
    out += ':';
    out += std::string(w - k.size() + 1, ' ');
    out += v;
    out += '\n';
  }
  return out;
}

}  // namespace stockctl
