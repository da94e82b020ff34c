#pragma once
// HAE's decode stage (DDES) as a torch-free state machine over tokens: Active and Bin sets with a
// running score per token, modality re-weighting, restore / demote (visual first) / purge. One
// state serves every layer because HAE broadcasts its decisions. The policy feeds it the scoring
// layer's attention once per step and applies its decisions to the caches in one batch.
#include <cstdint>
#include <vector>

#include "hae/telemetry.h"

namespace hae {

enum class Reweight { ModalityMean, ZScore, None };

struct DdesParams {
  double budget = 0.59;  // <= 1: ratio of tokens seen; > 1: absolute
  int bin = 64;
  int sink = 4, recent = 32;
  double gamma = 1.0;
  Reweight reweight = Reweight::ModalityMean;
  double theta_vis = 1.0, theta_restore = 1.0;
  double purge_to = 0.5;
};

enum class TokenState : std::uint8_t { Active, Bin, Gone };

class RecycleBin {
 public:
  explicit RecycleBin(const DdesParams& params) : p_(params) {}

  // Adds a token (indices grow with the run) as Active with an initial score.
  void add(int token, Modality modality, float score);
  // s = gamma * s + a for every live token; `attention[k]` belongs to `tokens[k]`, live tokens
  // not listed receive a = 0.
  void accumulate(const std::vector<int>& tokens, const std::vector<float>& attention);

  struct Change {
    int token;
    float score;  // the re-weighted score that decided it
  };
  struct Decision {
    std::vector<Change> restored, demoted, purged;
    bool empty() const { return restored.empty() && demoted.empty() && purged.empty(); }
  };
  // Steps 3-6 of DDES with `seen` tokens so far (prompt + generated) for a ratio budget.
  Decision rebalance(int seen);

  // The Active budget at `seen` tokens: never below the protected count.
  int budgetFor(int seen) const;
  TokenState state(int token) const;
  bool contains(int token) const {
    return token >= 0 && token < static_cast<int>(index_.size()) && index_[token] >= 0;
  }
  int activeCount() const { return active_; }
  int binCount() const { return binned_; }
  float score(int token) const;
  // Whether a live token is protected now (the first `sink` or last `recent` live tokens).
  bool isProtected(int token) const;

 private:
  struct Entry {
    int token;
    Modality modality;
    float score;
    TokenState state;
  };
  std::vector<float> reweighted(const std::vector<int>& live) const;
  std::vector<int> liveEntries() const;

  DdesParams p_;
  std::vector<Entry> entries_;  // in token order; Gone entries are compacted out now and then
  std::vector<int> index_;      // token -> entry, -1 when unknown or gone
  int active_ = 0, binned_ = 0, gone_ = 0;
};

}  // namespace hae
