// stockctl import / export: a CSV of stock figures in and out (docs/stockctl.md, "Import and export").
//
// import FILE.csv --reason R [--ref REF] [--atomic] [--dry-run] [--batch-size N]
//   The header line decides what the rows mean: `sku,on_hand`, `sku,on_hand,expect_on_hand` (set,
//   optionally compare-and-set) or `sku,delta`. The rows go to POST /v1/stock/batches in batches of
//   up to 10,000 (the contract's maximum), with refs REF-1, REF-2, ... (REF: --ref, or generated from
//   the time and process id), so an import that is run again with the same --ref is applied once.
//   --atomic makes each batch all-or-nothing (not the whole file); a failed atomic batch stops the
//   import. --dry-run sends nothing: it reads the current figures (GET /v1/skus pages) and prints
//   what each row would change.
// export FILE.csv ("-": standard output): `sku,on_hand,safety_stock,held,available` of every SKU; import
//   reads such a file back as `sku,on_hand` (a restore of on_hand).
#include "apps/stockctl/import.h"

#include <chrono>
#include <charconv>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <unistd.h>
#include <unordered_map>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "client/api_error.h"

namespace stockctl {
namespace {

using json = nlohmann::json;
using stockd::client::kExitBadReply;
using stockd::client::kExitOk;
using stockd::client::kExitUsage;

constexpr std::size_t kBatchRowsMax = 10'000;     // the contract's rows per batch
constexpr std::int64_t kPageLimit = 1000;         // GET /v1/skus page size (its maximum)

enum class Kind { set, set_expect, delta };

// What export writes; import reads it back as sku,on_hand (the other columns are ignored).
const std::vector<std::string> kExportHeader = {"sku", "on_hand", "safety_stock", "held", "available"};

struct Row {
  std::string sku;
  std::int64_t value = 0;
  std::optional<std::int64_t> expect;
  std::size_t line = 0;
};

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return std::string(s);
}

std::vector<std::string> split_csv(const std::string& line) {
  std::vector<std::string> fields;
  std::size_t start = 0;
  while (true) {
    std::size_t comma = line.find(',', start);
    fields.push_back(trim(std::string_view(line).substr(start, comma == std::string::npos ? comma : comma - start)));
    if (comma == std::string::npos) return fields;
    start = comma + 1;
  }
}

bool to_int(const std::string& s, std::int64_t* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

// Reads the whole file; false with a message naming the line on any malformed line.
bool read_csv(const std::string& path, Kind* kind, std::vector<Row>* rows, std::string* error) {
  std::ifstream in(path);
  if (!in) {
    *error = "cannot open " + path;
    return false;
  }
  std::string line;
  if (!std::getline(in, line)) {
    *error = path + " is empty: it needs a header line";
    return false;
  }
  std::vector<std::string> head = split_csv(line);
  std::size_t extra = 0;  // columns after sku,on_hand that are read and ignored
  if (head == std::vector<std::string>{"sku", "on_hand"}) *kind = Kind::set;
  else if (head == std::vector<std::string>{"sku", "on_hand", "expect_on_hand"}) *kind = Kind::set_expect;
  else if (head == std::vector<std::string>{"sku", "delta"}) *kind = Kind::delta;
  else if (head == kExportHeader) {  // an export file: restores on_hand
    *kind = Kind::set;
    extra = 3;
  } else {
    *error = "the header line must be sku,on_hand or sku,on_hand,expect_on_hand or sku,delta";
    return false;
  }
  for (std::size_t n = 2; std::getline(in, line); ++n) {
    if (trim(line).empty()) continue;
    std::vector<std::string> f = split_csv(line);
    Row r;
    r.line = n;
    if (extra > 0 && f.size() == 2 + extra) f.resize(2);
    bool ok = f.size() >= 2 && f.size() <= 3 && !f[0].empty() && to_int(f[1], &r.value);
    if (ok && f.size() == 3) {
      std::int64_t e = 0;
      ok = *kind == Kind::set_expect && (f[2].empty() || to_int(f[2], &e));
      if (ok && !f[2].empty()) r.expect = e;
    }
    if (!ok) {
      *error = path + ":" + std::to_string(n) + ": expected " +
               (*kind == Kind::delta ? "sku,delta" : "sku,on_hand[,expect_on_hand]") + " with integers";
      return false;
    }
    r.sku = f[0];
    rows->push_back(std::move(r));
  }
  return true;
}

// Every SKU's view, by GET /v1/skus pages.
int fetch_all(Ctx& c, std::vector<json>* skus) {
  for (std::int64_t offset = 0;; offset += kPageLimit) {
    json page;
    int rc = c.send("GET", "/v1/skus?offset=" + std::to_string(offset) + "&limit=" + std::to_string(kPageLimit), "",
                    &page);
    if (rc != kExitOk || c.dry()) return rc;
    if (!page.is_object() || !page.contains("skus")) return kExitBadReply;
    for (auto& s : page["skus"]) skus->push_back(std::move(s));
    std::int64_t total = page.value("total", std::int64_t{0});
    if (page["skus"].empty() || static_cast<std::int64_t>(skus->size()) >= total) return kExitOk;
  }
}

// --dry-run: what each row would do to the current figures (rows of one SKU in file order).
int dry_run(Ctx& c, Kind kind, const std::vector<Row>& rows) {
  std::vector<json> all;
  if (int rc = fetch_all(c, &all); rc != kExitOk || c.dry()) return rc;
  std::unordered_map<std::string, std::int64_t> now;
  for (const json& s : all) now[s.value("sku", "")] = s.value("on_hand", std::int64_t{0});
  std::size_t changes = 0, same = 0, fail = 0;
  json out = json::array();
  for (const Row& r : rows) {
    auto it = now.find(r.sku);
    std::optional<std::int64_t> before;
    if (it != now.end()) before = it->second;
    std::int64_t after = kind == Kind::delta ? before.value_or(0) + r.value : r.value;
    std::string note;
    if (!before && (kind == Kind::delta || r.expect)) note = "unknown_sku";
    else if (r.expect && *r.expect != *before) note = "precondition_failed: on_hand is " + std::to_string(*before);
    else if (after < 0) note = "invalid: on_hand would be negative";
    if (!note.empty()) ++fail;
    else if (before && *before == after) {
      ++same;
      note = "unchanged";
    } else {
      ++changes;
      note = before ? "" : "new";
    }
    if (note.empty() || note == "new") now[r.sku] = after;
    json line = {{"sku", r.sku}, {"on_hand", before ? json(*before) : json(nullptr)}, {"new_on_hand", after},
                 {"note", note}};
    if (c.json_mode()) out.push_back(line);
    else if (note != "unchanged")
      c.out() << r.sku << ": " << (before ? std::to_string(*before) : "-") << " -> " << after
              << (note.empty() ? "" : "  (" + note + ")") << "\n";
  }
  if (c.json_mode()) c.out() << out.dump() << "\n";
  else c.out() << rows.size() << " rows: " << changes << " would change, " << same << " unchanged, " << fail
               << " would fail (dry run: nothing sent)\n";
  return kExitOk;
}

// The request body, written directly (a DOM of 10,000 rows costs more than the server's work on them).
std::string batch_body(Kind kind, const std::vector<Row>& rows, std::size_t from, std::size_t to,
                       const std::string& ref, const std::string& reason, bool atomic) {
  std::string out = "{\"ref\":" + json(ref).dump() + ",\"reason\":" + json(reason).dump() +
                    ",\"atomic\":" + (atomic ? "true" : "false") + ",\"rows\":[";
  out.reserve(out.size() + (to - from) * 48);
  const char* field = kind == Kind::delta ? ",\"delta\":" : ",\"on_hand\":";
  for (std::size_t i = from; i < to; ++i) {
    out += i == from ? "{\"sku\":" : ",{\"sku\":";
    out += json(rows[i].sku).dump();  // escaped: a CSV may hold anything
    out += field;
    out += std::to_string(rows[i].value);
    if (rows[i].expect) out += ",\"expect_on_hand\":" + std::to_string(*rows[i].expect);
    out += '}';
  }
  out += "]}";
  return out;
}

// The answer's results without a DOM (each ok row carries a whole SKU view the import does not need):
// per result, ok and the error's code and message. Depths: 1 the answer, 2 "results", 3 a result,
// 4 its "error" (or "sku_view", skipped).
struct ResultsSax : nlohmann::json_sax<json> {
  struct Result {
    bool ok = false;
    std::string code, message;
  };
  std::vector<Result> results;
  int depth = 0;
  bool in_results = false, in_error = false;
  std::string key_at[5];  // the last key seen at depths 1, 3 and 4

  bool null() override { return true; }
  bool boolean(bool b) override {
    if (in_results && depth == 3 && key_at[3] == "ok") results.back().ok = b;
    return true;
  }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool string(string_t& v) override {
    if (in_error && depth == 4 && key_at[4] == "code") results.back().code = v;
    if (in_error && depth == 4 && key_at[4] == "message") results.back().message = v;
    return true;
  }
  bool key(string_t& k) override {
    if (depth == 1 || depth == 3 || (depth == 4 && in_error)) key_at[depth] = k;
    return true;
  }
  bool start_object(std::size_t) override {
    ++depth;
    if (in_results && depth == 3) results.emplace_back();
    if (in_results && depth == 4 && key_at[3] == "error") in_error = true;
    return true;
  }
  bool end_object() override {
    if (depth == 4) in_error = false;
    --depth;
    return true;
  }
  bool start_array(std::size_t) override {
    ++depth;
    if (depth == 2 && key_at[1] == "results") in_results = true;
    return true;
  }
  bool end_array() override {
    if (depth == 2) in_results = false;
    --depth;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }
};

void progress(Ctx& c, std::size_t done, std::size_t total, std::size_t batch, std::size_t batches) {
  constexpr int kWidth = 30;
  int filled = total == 0 ? kWidth : static_cast<int>(kWidth * done / total);
  c.err() << "\rimport [" << std::string(filled, '#') << std::string(kWidth - filled, ' ') << "] " << done << "/"
          << total << " rows, batch " << batch << "/" << batches << std::flush;
}

struct ImportArgs {
  std::string file, reason, ref;
  bool atomic = false, dry_run = false;
  std::size_t batch_size = kBatchRowsMax;
};

// Sends the rows; prints the failed rows and a summary. Exit code: 0 when every row succeeded, else
// the code of the first failed row (client/api_error.h).
int send_all(Ctx& c, const ImportArgs& a, Kind kind, const std::vector<Row>& rows) {
  std::string base = a.ref;
  if (base.empty()) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch());
    base = "import-" + std::to_string(ms.count()) + "-" + std::to_string(::getpid());
  }
  std::size_t batches = (rows.size() + a.batch_size - 1) / a.batch_size, applied = 0, failed = 0;
  int first_code = kExitOk;
  for (std::size_t b = 0; b < batches; ++b) {
    std::size_t from = b * a.batch_size, to = std::min(rows.size(), from + a.batch_size);
    stockd::client::HttpResponse r;
    int rc = c.exchange("POST", "/v1/stock/batches",
                        batch_body(kind, rows, from, to, base + "-" + std::to_string(b + 1), a.reason, a.atomic), &r);
    if (rc != kExitOk) return rc;
    if (c.dry()) continue;  // global --dry-run: the requests were printed
    ResultsSax answer;
    bool parsed = false;
    try {
      parsed = json::sax_parse(r.body, &answer) && !answer.results.empty();
    } catch (...) {
      parsed = false;
    }
    if ((r.status != 200 && r.status != 409) || !parsed) {
      c.err() << "\n" << stockd::client::describe(stockd::client::parse_api_error(r)) << "\n";
      int code = stockd::client::exit_code_for(stockd::client::parse_api_error(r));
      return code == kExitOk ? kExitBadReply : code;
    }
    if (c.json_mode()) c.out() << r.body << "\n";
    for (std::size_t i = 0; i < answer.results.size() && from + i < to; ++i) {
      const ResultsSax::Result& res = answer.results[i];
      if (res.ok) {
        ++applied;
        continue;
      }
      ++failed;
      // A failed atomic batch's good rows say "not applied" (invalid_state): not the row at fault.
      if (r.status == 409 && res.code == "invalid_state" && res.message.starts_with("not applied")) continue;
      if (first_code == kExitOk) first_code = stockd::client::exit_code_for(std::string_view(res.code));
      if (!c.json_mode())
        c.err() << "\nline " << rows[from + i].line << " " << rows[from + i].sku << ": " << res.code << ": "
                << res.message;
    }
    progress(c, to, rows.size(), b + 1, batches);
    if (r.status == 409) {
      c.err() << "\nimport: atomic batch " << b + 1 << " failed: nothing of its " << to - from
              << " rows applied; stopped\n";
      break;
    }
  }
  if (c.dry()) return kExitOk;
  c.err() << "\n";
  if (!c.json_mode())
    c.out() << rows.size() << " rows: " << applied << " applied, " << failed << " failed (ref " << base << "-N)\n";
  return first_code;
}

int run_import(Ctx& c, const ImportArgs& a) {
  Kind kind = Kind::set;
  std::vector<Row> rows;
  std::string error;
  if (!read_csv(a.file, &kind, &rows, &error)) {
    c.err() << "stockctl import: " << error << "\n";
    return kExitUsage;
  }
  if (a.dry_run) return dry_run(c, kind, rows);
  if (rows.empty()) {
    c.out() << "0 rows: nothing to import\n";
    return kExitOk;
  }
  return send_all(c, a, kind, rows);
}

int run_export(Ctx& c, const std::string& path) {
  std::vector<json> all;
  if (int rc = fetch_all(c, &all); rc != kExitOk || c.dry()) return rc;
  std::ostringstream csv;
  for (std::size_t i = 0; i < kExportHeader.size(); ++i) csv << (i ? "," : "") << kExportHeader[i];
  csv << "\n";
  for (const json& s : all)
    csv << s.value("sku", "") << "," << s.value("on_hand", std::int64_t{0}) << ","
        << s.value("safety_stock", std::int64_t{0}) << "," << s.value("held", std::int64_t{0}) << ","
        << s.value("available", std::int64_t{0}) << "\n";
  if (path == "-") {
    c.out() << csv.str();
    return kExitOk;
  }
  std::ofstream f(path, std::ios::trunc);
  f << csv.str();
  f.close();
  if (!f) {
    c.err() << "stockctl export: cannot write " << path << "\n";
    return kExitUsage;
  }
  c.err() << "export: " << all.size() << " SKUs written to " << path << "\n";
  return kExitOk;
}

}  // namespace

void add_import_export(CLI::App& app, Action& action) {
  auto a = std::make_shared<ImportArgs>();
  auto* im = app.add_subcommand("import", "POST /v1/stock/batches: set or adjust stock from a CSV file");
  im->add_option("file", a->file, "CSV with a header line: sku,on_hand[,expect_on_hand] or sku,delta")->required();
  im->add_option("--reason", a->reason, "the batches' reason")
      ->required()
      ->check(CLI::IsMember({"received", "cycle_count", "damaged", "returned", "correction", "other"}));
  im->add_option("--ref", a->ref, "batch refs are REF-1, REF-2, ... (run again with the same REF: applied once)");
  im->add_flag("--atomic", a->atomic, "each batch all-or-nothing; a failed batch stops the import");
  im->add_flag("--dry-run", a->dry_run, "print what would change against the current figures; send nothing");
  im->add_option("--batch-size", a->batch_size, "rows per request")->check(CLI::Range(1, 10000));
  im->callback([&, a] { action = [a](Ctx& c) { return run_import(c, *a); }; });

  auto path = std::make_shared<std::string>();
  auto* ex = app.add_subcommand("export", "GET /v1/skus (every page): write sku,on_hand,... of every SKU as CSV");
  ex->add_option("file", *path, "the CSV file to write, - for standard output")->required();
  ex->callback([&, path] { action = [path](Ctx& c) { return run_export(c, *path); }; });
}

}  // namespace stockctl
