#include "recycle_bin.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace hae {

void RecycleBin::add(int token, Modality modality, float score) {
  if (token >= static_cast<int>(index_.size())) index_.resize(token + 1, -1);
  index_[token] = static_cast<int>(entries_.size());
  entries_.push_back({token, modality, score, TokenState::Active});
  ++active_;
}

void RecycleBin::accumulate(const std::vector<int>& tokens, const std::vector<float>& attention) {
  if (p_.gamma != 1.0)
    for (auto& e : entries_) e.score = static_cast<float>(p_.gamma * e.score);
  for (std::size_t k = 0; k < tokens.size(); ++k)
    if (contains(tokens[k])) entries_[index_[tokens[k]]].score += attention[k];
}

int RecycleBin::budgetFor(int seen) const {
  const double b = p_.budget <= 1.0 ? std::floor(p_.budget * seen) : std::floor(p_.budget);
  return std::max<int>(static_cast<int>(std::min(b, 2e9)), p_.sink + p_.recent);
}

TokenState RecycleBin::state(int token) const {
  return contains(token) ? entries_[index_[token]].state : TokenState::Gone;
}

float RecycleBin::score(int token) const {
  return contains(token) ? entries_[index_[token]].score : 0.0f;
}

std::vector<int> RecycleBin::liveEntries() const {
  std::vector<int> live;
  live.reserve(entries_.size() - gone_);
  for (int i = 0; i < static_cast<int>(entries_.size()); ++i)
    if (entries_[i].state != TokenState::Gone) live.push_back(i);
  return live;
}

bool RecycleBin::isProtected(int token) const {
  if (!contains(token) || entries_[index_[token]].state == TokenState::Gone) return false;
  const auto live = liveEntries();
  const auto pos = std::lower_bound(live.begin(), live.end(), index_[token]) - live.begin();
  return pos < p_.sink || pos >= static_cast<long>(live.size()) - p_.recent;
}

std::vector<float> RecycleBin::reweighted(const std::vector<int>& live) const {
  double sum[kModalityCount] = {}, sq[kModalityCount] = {};
  int count[kModalityCount] = {};
  for (int i : live) {
    const auto m = static_cast<int>(entries_[i].modality);
    sum[m] += entries_[i].score;
    sq[m] += static_cast<double>(entries_[i].score) * entries_[i].score;
    ++count[m];
  }
  std::vector<float> out(live.size());
  for (std::size_t k = 0; k < live.size(); ++k) {
    const Entry& e = entries_[live[k]];
    const auto m = static_cast<int>(e.modality);
    const double mean = sum[m] / count[m];
    switch (p_.reweight) {
      case Reweight::ModalityMean:
        out[k] = mean > 0 ? static_cast<float>(e.score / mean) : 0.0f;
        break;
      case Reweight::ZScore: {
        const double sd = std::sqrt(std::max(0.0, sq[m] / count[m] - mean * mean));
        out[k] = sd > 0 ? static_cast<float>((e.score - mean) / sd) : 0.0f;
        break;
      }
      case Reweight::None:
        out[k] = e.score;
        break;
    }
  }
  return out;
}

RecycleBin::Decision RecycleBin::rebalance(int seen) {
  Decision d;
  const int budget = budgetFor(seen);
  if (binned_ == 0 && active_ <= budget) return d;  // the common step: nothing to weigh
  auto live = liveEntries();
  auto sw = reweighted(live);
  const int n = static_cast<int>(live.size());
  auto isProt = [&](int k) { return k < p_.sink || k >= n - p_.recent; };

  // 4. Restore: bin tokens whose re-weighted score came back up.
  for (int k = 0; k < n; ++k) {
    Entry& e = entries_[live[k]];
    if (e.state == TokenState::Bin && sw[k] >= p_.theta_restore) {
      e.state = TokenState::Active;
      --binned_, ++active_;
      d.restored.push_back({e.token, sw[k]});
    }
  }
  // 5. Demote, visual first. Demotion leaves Active+Bin unchanged, so the re-weighted scores stay
  // valid and one sort replaces the one-at-a-time loop.
  if (active_ > budget) {
    std::vector<int> cand;
    for (int k = 0; k < n; ++k)
      if (!isProt(k) && entries_[live[k]].state == TokenState::Active) cand.push_back(k);
    auto group = [&](int k) {
      return entries_[live[k]].modality == Modality::Visual && sw[k] < p_.theta_vis ? 0 : 1;
    };
    // Usually one or two go per step: a partial sort (ties to the older token) is enough.
    const int count = std::min<int>(active_ - budget, static_cast<int>(cand.size()));
    std::partial_sort(cand.begin(), cand.begin() + count, cand.end(), [&](int a, int b) {
      const int ga = group(a), gb = group(b);
      if (ga != gb) return ga < gb;
      return sw[a] != sw[b] ? sw[a] < sw[b] : a < b;
    });
    for (int i = 0; i < count; ++i) {
      Entry& e = entries_[live[cand[i]]];
      e.state = TokenState::Bin;
      --active_, ++binned_;
      d.demoted.push_back({e.token, sw[cand[i]]});
    }
  }
  // 6. Purge down to floor(purge_to * d) once the bin overflows, in batches with the scores
  // re-weighted after each (the means move as tokens leave).
  if (binned_ > p_.bin) {
    const int target = static_cast<int>(std::floor(p_.purge_to * p_.bin));
    while (binned_ > target) {
      live = liveEntries();
      sw = reweighted(live);
      std::vector<int> cand;
      for (int k = 0; k < static_cast<int>(live.size()); ++k)
        if (entries_[live[k]].state == TokenState::Bin) cand.push_back(k);
      if (cand.empty()) break;
      // Lowest first; on equal scores visual tokens go first.
      std::stable_sort(cand.begin(), cand.end(), [&](int a, int b) {
        if (sw[a] != sw[b]) return sw[a] < sw[b];
        return entries_[live[a]].modality == Modality::Visual &&
               entries_[live[b]].modality != Modality::Visual;
      });
      const int excess = binned_ - target;
      const int batch = std::min<int>(std::max(1, (excess + 1) / 2), static_cast<int>(cand.size()));
      for (int i = 0; i < batch; ++i) {
        Entry& e = entries_[live[cand[i]]];
        e.state = TokenState::Gone;
        --binned_, ++gone_;
        index_[e.token] = -1;
        d.purged.push_back({e.token, sw[cand[i]]});
      }
    }
    // Drop gone entries from the vector now and then so live scans stay proportional to the cache.
    if (gone_ * 2 > static_cast<int>(entries_.size())) {
      std::vector<Entry> kept;
      for (const auto& e : entries_)
        if (e.state != TokenState::Gone) kept.push_back(e);
      entries_ = std::move(kept);
      std::fill(index_.begin(), index_.end(), -1);
      for (int i = 0; i < static_cast<int>(entries_.size()); ++i) index_[entries_[i].token] = i;
      gone_ = 0;
    }
  }
  return d;
}

}  // namespace hae
