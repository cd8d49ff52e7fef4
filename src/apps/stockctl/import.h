// import.h: stockctl's `import` (a CSV of stock figures sent as POST /v1/stock/batches) and `export`
// (every SKU's figures as CSV). import.cc explains the file format and the refs.
#pragma once
#include <CLI/CLI.hpp>

#include "apps/stockctl/ctx.h"

namespace stockctl {

void add_import_export(CLI::App& app, Action& action);

}  // namespace stockctl
