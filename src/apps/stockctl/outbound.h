// outbound.h: stockctl's commands for stockd's outbound pushes: `alerts` (show, set, test) and
// `deliveries` (per webhook channel: lag, failures, last error).
#pragma once
#include <CLI/CLI.hpp>

#include "apps/stockctl/ctx.h"

namespace stockctl {

// `alerts test` exits with this when the sample was queued but not delivered within --wait.
inline constexpr int kExitNotDelivered = 31;

void add_outbound(CLI::App& app, Action& action);

}  // namespace stockctl
