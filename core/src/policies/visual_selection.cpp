#include "visual_selection.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace hae {

std::vector<std::int64_t> visualBudgets(const std::vector<std::int64_t>& span_sizes, double ratio,
                                        std::int64_t keep) {
  std::vector<std::int64_t> out(span_sizes.size(), 0);
  if (keep <= 0) {
    for (std::size_t i = 0; i < span_sizes.size(); ++i)
      out[i] = std::clamp<std::int64_t>(static_cast<std::int64_t>(std::llround(
                                            (1.0 - ratio) * static_cast<double>(span_sizes[i]))),
                                        0, span_sizes[i]);
    return out;
  }
  const std::int64_t total = std::accumulate(span_sizes.begin(), span_sizes.end(), std::int64_t{0});
  if (keep >= total) return span_sizes;
  std::vector<std::pair<double, std::size_t>> remainders;
  std::int64_t given = 0;
  for (std::size_t i = 0; i < span_sizes.size(); ++i) {
    const double share =
        static_cast<double>(keep) * static_cast<double>(span_sizes[i]) / static_cast<double>(total);
    out[i] = static_cast<std::int64_t>(std::floor(share));
    given += out[i];
    remainders.push_back({share - static_cast<double>(out[i]), i});
  }
  std::stable_sort(remainders.begin(), remainders.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  for (std::size_t r = 0; given < keep && r < remainders.size(); ++r) {
    const std::size_t i = remainders[r].second;
    if (out[i] < span_sizes[i]) ++out[i], ++given;
  }
  return out;
}

namespace {

// `k` of [0, n) evenly spaced: floor((t + 0.5) * n / k).
Indices evenlySpaced(std::int64_t n, std::int64_t k) {
  Indices out;
  for (std::int64_t t = 0; t < k; ++t)
    out.push_back(static_cast<std::int64_t>(std::floor(
        (static_cast<double>(t) + 0.5) * static_cast<double>(n) / static_cast<double>(k))));
  return out;
}

}  // namespace

Indices uniformGridKeep(const std::vector<std::pair<int, int>>& cells, int rows, int cols,
                        std::int64_t k) {
  const auto n = static_cast<std::int64_t>(cells.size());
  k = std::clamp<std::int64_t>(k, 0, n);
  if (k == 0) return {};
  if (k == n) {
    Indices all(n);
    std::iota(all.begin(), all.end(), 0);
    return all;
  }
  rows = std::max(rows, 1);
  cols = std::max(cols, 1);
  auto kr = std::clamp<std::int64_t>(
      std::llround(std::sqrt(static_cast<double>(k) * rows / static_cast<double>(cols))), 1, rows);
  auto kc = std::clamp<std::int64_t>((k + kr - 1) / kr, 1, cols);
  if (kr * kc < k) kr = std::min<std::int64_t>(rows, (k + kc - 1) / kc);
  if (kr * kc < k) kc = cols, kr = rows;  // the whole grid
  const Indices lr = evenlySpaced(rows, kr), lc = evenlySpaced(cols, kc);
  std::vector<std::int64_t> at(static_cast<std::size_t>(rows) * cols, -1);
  for (std::int64_t i = 0; i < n; ++i)
    if (cells[i].first >= 0 && cells[i].first < rows && cells[i].second >= 0 &&
        cells[i].second < cols)
      at[static_cast<std::size_t>(cells[i].first) * cols + cells[i].second] = i;
  std::vector<std::int64_t> lattice;
  for (auto r : lr)
    for (auto c : lc) lattice.push_back(at[static_cast<std::size_t>(r) * cols + c]);
  std::vector<bool> used(n, false);
  std::int64_t got = 0;
  for (auto t : evenlySpaced(static_cast<std::int64_t>(lattice.size()), k))
    if (lattice[t] >= 0 && !used[lattice[t]]) used[lattice[t]] = true, ++got;
  if (got < k) {  // lattice points without a candidate: fill evenly from the unused ones
    Indices unused;
    for (std::int64_t i = 0; i < n; ++i)
      if (!used[i]) unused.push_back(i);
    for (auto t : evenlySpaced(static_cast<std::int64_t>(unused.size()), k - got))
      used[unused[t]] = true;
  }
  Indices out;
  for (std::int64_t i = 0; i < n; ++i)
    if (used[i]) out.push_back(i);
  return out;
}

Indices divPruneKeep(const std::vector<float>& distance, std::int64_t n, std::int64_t k) {
  k = std::clamp<std::int64_t>(k, 0, n);
  if (k == 0) return {};
  std::vector<bool> picked(n, false);
  // nearest[j]: distance from j to its nearest picked token (first step: to its nearest other).
  std::vector<float> nearest(n, std::numeric_limits<float>::infinity());
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < n; ++j)
      if (i != j) nearest[j] = std::min(nearest[j], distance[i * n + j]);
  if (n == 1) nearest[0] = 0;
  Indices out;
  for (std::int64_t step = 0; step < k; ++step) {
    std::int64_t best = -1;
    for (std::int64_t j = 0; j < n; ++j)
      if (!picked[j] && (best < 0 || nearest[j] > nearest[best])) best = j;
    picked[best] = true;
    out.push_back(best);
    if (step == 0)
      std::fill(nearest.begin(), nearest.end(), std::numeric_limits<float>::infinity());
    for (std::int64_t j = 0; j < n; ++j) nearest[j] = std::min(nearest[j], distance[best * n + j]);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<double> conditionalKernel(const std::vector<float>& similarity,
                                      std::vector<double> relevance) {
  const auto n = static_cast<std::int64_t>(relevance.size());
  if (n > 0) {
    const auto [lo, hi] = std::minmax_element(relevance.begin(), relevance.end());
    const double mn = *lo, range = *hi - *lo;
    for (double& r : relevance) r = range > 0 ? (r - mn + 1e-6) / range : 1.0;
  }
  std::vector<double> kernel(static_cast<std::size_t>(n * n));
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < n; ++j)
      kernel[i * n + j] = relevance[i] * static_cast<double>(similarity[i * n + j]) * relevance[j];
  return kernel;
}

Indices dppGreedyKeep(const std::vector<double>& kernel, std::int64_t n, std::int64_t k) {
  k = std::clamp<std::int64_t>(k, 0, n);
  std::vector<std::vector<double>> c;  // c[t][j]: the Cholesky rows of the picked items
  std::vector<double> d2(n);           // d2[j]: marginal gain det(L_{S+j}) / det(L_S)
  for (std::int64_t j = 0; j < n; ++j) d2[j] = kernel[j * n + j];
  std::vector<bool> picked(n, false);
  Indices out;
  for (std::int64_t step = 0; step < k; ++step) {
    std::int64_t best = -1;
    for (std::int64_t j = 0; j < n; ++j)
      if (!picked[j] && (best < 0 || d2[j] > d2[best])) best = j;
    picked[best] = true;
    out.push_back(best);
    // A numerically singular pick adds no row: the rest keep their gains (the budget is met).
    if (!(d2[best] > 1e-12)) continue;
    const double root = std::sqrt(d2[best]);
    std::vector<double> e(n);
    for (std::int64_t j = 0; j < n; ++j) {
      double dot = 0;
      for (const auto& row : c) dot += row[best] * row[j];
      e[j] = (kernel[best * n + j] - dot) / root;
      d2[j] -= e[j] * e[j];
    }
    c.push_back(std::move(e));
  }
  std::sort(out.begin(), out.end());
  return out;
}

VisionZipPlan visionZipPlan(const std::vector<float>& attention,
                            const std::vector<float>& similarity, std::int64_t dominant,
                            std::int64_t contextual) {
  const auto n = static_cast<std::int64_t>(attention.size());
  dominant = std::clamp<std::int64_t>(dominant, 0, n);
  VisionZipPlan plan;
  plan.dominant = topKWithProtected(attention, dominant, std::vector<bool>(n, false));
  std::vector<bool> is_dominant(n, false);
  for (auto d : plan.dominant) is_dominant[d] = true;
  Indices rest;
  for (std::int64_t i = 0; i < n; ++i)
    if (!is_dominant[i]) rest.push_back(i);
  contextual = std::clamp<std::int64_t>(contextual, 0, static_cast<std::int64_t>(rest.size()));
  if (contextual == 0) return plan;
  const std::int64_t step =
      std::max<std::int64_t>(1, static_cast<std::int64_t>(rest.size()) / contextual);
  std::vector<bool> is_target(n, false);
  for (std::int64_t t = 0; t < contextual; ++t) {
    plan.targets.push_back(rest[t * step]);
    is_target[rest[t * step]] = true;
  }
  plan.members.assign(plan.targets.size(), {});
  for (auto i : rest) {
    if (is_target[i]) continue;
    std::size_t best = 0;
    for (std::size_t t = 1; t < plan.targets.size(); ++t)
      if (similarity[i * n + plan.targets[t]] > similarity[i * n + plan.targets[best]]) best = t;
    plan.members[best].push_back(i);
  }
  return plan;
}

Indices dartKeep(const std::vector<float>& visual_key_norm, const std::vector<float>& text_key_norm,
                 const std::vector<float>& sim_visual, const std::vector<float>& sim_text,
                 std::int64_t image_pivots, std::int64_t text_pivots, std::int64_t keep) {
  const auto m = static_cast<std::int64_t>(visual_key_norm.size());
  const auto t = static_cast<std::int64_t>(text_key_norm.size());
  keep = std::clamp<std::int64_t>(keep, 0, m);
  image_pivots = std::clamp<std::int64_t>(image_pivots, 0, keep);
  text_pivots = std::clamp<std::int64_t>(text_pivots, 0, t);
  const Indices img = topKWithProtected(visual_key_norm, image_pivots, std::vector<bool>(m, false));
  const Indices txt = topKWithProtected(text_key_norm, text_pivots, std::vector<bool>(t, false));
  std::vector<bool> kept(m, false);
  for (auto p : img) kept[p] = true;
  // Each pivot's row of similarities to the visual tokens.
  std::vector<const float*> pivots;
  for (auto p : img) pivots.push_back(&sim_visual[p * m]);
  for (auto p : txt) pivots.push_back(&sim_text[p * m]);
  std::int64_t picks = keep - static_cast<std::int64_t>(img.size());
  const auto np = static_cast<std::int64_t>(pivots.size());
  for (std::int64_t i = 0; i < np && picks > 0; ++i) {
    // Even shares of what is left over the pivots still to come.
    const std::int64_t share = (picks + (np - i) - 1) / (np - i);
    Indices pool;
    for (std::int64_t j = 0; j < m; ++j)
      if (!kept[j]) pool.push_back(j);
    std::stable_sort(pool.begin(), pool.end(),
                     [&](auto a, auto b) { return pivots[i][a] < pivots[i][b]; });
    for (std::int64_t s = 0; s < share && s < static_cast<std::int64_t>(pool.size()); ++s)
      kept[pool[s]] = true, --picks;
  }
  Indices out;
  for (std::int64_t j = 0; j < m; ++j)
    if (kept[j]) out.push_back(j);
  return out;
}

double pyramidMeanFraction(double lambda, int stages) {
  double sum = 0, f = 1;
  for (int s = 0; s < stages; ++s) sum += f, f *= lambda;
  return sum / stages;
}

double pyramidLambdaFor(double fraction, int stages) {
  if (fraction >= 1) return 1;
  if (fraction <= 1.0 / stages) return 0;
  double lo = 0, hi = 1;
  for (int i = 0; i < 60; ++i) {
    const double mid = (lo + hi) / 2;
    (pyramidMeanFraction(mid, stages) < fraction ? lo : hi) = mid;
  }
  return (lo + hi) / 2;
}

Indices sparseVlmRaters(const std::vector<float>& logits, std::int64_t visual, std::int64_t text) {
  if (visual <= 0 || text <= 0) return {};
  std::vector<double> share(static_cast<std::size_t>(text), 0.0);
  for (std::int64_t v = 0; v < visual; ++v) {
    const float* row = logits.data() + v * text;
    const double top = *std::max_element(row, row + text);
    double sum = 0;
    for (std::int64_t t = 0; t < text; ++t) sum += std::exp(double(row[t]) - top);
    for (std::int64_t t = 0; t < text; ++t)
      share[t] += std::exp(double(row[t]) - top) / sum / double(visual);
  }
  const double mean = std::accumulate(share.begin(), share.end(), 0.0) / double(text);
  Indices out;
  // Shares equal up to rounding are not above the mean (a relative tolerance, so one rater
  // pattern does not depend on the summation order).
  for (std::int64_t t = 0; t < text; ++t)
    if (share[t] > mean * (1 + 1e-9)) out.push_back(t);
  return out;
}

std::vector<std::int64_t> sparseVlmSchedule(std::int64_t m, std::int64_t final, int stages) {
  std::vector<std::int64_t> out;
  if (stages <= 0) return out;
  final = std::clamp<std::int64_t>(final, 0, m);
  const double f = m > 0 ? double(final) / double(m) : 1.0;
  std::int64_t previous = m;
  for (int s = 1; s <= stages; ++s) {
    std::int64_t t = s == stages ? final
                                 : static_cast<std::int64_t>(
                                       std::llround(double(m) * std::pow(f, double(s) / stages)));
    t = std::clamp<std::int64_t>(t, final, previous);
    out.push_back(t);
    previous = t;
  }
  return out;
}

namespace {

// The reference's count of recycled tokens for p pruned ones.
std::pair<std::int64_t, std::int64_t> recycleCounts(std::int64_t p, double share,
                                                    std::int64_t per_cluster) {
  if (p <= 0 || share <= 0) return {0, 0};
  const std::int64_t candidates =
      std::min<std::int64_t>(p, static_cast<std::int64_t>(std::floor(share * double(p))) + 1);
  const std::int64_t clusters =
      std::min<std::int64_t>(candidates, candidates / std::max<std::int64_t>(1, per_cluster) + 1);
  return {candidates, clusters};
}

// The top `k` of `among` (indices into scores) by score, ties to the lower index; ascending.
Indices topAmong(const std::vector<float>& scores, const Indices& among, std::int64_t k) {
  std::vector<float> sub;
  for (auto i : among) sub.push_back(scores[i]);
  Indices out;
  for (auto j : fastvKeep(sub, k)) out.push_back(among[j]);
  return out;
}

}  // namespace

SparseVlmDrop sparseVlmDrop(const std::vector<float>& scores, std::int64_t target, double share,
                            std::int64_t per_cluster) {
  const auto n = static_cast<std::int64_t>(scores.size());
  SparseVlmDrop out;
  target = std::clamp<std::int64_t>(target, 0, n);
  Indices all(n);
  std::iota(all.begin(), all.end(), 0);
  if (target >= n) {
    out.kept = all;
    return out;
  }
  // kept + clusters(n - kept) falls by 0 or 1 per token pruned, so the largest fitting `kept`
  // meets the target exactly unless even kept = 0 overshoots it.
  std::int64_t kept = -1, clusters = 0;
  for (std::int64_t k = target; k >= 0; --k) {
    const auto c = recycleCounts(n - k, share, per_cluster).second;
    if (k + c <= target) {
      kept = k, clusters = c;
      break;
    }
  }
  if (kept < 0) kept = 0, clusters = target;
  out.kept = fastvKeep(scores, kept);
  Indices pruned;
  std::size_t j = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    if (j < out.kept.size() && out.kept[j] == i)
      ++j;
    else
      pruned.push_back(i);
  }
  out.clusters = clusters;
  if (clusters > 0) {
    const auto candidates = std::max(clusters, recycleCounts(n - kept, share, per_cluster).first);
    out.candidates = topAmong(scores, pruned, candidates);
  }
  return out;
}

RecycleClusters recycleClusters(const std::vector<float>& distance, std::int64_t n,
                                std::int64_t clusters) {
  RecycleClusters out;
  clusters = std::clamp<std::int64_t>(clusters, 0, n);
  if (clusters == 0) return out;
  auto d = [&](std::int64_t i, std::int64_t j) { return double(distance[i * n + j]); };
  std::vector<double> density(n);
  for (std::int64_t i = 0; i < n; ++i) {
    std::vector<double> row(n);
    for (std::int64_t j = 0; j < n; ++j) row[j] = d(i, j);
    std::partial_sort(row.begin(), row.begin() + clusters, row.end());
    double sq = 0;
    for (std::int64_t j = 0; j < clusters; ++j) sq += row[j] * row[j];
    density[i] = std::exp(-sq / double(clusters));
  }
  const double dmax = *std::max_element(distance.begin(), distance.begin() + n * n);
  std::vector<float> score(n);
  for (std::int64_t i = 0; i < n; ++i) {
    double delta = dmax;
    for (std::int64_t j = 0; j < n; ++j) {
      const bool denser = density[j] > density[i] || (density[j] == density[i] && j < i);
      if (denser) delta = std::min(delta, d(i, j));
    }
    score[i] = static_cast<float>(delta * density[i]);
  }
  // The centres in descending score (the reference's topk order), ties to the lower index.
  std::vector<std::int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](auto a, auto b) { return score[a] > score[b]; });
  out.centers.assign(order.begin(), order.begin() + clusters);
  out.members.assign(clusters, {});
  for (std::int64_t i = 0; i < n; ++i) {
    std::int64_t best = 0;
    for (std::int64_t c = 0; c < clusters; ++c) {
      if (out.centers[c] == i) {
        best = c;
        break;
      }
      if (d(out.centers[c], i) < d(out.centers[best], i)) best = c;
    }
    out.members[best].push_back(i);
  }
  return out;
}

}  // namespace hae
