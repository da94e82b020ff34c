#pragma once
// The selection rules of every policy as pure functions over plain score vectors, so each rule is
// unit-tested on a hand-built attention pattern without LibTorch, and the policies only copy a
// tap's scores out once per step and apply the result with one gather per layer.
#include <cstdint>
#include <vector>

namespace hae {

using Indices = std::vector<std::int64_t>;  // ascending slot / row indices

// Keeps every protected index plus the highest-scoring others until `k` are kept (or all, if
// fewer); ties go to the lower index so decisions are deterministic. Ascending result.
Indices topKWithProtected(const std::vector<float>& scores, std::int64_t k,
                          const std::vector<bool>& protect);

// MustDrop/HAE dual-attention filter over `candidates` (indices into A and M): j is evicted iff
// A_j < tau_g * sum_{candidates} A and M_j < tau_i. Returns the evicted indices, ascending.
Indices dualAttentionEvict(const std::vector<float>& A, const std::vector<float>& M,
                           const Indices& candidates, double tau_g, double tau_i);

// HAE's DAP over one or more candidate spans (each an image, or all visual tokens together).
enum class DapMode { Threshold, Keep, Cap };
struct DapParams {
  DapMode mode = DapMode::Threshold;
  double tau_g = 0.0015, tau_i = 0.0015;
  std::int64_t keep = 192;      // Keep mode: kept per span
  std::int64_t cap = 384;       // Cap mode: most evicted per span
  bool scale_by_count = false;  // tau_g *= 576 / |span|
};
Indices dapEvict(const std::vector<float>& A, const std::vector<float>& M,
                 const std::vector<Indices>& spans, const DapParams& p);

// StreamingLLM: the first `sink` and the last `recent` of n slots.
Indices streamingKeep(std::int64_t n, std::int64_t sink, std::int64_t recent);

// 1-D pooling along the sequence, stride 1, padding kernel/2 (avg counts the zero padding, as
// torch's avg_pool1d does by default; max pads with -inf).
std::vector<float> pool1d(const std::vector<float>& x, int kernel, bool max_pool);

// SnapKV for one layer: n prompt slots, `votes` (size n) summed over the last `window` queries.
// Keeps all of the window and the top (budget - window) pooled votes of the prefix; nothing is
// dropped when n <= budget.
Indices snapKvKeep(const std::vector<float>& votes, std::int64_t budget, std::int64_t window,
                   int kernel, bool max_pool);

// PyramidKV: kept tokens per layer (window included) for average budget B over `layers` layers,
// as KVCache-Factory: linear from max at layer 0 to min = (B-w)/beta at the last; falls back to
// the uniform budget B where the pyramid does not fit, and to n (no compression) when n <= B.
std::vector<std::int64_t> pyramidBudgets(std::int64_t n, std::int64_t budget, std::int64_t window,
                                         double beta, int layers);

// Ada-KV with SnapKV scoring: `votes[h]` are KV head h's window votes over n slots. Each head's
// prefix votes are pooled; the top H*(budget-window) of all heads' pooled scores together give
// head h a count c_h, softened by the floor alpha to round((1-alpha)*c_h + alpha*(budget-window));
// head h keeps its top c'_h prefix slots plus the whole window. Nothing is dropped when n <=
// budget.
std::vector<Indices> adaKvKeep(const std::vector<std::vector<float>>& votes, std::int64_t budget,
                               std::int64_t window, int kernel, bool max_pool, double alpha);

// FastV: the `keep` highest-scoring visual tokens (scores over the image span). Ascending.
Indices fastvKeep(const std::vector<float>& scores, std::int64_t keep);

// Seeded random subset of size k of [0, n), ascending (portable: own Fisher-Yates on mt19937_64).
Indices randomSubset(std::int64_t n, std::int64_t k, std::uint64_t seed);

}  // namespace hae
