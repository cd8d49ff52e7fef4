// field_name.h: how an error message names a field of a hold line. HTTP's decoder, RESP's parser and
// core::validate all call this, so a client sees the same name whichever protocol it used.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace stockd::core {

// line_field(1) == "lines[1]", line_field(1, "qty") == "lines[1].qty" (index from 0, as sent).
std::string line_field(std::size_t index, std::string_view field = {});

}  // namespace stockd::core
