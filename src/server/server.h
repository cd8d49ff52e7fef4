// server.h: stockd's network front: one event-loop thread serving HTTP/JSON and RESP over a Store
// (store/store.h): the embedded engine or the cluster store, through the same routes and renderers.
//
// Why one thread: the loop only does I/O, parsing, routing and rendering; the store does the work.
// With the embedded store every acknowledged write waits for one fsync per batch anyway: a single
// epoll loop that reads all ready connections, submits their writes (one engine batch: one journal
// write + one fdatasync), then answers them as they complete, is the group commit. Reads are answered
// when the store completes them (the embedded store at once), except that a connection's reads never
// overtake its own earlier writes: once a connection has a request in flight, its next requests other
// than writes wait for it. A route whose capability the store lacks is answered from one place
// (capability_refusal in server_http.cc, resp_request in server_resp.cc).
// Bounds: connections (max_connections), input per connection (body limit), replies queued per
// connection (max_output_bytes, then stockd stops reading that client), writes admitted per round
// (max_queue, then 429 overloaded with nothing applied).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/command.h"
#include "net/event_record.h"
#include "server/auth.h"
#include "server/metrics.h"
#include "server/options.h"
#include "store/store.h"

namespace stockd::server {

// The wall clock in epoch milliseconds: the time the server gives the core (the core clamps it).

struct Conn;
struct Pending;
struct HttpRequest;
class Alerter;
class Deliveries;
class DeliveryActionQueue;
struct DeliveryAction;

class Server final : private store::Completions {
 public:
  Server(const ServerOptions& options, store::Store& store);
  ~Server();
  // Binds the listeners; false (and a logged reason) when an address cannot be bound.
  bool listen();
  // Runs until SIGTERM/SIGINT, then drains and returns the exit code (0).
  int run();
  // Outbound pushes (alerts.h, delivery.h), owned by the caller; any may be null (then their routes
  // answer 409 invalid_state, or an empty list). After every Deliveries::step the loop takes what it
  // asked of the core from `actions` and submits to_command(action) to the store (nullopt: dropped).
  // REQUIRES: called before run(); deliveries were built with `actions` as their actions.
  struct Outbound {
    Alerter* alerts = nullptr;
    Deliveries* deliveries = nullptr;
    DeliveryActionQueue* actions = nullptr;
    std::function<std::optional<core::Command>(const DeliveryAction&)> to_command;
    // Events for `alerts` that do not come through the store's events observer (cluster mode: the
    // ledger's feed, ClusterAlertFeed::take); called at every tick.
    std::function<void(std::vector<net::EventRecord>*)> take_events;
    // Metrics of that source (cluster mode: whether this node sends, events dropped), for GET /metrics.
    std::function<void(net::Prometheus&)> render_source_metrics;
  };
  void set_outbound(Outbound o) { outbound_ = std::move(o); }

 private:
  // server_loop.cc
  void accept_all(int listen_fd, bool resp);
  void on_readable(Conn& c);
  bool read_some(Conn& c);
  void flush(Conn& c);
  void close_conn(Conn& c);
  void process();
  void parse_input(Conn& c);
  void on_timer(std::int64_t now_ms);
  void drain();
  void mark_dirty(Conn& c);
  // The requests in flight in the store, by tag (store::Tag is the index of a Pending).
  std::uint32_t pending_slot();
  void release_pending(std::uint32_t slot);
  // store::Completions: a request of a connection completed; its reply is rendered now.
  void write_done(const store::WriteDone& d) override;
  void read_done(const store::ReadDone& d) override;
  void batch_done(std::size_t items, std::int64_t duration_us, bool events) override;
  void completed(Conn& c);  // after a reply: flush later, and go on with waiting requests

  // server_http.cc: parses and handles the complete requests in c's input. A handler returns false
  // when the request must wait for the connection's requests in flight (not consumed).
  void http_input(Conn& c);
  bool http_request(Conn& c, const HttpRequest& req);
  // http_request's parts, by kind of route; each returns std::nullopt when the route is not of its kind.
  struct HttpCall;
  std::optional<bool> capability_refusal(HttpCall& h, const Principal& who);
  std::optional<bool> http_ops(HttpCall& h);
  std::optional<bool> http_write(HttpCall& h, const Principal& who);
  std::optional<bool> http_read(HttpCall& h, const Principal& who);
  std::optional<bool> http_admin(HttpCall& h, const Principal& who);
  bool http_store_read(HttpCall& h, const char* route, store::Read& r);
  // server_outbound.cc: /v1/alerts and /v1/deliveries; outbound_step() drives them off the write path.
  std::optional<bool> http_outbound(HttpCall& h, const Principal& who);
  void outbound_step(std::int64_t now_ms);
  void http_reply(Conn& c, int status, const std::string& body, bool keep_alive);
  void http_error(Conn& c, core::Code code, const std::string& message, bool keep_alive);
  void http_write_done(Conn& c, const Pending& p, const store::WriteDone& d);
  void http_read_done(Conn& c, const Pending& p, const store::ReadDone& d);
  void answer_poll(Conn& c);
  bool poll_ready(const Conn& c);  // the parked poll has something to answer
  void answer_polls();
  void render_metrics(std::string& out) const;

  // server_resp.cc
  void resp_input(Conn& c);
  bool resp_request(Conn& c, const std::vector<std::string_view>& args);
  void resp_write_done(Conn& c, const Pending& p, const store::WriteDone& d);
  void resp_read_done(Conn& c, const Pending& p, const store::ReadDone& d);

  std::int64_t now_ms() const;
  std::int64_t now_us() const;

  ServerOptions opt_;
  store::Store& store_;
  store::Capabilities caps_;
  bool caps_all_ = true;  // the store lacks nothing: no capability lookup per request
  Auth auth_;
  Metrics metrics_;
  int epoll_fd_ = -1;
  int http_fd_ = -1;
  int resp_fd_ = -1;
  int signal_fd_ = -1;
  bool draining_ = false;
  std::uint64_t next_conn_id_ = 1;
  std::vector<std::unique_ptr<Conn>> conns_;  // by fd
  std::size_t open_conns_ = 0;
  std::vector<Conn*> ready_;                  // connections with input to parse
  std::vector<Conn*> dirty_;                  // connections with output to flush
  std::vector<Conn*> polls_;                  // parked long polls
  std::vector<std::unique_ptr<Conn>> graveyard_;  // closed connections whose slot was reused this round
  std::vector<Pending> pendings_;             // by tag; reused (no allocation per request once warm)
  std::vector<std::uint32_t> free_pendings_;
  std::vector<std::string_view> skus_asked_;  // GET /v1/availability: reused
  std::int64_t round_start_us_ = 0;
  std::int64_t last_tick_ms_ = 0;
  std::uint64_t overloaded_total_ = 0;
  Outbound outbound_;
};

}  // namespace stockd::server
