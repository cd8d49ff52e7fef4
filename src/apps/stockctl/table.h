// table.h: plain-text tables for stockctl's human output.
//
//   SKU   ON_HAND  HELD
//   A         100     3
//
// Columns are as wide as their widest cell, separated by two spaces; a column whose every cell is a
// number (or "-") is right-aligned. No trailing spaces. Widths count bytes (identifiers are ASCII).
#pragma once
#include <string>
#include <vector>

namespace stockctl {

class Table {
 public:
  explicit Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}
  // REQUIRES: cells.size() == number of headers.
  void add(std::vector<std::string> cells);
  std::size_t rows() const { return rows_.size(); }
  std::string render() const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

// "key: value" lines with the keys padded to one width.
std::string render_fields(const std::vector<std::pair<std::string, std::string>>& fields);

}  // namespace stockctl
