#include "server/inventory_publications.h"

#include <string>

namespace stockd::server {

void InventoryPublications::webhooks(std::vector<WebhookChannel>* out) const {
  for (std::uint32_t i = 0; i < inv_.channel_count(); ++i) {
    core::ChannelView ch = inv_.channel(i);
    if (!ch.webhook) continue;
    WebhookChannel w;
    w.channel = std::string(ch.name);
    w.url = ch.webhook->url;
    w.secret = ch.webhook->secret;
    w.freeze_after_s = ch.webhook->freeze_after_s;
    w.frozen = ch.state == core::ChannelState::frozen;
    w.frozen_for_delivery = ch.frozen_reason == core::FrozenReason::delivery_failing;
    out->push_back(std::move(w));
  }
}

void InventoryPublications::pending(std::string_view channel, std::uint64_t after, std::size_t limit,
                                    std::vector<Publication>* out) const {
  std::uint32_t c = inv_.find_channel(channel);
  if (c == core::kNoIndex) return;
  for (const core::PublicationView& p : inv_.publications(c, after, limit))
    out->push_back(Publication{std::string(p.sku), p.quantity, p.seq, 0});
}

std::size_t InventoryPublications::backlog(std::string_view channel) const {
  std::uint32_t c = inv_.find_channel(channel);
  return c == core::kNoIndex ? 0 : static_cast<std::size_t>(inv_.channel(c).pending_publications);
}

std::optional<core::Command> delivery_command(const DeliveryAction& a) {
  switch (a.kind) {
    case DeliveryAction::Kind::ack:
      return core::AckPublications{a.channel, a.seq};
    case DeliveryAction::Kind::freeze:
    case DeliveryAction::Kind::unfreeze: {
      core::PutChannel p;
      p.channel = a.channel;
      p.state = a.kind == DeliveryAction::Kind::freeze ? core::ChannelState::frozen : core::ChannelState::active;
      p.reason = core::FrozenReason::delivery_failing;
      return p;
    }
  }
  return std::nullopt;
}

}  // namespace stockd::server
