#pragma once
// The selection rules of the vision-side (V stage) pruners as pure functions over plain vectors,
// so each rule is tested on a hand-built case without LibTorch; the policies compute the
// similarity matrices with torch, copy them out once and apply the result in the engine's V hook.
#include <cstdint>
#include <utility>
#include <vector>

#include "selection.h"

namespace hae {

// Kept tokens per span (an image or a crop grid) of the given sizes: round((1 - ratio) * m) each,
// or, when keep > 0, `keep` in total shared out in proportion to the sizes (largest remainder,
// ties to the earlier span), never more than a span holds.
std::vector<std::int64_t> visualBudgets(const std::vector<std::int64_t>& span_sizes, double ratio,
                                        std::int64_t keep);

// Spatially uniform control: `k` of the candidates (cells[i] = (row, col) of candidate i on a
// rows x cols grid) on an evenly spaced lattice of kr rows x kc columns (kr ~ sqrt(k*rows/cols),
// kr*kc >= k), thinned evenly to exactly k in raster order; lattice points that are not
// candidates are replaced by the evenly spaced unused candidates. Ascending indices into cells.
Indices uniformGridKeep(const std::vector<std::pair<int, int>>& cells, int rows, int cols,
                        std::int64_t k);

// DivPrune: greedy max-min diversity over an n x n distance matrix (row-major, 1 - cosine
// similarity). The first pick is the token whose nearest other token is farthest; each later pick
// maximises the distance to its nearest picked token (ties to the lower index). Ascending.
Indices divPruneKeep(const std::vector<float>& distance, std::int64_t n, std::int64_t k);

// CDPruner: greedy MAP inference of a DPP with kernel L (n x n, row-major, symmetric PSD), by the
// incremental Cholesky update of Chen et al. (the reference's loop): each step adds the item with
// the largest marginal gain det(L_{S+i}) / det(L_S). Stops early when no gain is positive.
// Ascending.
Indices dppGreedyKeep(const std::vector<double>& kernel, std::int64_t n, std::int64_t k);
// CDPruner's conditional kernel: L_ij = r_i * S_ij * r_j with S the cosine similarity of the
// visual embeddings and r the relevance, min-max normalised as the reference does.
std::vector<double> conditionalKernel(const std::vector<float>& similarity,
                                      std::vector<double> relevance);

// VisionZip for one image: `dominant` tokens by attention (top, ties to the lower index), then
// `contextual` targets evenly spaced (step floor(rest / contextual)) among the rest in index order;
// every other remaining token is merged into its most similar target (similarity n x n,
// row-major; ties to the first target). members[t] lists what target t absorbs (itself excluded).
struct VisionZipPlan {
  Indices dominant;              // ascending
  Indices targets;               // ascending
  std::vector<Indices> members;  // one per target, ascending
};
VisionZipPlan visionZipPlan(const std::vector<float>& attention,
                            const std::vector<float>& similarity, std::int64_t dominant,
                            std::int64_t contextual);

// DART for one image: the `image_pivots` visual tokens with the largest key L1 norm
// (visual_key_norm, ties to the lower index) and the `text_pivots` query tokens likewise
// (text_key_norm) are the pivots; pivot by pivot (image pivots, then text pivots, each ascending)
// the pivot takes its share of the remaining visual tokens least cosine-similar to it (sim_image:
// image pivot x visual, sim_text: text pivot x visual, both row-major over the m visual tokens),
// which leave the pool. The kept set is the image pivots plus every pick: exactly `keep` (the
// picks keep - image pivots, shared out as evenly as possible, earlier pivots first). Ascending.
Indices dartKeep(const std::vector<float>& visual_key_norm, const std::vector<float>& text_key_norm,
                 const std::vector<float>& sim_visual, const std::vector<float>& sim_text,
                 std::int64_t image_pivots, std::int64_t text_pivots, std::int64_t keep);

// PyramidDrop's mean kept fraction of the visual tokens over the layers, for `stages` equal
// segments each keeping lambda of the previous one: (1 - lambda^S) / (S (1 - lambda)).
double pyramidMeanFraction(double lambda, int stages);
// The lambda whose mean kept fraction is `fraction` (bisection; 0 for fraction <= 1/S).
double pyramidLambdaFor(double fraction, int stages);

// SparseVLM's raters: logits[v * text + t] = <visual row v, text row t> of the decoder's input
// embeddings. Each visual row's softmax over the text rows, averaged over the visual rows, gives
// every text row a share; the raters are the text rows whose share is above the mean share.
// Ascending indices into the text rows (empty when every share is equal).
Indices sparseVlmRaters(const std::vector<float>& logits, std::int64_t visual, std::int64_t text);

// SparseVLM's kept visual tokens per drop for one image of m visual tokens that keeps `final` after
// the last of `stages` drops: geometric in between, round(m * (final / m)^(s / stages)) at drop s,
// exactly `final` at the last. Non-increasing, one entry per drop.
std::vector<std::int64_t> sparseVlmSchedule(std::int64_t m, std::int64_t final, int stages);

// One SparseVLM drop for one image: `scores` (the raters' attention) over its n visual tokens,
// `target` of them to remain, recycled tokens included. The reference's recycling: of the p pruned
// tokens the top min(p, floor(share * p) + 1) by score are candidates, clustered into
// floor(candidates / per_cluster) + 1 recycled tokens; `kept` are the top n - p by score, with p
// the fewest pruned tokens such that kept + clusters == target (clusters capped at the target
// when even keeping none leaves too many). share = 0: no recycling. Ties to the lower index.
struct SparseVlmDrop {
  Indices kept;             // ascending
  Indices candidates;       // pruned tokens to recycle, ascending
  std::int64_t clusters = 0;
};
SparseVlmDrop sparseVlmDrop(const std::vector<float>& scores, std::int64_t target, double share,
                            std::int64_t per_cluster);

// SparseVLM's recycling clusters (DPC-KNN, the reference's cluster_and_merge) over n tokens with
// distances (n x n, row-major): density_i = exp(-mean of the squared distances to its k = clusters
// nearest, itself included); delta_i = distance to the nearest denser token (the largest distance
// of the matrix for the densest; equal densities: the lower index counts as denser); the centres
// are the top `clusters` by density * delta (ties to the lower index), every token joins its
// nearest centre (ties to the earlier centre). Centres in that order; members ascending, the
// centre included.
struct RecycleClusters {
  Indices centers;
  std::vector<Indices> members;
};
RecycleClusters recycleClusters(const std::vector<float>& distance, std::int64_t n,
                                std::int64_t clusters);

}  // namespace hae
