#include "regret.h"

#include <unordered_map>

namespace hae {

float RegretTracker::attentionOf(const std::vector<std::vector<float>>& attention, int layer,
                                 int token) {
  if (layer >= 0) {
    if (layer >= static_cast<int>(attention.size())) return 0;
    const auto& row = attention[layer];
    return token < static_cast<int>(row.size()) ? row[token] : 0.0f;
  }
  // A broadcast decision (HAE's DDES applies to every layer): the mean over layers.
  double sum = 0;
  for (const auto& row : attention) sum += token < static_cast<int>(row.size()) ? row[token] : 0.0f;
  return attention.empty() ? 0.0f : static_cast<float>(sum / attention.size());
}

std::vector<RegretEvent> RegretTracker::step(int step, const std::vector<std::vector<float>>& attention,
                                             const std::vector<PolicyEvent>& events,
                                             const std::vector<TokenInfo>& tokens) {
  std::vector<RegretEvent> out;
  for (auto it = purged_.begin(); it != purged_.end();) {
    const Pending& p = it->second;
    const float a = attentionOf(attention, p.layer, p.token);
    if (p.step < step && a > threshold_) {
      out.push_back({RegretKind::RegrettedPurge, p.position, p.layer, p.step, step, a});
      it = purged_.erase(it);
    } else {
      ++it;
    }
  }
  std::vector<Pending> still;
  for (const Pending& p : restored_) {
    if (step <= p.step) {
      still.push_back(p);
      continue;
    }
    const float a = attentionOf(attention, p.layer, p.token);
    if (a > threshold_)
      out.push_back({RegretKind::TimelyRestore, p.position, p.layer, p.step, step, a});
    else if (step - p.step < window_)
      still.push_back(p);
  }
  restored_ = std::move(still);

  std::unordered_map<int, int> token_at;  // original position -> token index
  bool mapped = false;
  for (const PolicyEvent& e : events) {
    if (e.kind != EventKind::Purge && e.kind != EventKind::Restore) continue;
    if (!mapped) {
      for (std::size_t i = 0; i < tokens.size(); ++i) token_at[tokens[i].position] = static_cast<int>(i);
      mapped = true;
    }
    const auto found = token_at.find(e.position);
    if (found == token_at.end()) continue;
    const Pending p{found->second, e.position, e.layer, step};
    if (e.kind == EventKind::Purge)
      purged_.emplace(std::make_pair(p.token, p.layer), p);
    else if (window_ > 0)
      restored_.push_back(p);
  }
  return out;
}

}  // namespace hae
