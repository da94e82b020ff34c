#include "selection.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

namespace hae {

Indices topKWithProtected(const std::vector<float>& scores, std::int64_t k,
                          const std::vector<bool>& protect) {
  const auto n = static_cast<std::int64_t>(scores.size());
  Indices kept, rest;
  for (std::int64_t i = 0; i < n; ++i) (protect.empty() || !protect[i] ? rest : kept).push_back(i);
  const std::int64_t extra = std::clamp<std::int64_t>(k - static_cast<std::int64_t>(kept.size()), 0,
                                                      static_cast<std::int64_t>(rest.size()));
  auto better = [&](std::int64_t a, std::int64_t b) {
    return scores[a] > scores[b] || (scores[a] == scores[b] && a < b);
  };
  std::partial_sort(rest.begin(), rest.begin() + extra, rest.end(), better);
  kept.insert(kept.end(), rest.begin(), rest.begin() + extra);
  std::sort(kept.begin(), kept.end());
  return kept;
}

Indices dualAttentionEvict(const std::vector<float>& A, const std::vector<float>& M,
                           const Indices& candidates, double tau_g, double tau_i) {
  double total = 0;
  for (auto j : candidates) total += A[j];
  Indices evicted;
  for (auto j : candidates)
    if (A[j] < tau_g * total && M[j] < tau_i) evicted.push_back(j);
  std::sort(evicted.begin(), evicted.end());
  return evicted;
}

Indices dapEvict(const std::vector<float>& A, const std::vector<float>& M,
                 const std::vector<Indices>& spans, const DapParams& p) {
  Indices evicted;
  for (const Indices& span : spans) {
    if (span.empty()) continue;
    if (p.mode == DapMode::Keep) {
      std::vector<float> s;
      for (auto j : span) s.push_back(A[j]);
      Indices keep = topKWithProtected(s, p.keep, {});
      std::vector<bool> kept(span.size(), false);
      for (auto i : keep) kept[i] = true;
      for (std::size_t i = 0; i < span.size(); ++i)
        if (!kept[i]) evicted.push_back(span[i]);
      continue;
    }
    const double tau_g =
        p.scale_by_count ? p.tau_g * 576.0 / static_cast<double>(span.size()) : p.tau_g;
    Indices e = dualAttentionEvict(A, M, span, tau_g, p.tau_i);
    if (p.mode == DapMode::Cap && static_cast<std::int64_t>(e.size()) > p.cap) {
      // Keep the evictions with the lowest cumulative attention.
      std::stable_sort(e.begin(), e.end(), [&](auto a, auto b) { return A[a] < A[b]; });
      e.resize(p.cap);
      std::sort(e.begin(), e.end());
    }
    evicted.insert(evicted.end(), e.begin(), e.end());
  }
  std::sort(evicted.begin(), evicted.end());
  return evicted;
}

Indices streamingKeep(std::int64_t n, std::int64_t sink, std::int64_t recent) {
  Indices keep;
  for (std::int64_t i = 0; i < n; ++i)
    if (i < sink || i >= n - recent) keep.push_back(i);
  return keep;
}

std::vector<float> pool1d(const std::vector<float>& x, int kernel, bool max_pool) {
  const int n = static_cast<int>(x.size()), pad = kernel / 2;
  // With an even kernel torch yields n+1 outputs; the first n line up with the inputs.
  std::vector<float> out(n);
  for (int i = 0; i < n; ++i) {
    float acc = max_pool ? -std::numeric_limits<float>::infinity() : 0.0f;
    for (int t = i - pad; t < i - pad + kernel; ++t) {
      const bool inside = t >= 0 && t < n;
      if (max_pool) {
        if (inside) acc = std::max(acc, x[t]);
      } else if (inside) {
        acc += x[t];
      }
    }
    out[i] = max_pool ? acc : acc / static_cast<float>(kernel);
  }
  return out;
}

Indices snapKvKeep(const std::vector<float>& votes, std::int64_t budget, std::int64_t window,
                   int kernel, bool max_pool) {
  const auto n = static_cast<std::int64_t>(votes.size());
  Indices keep;
  if (n <= budget || window >= n) {
    keep.resize(n);
    std::iota(keep.begin(), keep.end(), 0);
    return keep;
  }
  std::vector<float> prefix(votes.begin(), votes.begin() + (n - window));
  keep = topKWithProtected(pool1d(prefix, kernel, max_pool), budget - window, {});
  for (std::int64_t i = n - window; i < n; ++i) keep.push_back(i);
  return keep;
}

std::vector<std::int64_t> pyramidBudgets(std::int64_t n, std::int64_t budget, std::int64_t window,
                                         double beta, int layers) {
  std::vector<std::int64_t> out(layers, budget);
  if (n <= budget) return std::vector<std::int64_t>(layers, n);
  const double b = static_cast<double>(budget - window);
  double lo = b / beta, hi = 2 * b - lo;
  if (hi >= static_cast<double>(n - window)) {
    hi = static_cast<double>(n - window);
    lo = 2 * b - hi;
  }
  if (layers < 2 || lo < 0 || hi < lo) return out;  // the pyramid does not fit: uniform SnapKV
  const double step = (hi - lo) / (layers - 1);
  for (int l = 0; l < layers; ++l)
    out[l] = static_cast<std::int64_t>(std::llround(hi - l * step)) + window;
  return out;
}

std::vector<Indices> adaKvKeep(const std::vector<std::vector<float>>& votes, std::int64_t budget,
                               std::int64_t window, int kernel, bool max_pool, double alpha) {
  const auto heads = static_cast<std::int64_t>(votes.size());
  std::vector<Indices> keep(heads);
  if (heads == 0) return keep;
  const auto n = static_cast<std::int64_t>(votes[0].size());
  if (n <= budget || window >= n) {
    for (auto& k : keep) {
      k.resize(n);
      std::iota(k.begin(), k.end(), 0);
    }
    return keep;
  }
  const std::int64_t prefix = n - window, per_head = std::max<std::int64_t>(budget - window, 0);
  std::vector<std::vector<float>> pooled(heads);
  std::vector<float> flat;
  flat.reserve(heads * prefix);
  for (std::int64_t h = 0; h < heads; ++h) {
    pooled[h] =
        pool1d(std::vector<float>(votes[h].begin(), votes[h].begin() + prefix), kernel, max_pool);
    flat.insert(flat.end(), pooled[h].begin(), pooled[h].end());
  }
  // Counts per head from the layer-wide top H*B' (ties to the lower head, then the lower slot).
  std::vector<std::int64_t> count(heads, 0);
  for (auto i : topKWithProtected(flat, heads * per_head, {})) ++count[i / prefix];
  for (std::int64_t h = 0; h < heads; ++h) {
    const auto c = std::llround((1.0 - alpha) * static_cast<double>(count[h]) +
                                alpha * static_cast<double>(per_head));
    keep[h] = topKWithProtected(pooled[h], std::min<std::int64_t>(c, prefix), {});
    for (std::int64_t i = prefix; i < n; ++i) keep[h].push_back(i);
  }
  return keep;
}

Indices fastvKeep(const std::vector<float>& scores, std::int64_t keep) {
  return topKWithProtected(scores, keep, {});
}

Indices randomSubset(std::int64_t n, std::int64_t k, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  Indices all(n);
  std::iota(all.begin(), all.end(), 0);
  k = std::clamp<std::int64_t>(k, 0, n);
  for (std::int64_t i = 0; i < k; ++i) {
    const std::int64_t j = i + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(n - i));
    std::swap(all[i], all[j]);
  }
  all.resize(k);
  std::sort(all.begin(), all.end());
  return all;
}

}  // namespace hae
