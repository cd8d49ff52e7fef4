#include "server/cluster_publications.h"

#include <string>

namespace stockd::server {

void ClusterPublications::webhooks(std::vector<WebhookChannel>* out) const {
  std::vector<backends::ChannelRecord> channels;
  adapter_.webhook_channels(&channels);
  for (backends::ChannelRecord& c : channels) {
    if (!c.webhook) continue;
    WebhookChannel w;
    w.channel = std::move(c.name);
    w.url = std::move(c.webhook->url);
    w.secret = std::move(c.webhook->secret);
    w.freeze_after_s = c.webhook->freeze_after_s;
    w.frozen = c.state == core::ChannelState::frozen;
    w.frozen_for_delivery = w.frozen && c.frozen_reason == core::FrozenReason::delivery_failing;
    out->push_back(std::move(w));
  }
}

void ClusterPublications::pending(std::string_view channel, std::uint64_t after, std::size_t limit,
                                  std::vector<Publication>* out) const {
  std::vector<backends::PublicationRow> rows;
  adapter_.pending_publications(channel, after, limit, &rows);
  for (backends::PublicationRow& r : rows) out->push_back(Publication{std::move(r.sku), r.quantity, r.seq, r.at_ms});
}

std::size_t ClusterPublications::backlog(std::string_view channel) const {
  return adapter_.publication_backlog(channel);
}

}  // namespace stockd::server
