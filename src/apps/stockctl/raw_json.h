// raw_json.h: the bytes of the elements of one array in a JSON reply, as the server sent them, so that
// `stockctl --json watch` prints each event exactly as received (nlohmann::json would sort its keys
// and may respell its numbers).
#pragma once
#include <string_view>
#include <vector>

namespace stockctl {

// The elements of the array `key` of the top-level object `body`, each as its own slice of `body`.
// REQUIRES: body is valid JSON (the caller parsed it already). False when body is not an object or
// has no array `key`.
bool raw_array_items(std::string_view body, std::string_view key, std::vector<std::string_view>* items);

}  // namespace stockctl
