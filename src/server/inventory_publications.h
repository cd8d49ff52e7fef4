// inventory_publications.h: the webhook deliveries' view of the embedded core (delivery.h's
// PublicationSource) and the commands their acknowledgements, freezes and unfreezes become.
// Read on the event loop's thread only, between engine batches.
#pragma once
#include <optional>

#include "core/command.h"
#include "core/inventory.h"
#include "server/delivery.h"

namespace stockd::server {

class InventoryPublications final : public PublicationSource {
 public:
  explicit InventoryPublications(const core::Inventory& inv) : inv_(inv) {}
  void webhooks(std::vector<WebhookChannel>* out) const override;
  void pending(std::string_view channel, std::uint64_t after, std::size_t limit,
               std::vector<Publication>* out) const override;
  std::size_t backlog(std::string_view channel) const override;

 private:
  const core::Inventory& inv_;
};

// ack -> AckPublications; freeze -> PutChannel{frozen, delivery_failing}; unfreeze ->
// PutChannel{active, delivery_failing}, which the core applies only to a channel frozen for failing
// deliveries (a freeze by hand stays).
std::optional<core::Command> delivery_command(const DeliveryAction& a);

}  // namespace stockd::server
