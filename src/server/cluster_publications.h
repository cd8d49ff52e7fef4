// cluster_publications.h: the webhook deliveries' view of the cluster store (delivery.h's
// PublicationSource), for a cluster-mode node with the ledger (--ledger). The cluster's counterpart of
// inventory_publications.h; the commands its acknowledgements, freezes and unfreezes become are the
// same (delivery_command there), submitted to the cluster adapter like any write.
//
// Never blocks: it reads what the adapter's watcher thread keeps (store/cluster_adapter.h): the
// channels with a webhook (read about once a second), and each one's first unacknowledged
// publications (read again when the ledger NOTIFYs a change of that channel), so a delivery starts at
// most one ledger round (plus the NOTIFY) after the publication was written.
#pragma once
#include "server/delivery.h"
#include "store/cluster_adapter.h"

namespace stockd::server {

class ClusterPublications final : public PublicationSource {
 public:
  explicit ClusterPublications(const store::ClusterAdapter& adapter) : adapter_(adapter) {}
  void webhooks(std::vector<WebhookChannel>* out) const override;
  // At most store::kPendingCacheMax publications of a channel are at hand at any time; the next ones
  // come as those are acknowledged.
  void pending(std::string_view channel, std::uint64_t after, std::size_t limit,
               std::vector<Publication>* out) const override;
  std::size_t backlog(std::string_view channel) const override;

 private:
  const store::ClusterAdapter& adapter_;
};

}  // namespace stockd::server
