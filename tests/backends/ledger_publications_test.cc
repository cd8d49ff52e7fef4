// Tests of listed channels' publications in the ledger (src/backends/ledger_publications.cc) and their
// reads (ClusterEvents::publications and the rest, src/backends/cluster_events.h), against a real
// Redis Cluster (STOCKD_TEST_CLUSTER) and PostgreSQL (STOCKD_TEST_PG); ctest starts both
// (tests/backends/CMakeLists.txt). By hand:
//   scripts/redis-cluster start /tmp/rc 7150 && scripts/postgres start /tmp/pg 7170 &&
//   STOCKD_TEST_CLUSTER=127.0.0.1:7150 STOCKD_TEST_PG=postgresql://postgres@127.0.0.1:7170/postgres
//   ./ledger_publications_test       (both variables in the environment of this command)
// The entries are XADDed by hand (outbox.h: t=pub, t=ch with lst), as the cluster store's functions
// write them, and the ledger is polled by hand: no assertion depends on timing but the NOTIFY's
// arrival, which is waited for (at most 5 s). Channel names carry a random suffix (printed), so a rerun
// against the same cluster and database does not see an earlier run's rows as its own.
#include <gtest/gtest.h>
#include <poll.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "backends/cluster_events.h"
#include "backends/cluster_store.h"
#include "backends/ledger.h"
#include "backends/ledger_impl.h"
#include "backends/outbox.h"
#include "fmt/format.h"

#include "live_cluster.h"

namespace stockd::backends {
namespace {

class LedgerPublicationsLive : public ::testing::Test {
 protected:
  void SetUp() override {
    ledger_env(&cluster_, &conninfo_);
    if (HasFatalFailure() || IsSkipped()) return;
    std::string error;
    redis_ = ClusterClient::connect(cluster_, &error);
    ASSERT_NE(redis_, nullptr) << error;
    LedgerOptions o;
    o.conninfo = conninfo_;
    o.consumer = "publications-a";
    ledger_ = Ledger::open(o, cluster_, &error);  // creates the schema
    ASSERT_NE(ledger_, nullptr) << error;
    poll_all();  // what earlier tests left in the streams
    ClusterEventsOptions eo;
    eo.conninfo = conninfo_;
    eo.listen_publications = true;
    events_ = ClusterEvents::open(eo, &error);
    ASSERT_NE(events_, nullptr) << error;
    pg_.reset(PQconnectdb(conninfo_.c_str()));
    ASSERT_EQ(PQstatus(pg_.get()), CONNECTION_OK) << PQerrorMessage(pg_.get());
    suffix_ = fmt::format("-{:08x}", std::random_device{}());
    std::printf("channel suffix of this test: %s\n", suffix_.c_str());
  }

  std::string name(const std::string& base) const { return base + suffix_; }

  void xadd(const std::string& stream, const StreamFields& fields) {
    std::vector<std::string> argv = {"XADD", stream, "*"};
    for (const auto& [f, v] : fields) {
      argv.push_back(f);
      argv.push_back(v);
    }
    RedisReply r = redis_->command(stream, argv);
    EXPECT_EQ(r.type, RedisReply::Type::string) << "XADD " << stream << ": " << r.str;
  }

  // A t=pub entry, in `sku`'s partition unless `stream` says otherwise (entries of one stream are
  // applied in stream order, which decides the order of their seqs).
  void pub(const std::string& channel, const std::string& sku, std::int64_t q, std::int64_t v,
           const std::string& stream = "") {
    xadd(stream.empty() ? outbox_key(partition_of(sku)) : stream,
         {{"t", "pub"}, {"ch", channel}, {"sku", sku}, {"q", std::to_string(q)}, {"v", std::to_string(v)},
          {"at", std::to_string(1700000000000 + v)}});
  }

  // A t=ch entry in partition 0 (where channels live); lst "" leaves the field out (an older library).
  void put_channel(const std::string& channel, const std::string& lst, std::int64_t at_ms) {
    StreamFields f = {{"t", "ch"}, {"ch", channel}, {"prio", "1"}, {"ttl", "900"}, {"st", "active"},
                      {"at", std::to_string(at_ms)}};
    if (!lst.empty()) f.emplace_back("lst", lst);
    xadd(outbox_key(0), f);
  }

  std::size_t poll_all() {
    std::size_t total = 0;
    for (int i = 0; i < 100; ++i) {
      const std::size_t n = ledger_->poll_once();
      if (n == 0) break;
      total += n;
    }
    return total;
  }

  // The channel's rows in seq order, "sku=q v<version> #<seq>", and its seqs "last/acked".
  std::string rows(const std::string& channel) {
    PgResult r = pg_exec(pg_.get(),
                         "SELECT coalesce(string_agg(format('%s=%s v%s #%s', sku, quantity, version, seq), ', ' "
                         "ORDER BY seq), '') FROM publications WHERE channel = $1",
                         {channel});
    EXPECT_TRUE(pg_ok(r.get())) << pg_error(pg_.get(), r.get());
    return PQgetvalue(r.get(), 0, 0);
  }
  std::string seqs(const std::string& channel) {
    std::uint64_t last = 0, acked = 0, pending = 0;
    std::string error;
    EXPECT_TRUE(events_->publication_seqs(channel, &last, &acked, &pending, &error)) << error;
    return fmt::format("last {} acked {} pending {}", last, acked, pending);
  }
  // ClusterEvents::publications as text, "sku=q #seq, ... -> next".
  std::string page(const std::string& channel, std::uint64_t after, std::size_t limit = 100) {
    std::vector<PublicationRow> out;
    std::uint64_t next = 0;
    std::string error;
    EXPECT_TRUE(events_->publications(channel, after, limit, &out, &next, &error)) << error;
    std::string s;
    for (const PublicationRow& p : out) s += fmt::format("{}{}={} #{}", s.empty() ? "" : ", ", p.sku, p.quantity, p.seq);
    return s + " -> " + std::to_string(next);
  }

  // The publications notifications `events_` received, waiting until `channel` is among them (at most
  // 5 s): channel -> the highest last seq named.
  std::map<std::string, std::uint64_t> notified_until(const std::string& channel) {
    std::map<std::string, std::uint64_t> got;
    for (int i = 0; i < 50 && !got.contains(channel); ++i) {
      std::vector<std::pair<std::string, std::uint64_t>> n;
      events_->take_publications_notified(&n);
      for (auto& [c, seq] : n) got[c] = std::max(got[c], seq);
      if (got.contains(channel)) break;
      pollfd p{events_->notify_fd(), POLLIN, 0};
      ::poll(&p, 1, 100);
    }
    return got;
  }

  std::string conninfo_;
  ClusterOptions cluster_;
  std::unique_ptr<ClusterClient> redis_;
  std::unique_ptr<Ledger> ledger_;
  std::unique_ptr<ClusterEvents> events_;
  PgConn pg_;
  std::string suffix_;
};

TEST_F(LedgerPublicationsLive, SeqsArePerChannelFrom1AndEachSkuIsOneRowWithItsLatestVersion) {
  const std::string tmall = name("tmall"), jd = name("jd"), stream = outbox_key(7);
  const LedgerStats before = ledger_->stats();
  pub(tmall, "A", 5, 1, stream);
  pub(tmall, "B", 3, 1, stream);
  pub(jd, "A", 7, 1, stream);
  poll_all();
  EXPECT_EQ(rows(tmall), "A=5 v1 #1, B=3 v1 #2") << "seqs start at 1, in stream order";
  EXPECT_EQ(rows(jd), "A=7 v1 #1") << "each channel has its own seqs";
  EXPECT_EQ(seqs(tmall), "last 2 acked 0 pending 2");
  EXPECT_EQ(ledger_->stats().publications - before.publications, 3u);

  // A repeat (the same version: a redelivered entry) and an older version change nothing.
  pub(tmall, "A", 5, 1, stream);
  poll_all();
  EXPECT_EQ(rows(tmall), "A=5 v1 #1, B=3 v1 #2") << "a repeat takes no seq";
  pub(tmall, "A", 4, 2, stream);  // A lowered: a new seq, the row moves there
  poll_all();
  EXPECT_EQ(rows(tmall), "B=3 v1 #2, A=4 v2 #3") << "coalesced: one row per SKU, its latest version";
  pub(tmall, "A", 9, 1, stream);  // an older publication applied late (another ledger, a claim)
  poll_all();
  EXPECT_EQ(rows(tmall), "B=3 v1 #2, A=4 v2 #3") << "an older version changes nothing";

  // Two versions in one transaction: the newer one, one seq.
  pub(tmall, "B", 1, 3, stream);
  pub(tmall, "B", 0, 2, stream);
  poll_all();
  EXPECT_EQ(rows(tmall), "A=4 v2 #3, B=1 v3 #4");
  EXPECT_EQ(seqs(tmall), "last 4 acked 0 pending 2");
  EXPECT_EQ(ledger_->stats().publications - before.publications, 5u) << "3, then A v2, then B v3";
}

TEST_F(LedgerPublicationsLive, SeqsAcrossPartitionsAreGaplessOneRowPerSku) {
  const std::string tmall = name("tmall");
  std::vector<std::string> skus;
  for (int i = 0; i < 40; ++i) skus.push_back(fmt::format("S{}{}", i, suffix_));  // many partitions
  for (const std::string& s : skus) pub(tmall, s, 1, 1);
  for (int i = 0; i < 40; i += 4) pub(tmall, skus[i], 2, 2);  // a tenth published twice
  poll_all();
  PgResult r = pg_exec(pg_.get(),
                       "SELECT count(*), count(DISTINCT sku), min(seq), max(seq), count(DISTINCT seq), "
                       "sum(quantity) FROM publications WHERE channel = $1",
                       {tmall});
  ASSERT_TRUE(pg_ok(r.get())) << pg_error(pg_.get(), r.get());
  EXPECT_EQ(pg_int(r.get(), 0, 0), 40) << "one row per SKU";
  EXPECT_EQ(pg_int(r.get(), 0, 2), 1);
  EXPECT_EQ(pg_int(r.get(), 0, 4), 40) << "distinct seqs";
  EXPECT_EQ(pg_int(r.get(), 0, 5), 50) << "the latest quantity of each";
  EXPECT_EQ(pg_int(r.get(), 0, 3), 40) << "one poll round, one transaction: a publication superseded within it "
                                           "takes no seq, so the seqs are 1..40";
  EXPECT_EQ(seqs(tmall), "last 40 acked 0 pending 40");
}

// The reads the cluster adapter serves GET /v1/channels/{c}/publications and the acknowledgement
// from, with the embedded core's rules: rows above max(after, acked), `next` the last one returned or
// `after`; an ack covers the rows up to its seq and never goes back.
TEST_F(LedgerPublicationsLive, ReadsAndAcknowledgementsFollowTheEmbeddedCore) {
  const std::string tmall = name("tmall"), stream = outbox_key(9);
  for (const char* s : {"A", "B", "C", "D"}) pub(tmall, s, 10, 1, stream);
  poll_all();
  pub(tmall, "B", 8, 2, stream);  // B moves from #2 to #5
  poll_all();
  ASSERT_EQ(rows(tmall), "A=10 v1 #1, C=10 v1 #3, D=10 v1 #4, B=8 v2 #5");
  EXPECT_EQ(page(tmall, 0), "A=10 #1, C=10 #3, D=10 #4, B=8 #5 -> 5");
  EXPECT_EQ(page(tmall, 1, 2), "C=10 #3, D=10 #4 -> 4") << "seq > after, at most limit";
  EXPECT_EQ(page(tmall, 5), " -> 5") << "none: next is after";
  EXPECT_EQ(page(tmall, 0, 0), "A=10 #1 -> 1") << "limit is clamped to at least 1";
  EXPECT_EQ(page(name("nobody"), 3), " -> 3") << "a channel without publications has none";
  EXPECT_EQ(seqs(name("nobody")), "last 0 acked 0 pending 0");

  std::vector<PublicationRow> upto;
  std::string error;
  ASSERT_TRUE(events_->publications_upto(tmall, 4, &upto, &error)) << error;
  ASSERT_EQ(upto.size(), 3u) << "A, C, D; B's publication at or below 4 was superseded by #5";
  EXPECT_EQ(upto[0].sku, "A");
  EXPECT_EQ(upto[0].version, 1);
  EXPECT_EQ(upto[0].at_ms, 1700000000001) << "the entry's at";
  EXPECT_EQ(upto[2].seq, 4u);

  ASSERT_TRUE(events_->save_publication_ack(tmall, 3, &error)) << error;
  EXPECT_EQ(seqs(tmall), "last 5 acked 3 pending 2");
  EXPECT_EQ(page(tmall, 0), "D=10 #4, B=8 #5 -> 5") << "acknowledged rows are not shown, whatever after says";
  upto.clear();
  ASSERT_TRUE(events_->publications_upto(tmall, 5, &upto, &error)) << error;
  EXPECT_EQ(upto.size(), 2u) << "only what is above acked";
  ASSERT_TRUE(events_->save_publication_ack(tmall, 1, &error)) << error;
  EXPECT_EQ(seqs(tmall), "last 5 acked 3 pending 2") << "an older ack does not go back";
  ASSERT_TRUE(events_->save_publication_ack(tmall, 5, &error)) << error;
  EXPECT_EQ(seqs(tmall), "last 5 acked 5 pending 0");
  EXPECT_EQ(page(tmall, 0), " -> 0");

  pub(tmall, "A", 3, 2, stream);  // a new publication after the ack
  poll_all();
  EXPECT_EQ(page(tmall, 0), "A=3 #6 -> 6");
  std::vector<PublicationSeqs> lasts;
  ASSERT_TRUE(events_->publication_lasts(&lasts, &error)) << error;
  bool found = false;
  for (const PublicationSeqs& s : lasts) {
    if (s.channel != tmall) continue;
    found = true;
    EXPECT_EQ(s.last, 6u);
    EXPECT_EQ(s.acked, 5u);
  }
  EXPECT_TRUE(found) << "publication_lasts lists every channel with publications";
}

// t=ch with lst=0 (or without lst): the channel is direct, its pending publications are dropped
// (acked = last), as the embedded core's drop_listing; only if that entry is the channel's latest
// (last writer by `at`, the channels table's rule).
TEST_F(LedgerPublicationsLive, AChannelThatBecomesDirectDropsItsPendingPublications) {
  const std::string tmall = name("tmall"), stream = outbox_key(11);
  put_channel(tmall, "1", 1000);
  pub(tmall, "A", 4, 1, stream);
  pub(tmall, "B", 4, 1, stream);
  poll_all();
  EXPECT_EQ(seqs(tmall), "last 2 acked 0 pending 2") << "lst=1: listed, nothing dropped";

  put_channel(tmall, "0", 2000);
  poll_all();
  EXPECT_EQ(seqs(tmall), "last 2 acked 2 pending 0") << "lst=0 drops what is pending";

  put_channel(tmall, "1", 3000);  // listed again: publishes every SKU again
  pub(tmall, "A", 5, 2, stream);
  poll_all();
  EXPECT_EQ(seqs(tmall), "last 3 acked 2 pending 1");
  put_channel(tmall, "0", 2500);  // an older "direct" applied late changes nothing
  poll_all();
  EXPECT_EQ(seqs(tmall), "last 3 acked 2 pending 1") << "not the channel's latest entry: no drop";

  // In one transaction: a publication, then the channel becomes direct (an entry without lst, as an
  // older library writes it): the drop sees the new publication.
  pub(tmall, "B", 0, 2, stream);
  put_channel(tmall, "", 4000);
  poll_all();
  EXPECT_EQ(seqs(tmall), "last 4 acked 4 pending 0");
  EXPECT_EQ(rows(tmall), "A=5 v2 #3, B=0 v2 #4") << "the rows stay: a repeat of them is still a repeat";
}

TEST_F(LedgerPublicationsLive, NotifiesEachChannelWithItsLastSeqAtCommit) {
  const std::string tmall = name("tmall"), jd = name("jd"), stream = outbox_key(13);
  std::vector<std::pair<std::string, std::uint64_t>> stale;
  events_->take_publications_notified(&stale);  // earlier tests' notifications
  pub(tmall, "A", 1, 1, stream);
  pub(tmall, "B", 1, 1, stream);
  pub(jd, "A", 1, 1, stream);
  poll_all();
  std::map<std::string, std::uint64_t> got = notified_until(jd);
  if (!got.contains(tmall)) {
    std::map<std::string, std::uint64_t> more = notified_until(tmall);
    got.insert(more.begin(), more.end());
  }
  EXPECT_EQ(got[tmall], 2u);
  EXPECT_EQ(got[jd], 1u);

  std::string error;
  ASSERT_TRUE(events_->save_publication_ack(tmall, 2, &error)) << error;
  EXPECT_EQ(notified_until(tmall)[tmall], 2u) << "an acknowledgement notifies too (every node's watcher)";

  pub(tmall, "A", 1, 1, stream);  // a repeat: nothing new, no notification
  put_channel(jd, "0", 1000);     // jd becomes direct: its publication is dropped
  poll_all();
  got = notified_until(jd);
  EXPECT_EQ(got[jd], 1u);
  EXPECT_FALSE(got.contains(tmall)) << "a repeat notifies nothing";
}

// t=dfc (stock fell below what was exposed, and a listed channel's exposure was cut): the events
// feed's exposure_deficit, as the embedded core's, once however often the entry is applied.
TEST_F(LedgerPublicationsLive, ADeficitEntryIsOneExposureDeficitEvent) {
  const std::string tmall = name("tmall"), sku = name("D");
  std::uint64_t before = 0;
  std::string error;
  ASSERT_TRUE(events_->last_seq(&before, &error)) << error;
  const StreamFields dfc = {{"t", "dfc"}, {"sku", sku}, {"ch", tmall}, {"cut", "4"}, {"left", "1"}, {"oh", "6"},
                            {"at", "1700000000123"}};
  xadd(outbox_key(partition_of(sku)), dfc);
  xadd(outbox_key(partition_of(sku)), dfc);  // the same entry again (a redelivery writes no second event)
  poll_all();
  std::vector<net::EventRecord> events;
  std::uint64_t next = 0;
  ASSERT_TRUE(events_->read(before, 1000, &events, &next, &error)) << error;
  std::erase_if(events, [&](const net::EventRecord& e) { return e.sku != sku; });
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, core::EventType::exposure_deficit);
  EXPECT_EQ(events[0].channel, tmall);
  EXPECT_EQ(events[0].delta, -4) << "rendered as deficit 4";
  EXPECT_EQ(events[0].available, 1) << "rendered as exposed 1";
  EXPECT_EQ(events[0].on_hand, 6);
  EXPECT_EQ(events[0].at_ms, 1700000000123);
}

}  // namespace
}  // namespace stockd::backends
