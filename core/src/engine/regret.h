#pragma once
// HAE's recycle bin judged by the full-cache shadow (torch-free): purged tokens the full model
// later attends above a threshold (regretted purges, once per token and layer scope) and restored
// tokens it attends within k steps of the restore (timely restores, once per restore). Only HAE's
// recycle bin emits Purge / Restore events; other policies produce no regrets.
#include <map>
#include <utility>
#include <vector>

#include "hae/telemetry.h"

namespace hae {

class RegretTracker {
 public:
  RegretTracker(double threshold = 0.01, int window = 4) : threshold_(threshold), window_(window) {}
  void reset() { purged_.clear(), restored_.clear(); }
  // One step: `attention[layer][token]` is the full model's head-mean attention of this step's
  // query; `events` the policy's decisions of this step (made after this step's forward, so they
  // are judged from the next step on); `tokens` the run's tokens, to find an event's token by its
  // original position. Returns what this step's attention decided about earlier events.
  std::vector<RegretEvent> step(int step, const std::vector<std::vector<float>>& attention,
                                const std::vector<PolicyEvent>& events,
                                const std::vector<TokenInfo>& tokens);

 private:
  struct Pending {
    int token = 0, position = 0, layer = -1, step = 0;
  };
  // The attention a decision about `layer` (-1: every layer) answers to.
  static float attentionOf(const std::vector<std::vector<float>>& attention, int layer, int token);
  double threshold_;
  int window_;
  std::map<std::pair<int, int>, Pending> purged_;  // (token, layer) not yet regretted
  std::vector<Pending> restored_;                  // restores still inside their window
};

}  // namespace hae
