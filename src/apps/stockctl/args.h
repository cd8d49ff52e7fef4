// args.h: stockctl's small argument languages, turned into the contract's JSON bodies.
//   line   "SKU:QTY"                        -> {"sku":"SKU","qty":QTY}
//   fence  "CHANNEL=ratio:0.2" | "CHANNEL=0.2" (a ratio has a dot) | "CHANNEL=units:50" | "CHANNEL=50"
//          -> "CHANNEL": {"ratio":0.2} | {"units":50}
//   pool   "NAME=UNITS:CH1,CH2"             -> "NAME": {"units":UNITS,"channels":["CH1","CH2"]}
// Each returns false with *error naming the bad argument. Identifiers are not checked here: the
// server checks them and answers invalid_request with the contract's message.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace stockctl {

bool parse_line(std::string_view arg, nlohmann::json* line, std::string* error);
bool parse_lines(const std::vector<std::string>& args, nlohmann::json* lines, std::string* error);
bool parse_fence(std::string_view arg, std::string* channel, nlohmann::json* fence, std::string* error);
bool parse_pool(std::string_view arg, std::string* name, nlohmann::json* pool, std::string* error);

}  // namespace stockctl
