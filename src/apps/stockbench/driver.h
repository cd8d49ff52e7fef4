// driver.h: the client threads. Each runs one epoll loop over its share of the connections:
// non-blocking sockets, requests written in batches of --pipeline, replies parsed incrementally
// (client/http_response_parser.h, client/resp_reply.h), latency recorded per request from its send
// time (with --rate, from when it was due, so a slow server cannot hide its queueing: no coordinated
// omission). A dropped connection is re-opened and its unanswered requests sent again: every request
// stockbench makes is idempotent by its hold id, so a resend never applies anything twice.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "apps/stockbench/names.h"
#include "apps/stockbench/options.h"
#include "apps/stockbench/workload.h"
#include "client/endpoint.h"

namespace stockbench {

inline constexpr int kReconnectsPerConnectionMax = 20;
inline constexpr std::int64_t kDrainTimeoutNs = 15'000'000'000;  // answers awaited after the stop

struct DriverResult {
  std::vector<Stats> per_thread;
  std::string error;  // set when connections could not be opened at the start
  // steady clock (now_ns), from when every connection was open to when the last thread finished:
  // the run's elapsed time, at nanosecond resolution whatever the caller's own polling interval
  std::int64_t start_ns = 0, end_ns = 0;
};

// Runs the load until every connection is done or shared.stop is set (then drains what is in
// flight and queued, within kDrainTimeoutNs). `target` is where the load goes (HTTP or RESP).
DriverResult run_driver(const Options& opt, const Names& names, const stockd::client::Endpoint& target,
                        RunShared& shared);

std::int64_t now_ns();

}  // namespace stockbench
