#include "server/alerts.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

#include "core/json_writer.h"
#include "nlohmann/json.hpp"
#include "server/metrics.h"

namespace stockd::server {
namespace {

namespace json = core::json;
using core::Code;
using core::Status;

std::string file_in(const std::string& dir) { return dir + "/alerts.json"; }

Status io_error(const std::string& what, const std::string& path) {
  return Status::error(Code::unavailable, what + " " + path + ": " + std::strerror(errno));
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

std::string sku_label(std::string_view sku) { return "SKU " + std::string(sku); }

}  // namespace

Status decode_alert_config(std::string_view body, AlertConfig* out) {
  auto bad = [](std::string m) { return Status::error(Code::invalid_request, std::move(m)); };
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded()) return bad("malformed JSON");
  if (!j.is_object()) return bad("body must be a JSON object");
  AlertConfig c;
  bool has_url = false;
  for (const auto& [k, v] : j.items()) {
    if (k == "url") {
      if (!v.is_string()) return bad("url must be a string");
      c.url = v.get<std::string>();
      OutboundUrl u;
      std::string error;
      if (!parse_outbound_url(c.url, &u, &error)) return bad("url: " + error);
      has_url = true;
    } else if (k == "format") {
      if (!v.is_string()) return bad("format must be a string");
      std::optional<AlertFormat> f = parse_alert_format(v.get<std::string>());
      if (!f) return bad("format must be json, dingtalk, slack or feishu");
      c.format = *f;
    } else {
      return bad("unknown field " + k + " (expected url, format)");
    }
  }
  if (!has_url) return bad("url is required");
  *out = std::move(c);
  return {};
}

std::string encode_alert_config(const AlertConfig& c) {
  std::string out = "{";
  json::append_key(out, "url");
  json::append_string(out, c.url);
  out += ',';
  json::append_key(out, "format");
  json::append_string(out, alert_format_name(c.format));
  out += '}';
  return out;
}

Status load_alert_config(const std::string& path, std::optional<AlertConfig>* out) {
  out->reset();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? Status{} : io_error("open", path);
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Status s = io_error("read", path);
      ::close(fd);
      return s;
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > 64 * 1024) break;
  }
  ::close(fd);
  AlertConfig c;
  if (Status s = decode_alert_config(text, &c); !s.ok())
    return Status::error(Code::unavailable, path + ": " + s.message);
  *out = std::move(c);
  return {};
}

Status save_alert_config(const std::string& path, const AlertConfig& c) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return io_error("create", tmp);
  std::string text = encode_alert_config(c) + "\n";
  if (!write_all(fd, text) || ::fsync(fd) != 0) {
    Status s = io_error("write", tmp);
    ::close(fd);
    return s;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return io_error("rename to", path);
  std::string dir = path.substr(0, path.rfind('/') == std::string::npos ? 1 : path.rfind('/'));
  if (path.rfind('/') == std::string::npos) dir = ".";
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return io_error("open", dir);
  int rc = ::fsync(dfd);
  ::close(dfd);
  if (rc != 0) return io_error("fsync", dir);
  return {};
}

Alerter::Alerter(AlerterOptions o) : opt_(std::move(o)) {
  if (!opt_.post) opt_.post = default_post(opt_.timeouts);
  if (!opt_.uniform01) opt_.uniform01 = seeded_uniform01();
  worker_ = std::make_unique<OutboundWorker>(opt_.post);
}

Alerter::~Alerter() = default;

Status Alerter::open() {
  if (!opt_.data_dir.empty()) {
    std::optional<AlertConfig> saved;
    if (Status s = load_alert_config(file_in(opt_.data_dir), &saved); !s.ok()) return s;
    if (saved) {
      config_ = std::move(saved);
      source_ = "api";
      return {};
    }
  }
  if (opt_.from_file) {
    config_ = opt_.from_file;
    source_ = "config_file";
  }
  return {};
}

Status Alerter::put(const AlertConfig& c) {
  if (!opt_.data_dir.empty())
    if (Status s = save_alert_config(file_in(opt_.data_dir), c); !s.ok()) return s;
  config_ = c;
  source_ = "api";
  failures_ = 0;
  next_attempt_ms_ = 0;
  return {};
}

void Alerter::enqueue(Alert a) {
  if (!config_) return;  // nowhere to send; the latch still remembers what fired
  if (queue_.size() >= kAlertQueueMax) {
    // The head may be in flight: drop the one after it.
    queue_.erase(queue_.begin() + (queue_.size() > 1 ? 1 : 0));
    ++dropped_total_;
  }
  queue_.push_back(std::move(a));
}

void Alerter::raise(Alert a) {
  const std::string& key = a.channel.empty() ? a.sku : a.channel;
  if (!latch_.fire(a.kind, key)) return;
  enqueue(std::move(a));
}

void Alerter::clear(std::string_view kind, std::string_view key) {
  latch_.clear(kind, key);
}

// Every alert kind is an event of the core of the same name (the contract: "alerts are also events of
// the same names in the feed"), raised once per state change there; per event this is a switch. It runs
// in the loop's thread after every batch.
void Alerter::on_events(std::span<const core::Event> events, const core::Inventory& inv) {
  for (const core::Event& e : events) {
    Named n{e.type, e.sku != core::kNoIndex ? inv.sku_name(e.sku) : std::string_view{},
            e.channel != core::kNoIndex ? inv.channel_name(e.channel) : std::string_view{}, e.reason, e.at_ms,
            e.available, e.threshold, e.on_hand, e.delta, false};
    if (e.type == core::EventType::channel_updated)
      n.channel_active = inv.channel(e.channel).state == core::ChannelState::active;
    on_event(n);
  }
}

void Alerter::on_records(std::span<const net::EventRecord> records) {
  for (const net::EventRecord& r : records) {
    on_event(Named{r.type, r.sku, r.channel, r.reason, r.at_ms, r.available, r.threshold, r.on_hand, r.delta,
                   r.type == core::EventType::channel_updated && r.reason == "active"});
  }
}

void Alerter::on_event(const Named& e) {
  const std::string_view sku = e.sku, channel = e.channel;
  switch (e.type) {
    case core::EventType::low_stock:
      enqueue(Alert{"low_stock", std::string(sku), "", e.at_ms,
                    "low stock: " + sku_label(sku) + " available " + std::to_string(e.available) +
                        " is below its threshold " + std::to_string(e.threshold),
                    {{"available", e.available}, {"threshold", e.threshold}}, {}});
      break;
    case core::EventType::out_of_stock:
      enqueue(Alert{"out_of_stock", std::string(sku), "", e.at_ms, "out of stock: " + sku_label(sku) + " available 0",
                    {{"available", 0}}, {}});
      break;
    case core::EventType::exposure_deficit:
      enqueue(Alert{"exposure_deficit", std::string(sku), std::string(channel), e.at_ms,
                    "exposure deficit: " + sku_label(sku) + " was adjusted below what is published to channel " +
                        std::string(channel),
                    {{"on_hand", e.on_hand}, {"deficit", -e.delta}}, {}});
      break;
    case core::EventType::channel_frozen:
      // Deliveries raise it first when they freeze (the latch keeps it to one); a freeze by hand
      // arrives only here.
      raise(Alert{"channel_frozen", "", std::string(channel), e.at_ms,
                  "channel frozen: channel " + std::string(channel) + " (" + std::string(e.reason) + ")", {}, {}});
      break;
    case core::EventType::delivery_failing:
      raise(Alert{"delivery_failing", "", std::string(channel), e.at_ms,
                  "deliveries failing: channel " + std::string(channel), {}, {}});
      break;
    case core::EventType::channel_updated:
      // Active again: the next freeze alerts again.
      if (e.channel_active) latch_.clear("channel_frozen", channel);
      break;
    default:
      break;
  }
}

bool Alerter::send_test(std::int64_t now_ms) {
  if (!config_) return false;
  enqueue(Alert{"test", "", "", now_ms, "test alert from stockd (stockctl alerts test)", {}, {}});
  return true;
}

void Alerter::step(std::int64_t now_ms) {
  if (std::optional<OutboundResult> r = worker_->take()) {
    if (r->ok()) {
      if (!queue_.empty()) queue_.pop_front();
      ++sent_total_;
      failures_ = 0;
      last_sent_ms_ = now_ms;
      next_attempt_ms_ = 0;
    } else {
      ++failures_;
      ++failures_total_;
      last_error_ = r->error;
      next_attempt_ms_ = now_ms + opt_.backoff.delay_ms(failures_, opt_.uniform01());
    }
  }
  if (!config_ || queue_.empty() || worker_->busy() || now_ms < next_attempt_ms_) return;
  OutboundRequest req;
  req.url = config_->url;
  req.body = alert_body(queue_.front(), config_->format);
  worker_->submit(std::move(req));
}

void Alerter::render(std::string& out) const {
  out += '{';
  json::append_key(out, "url");
  if (config_) json::append_string(out, config_->url);
  else out += "null";
  out += ',';
  json::append_key(out, "format");
  if (config_) json::append_string(out, alert_format_name(config_->format));
  else out += "null";
  out += ',';
  json::append_key(out, "source");
  json::append_string(out, source_);
  auto num = [&](std::string_view k, std::uint64_t v) {
    out += ',';
    json::append_key(out, k);
    json::append_uint(out, v);
  };
  num("queued", queue_.size());
  num("sent_total", sent_total_);
  num("failures_total", failures_total_);
  num("dropped_total", dropped_total_);
  num("consecutive_failures", failures_);
  out += ',';
  json::append_key(out, "last_error");
  if (last_error_.empty()) out += "null";
  else json::append_string(out, last_error_);
  out += ',';
  json::append_key(out, "last_sent_at");
  if (last_sent_ms_ == 0) out += "null";
  else json::append_time(out, last_sent_ms_);
  out += ',';
  json::append_key(out, "next_attempt_at");
  if (failures_ == 0) out += "null";
  else json::append_time(out, next_attempt_ms_);
  out += '}';
}

void Alerter::render_metrics(Prometheus& p) const {
  p.counter("stockd_alerts_sent_total", "Alerts the alert URL answered with 2xx.", static_cast<double>(sent_total_));
  p.counter("stockd_alert_failures_total", "Failed alert sends (each is retried).", static_cast<double>(failures_total_));
  p.counter("stockd_alerts_dropped_total", "Alerts dropped because the alert queue was full.",
            static_cast<double>(dropped_total_));
  p.gauge("stockd_alerts_queued", "Alerts waiting to be sent.", static_cast<double>(queue_.size()));
}

}  // namespace stockd::server
