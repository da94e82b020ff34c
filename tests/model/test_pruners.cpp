// The vision-side (stage V) pruners and the engine's V hook: each rule keeps exactly the tokens it
// names on a hand-built case (VisionZip's merges, CDPruner's DPP against a brute-force optimum),
// the V hook with nothing dropped reproduces the full run bit for bit, a dropped image token is
// in no layer's cache and no layer computed it, the policies run on the three families with
// separators kept (or are refused naming the method and what is missing), and every policy
// carries its stage label.
#include <algorithm>
#include <functional>
#include <numeric>
#include <random>
#include <set>

#include "engine/engine.h"
#include "hae/error.h"
#include "hae/policy_catalog.h"
#include "models/llava.h"
#include "models/vlm_model.h"
#include "policies/catalog.h"
#include "policies/visual_selection.h"
#include "reference.h"

namespace hae::test {
namespace {

// ---- the rules on hand-built cases ----

TEST(VisualBudgets, RatioPerSpanOrAKeepSharedByLargestRemainder) {
  EXPECT_EQ(visualBudgets({10, 4}, 0.5, 0), (std::vector<std::int64_t>{5, 2}));
  EXPECT_EQ(visualBudgets({10, 4}, 0, 0), (std::vector<std::int64_t>{10, 4}));
  EXPECT_EQ(visualBudgets({10, 4}, 1, 0), (std::vector<std::int64_t>{0, 0}));
  // 7 of 14: shares 5 and 2 exactly; 8 of 14: 5.71 and 2.29, the larger remainder gets the spare.
  EXPECT_EQ(visualBudgets({10, 4}, 0.9, 7), (std::vector<std::int64_t>{5, 2}));
  EXPECT_EQ(visualBudgets({10, 4}, 0.9, 8), (std::vector<std::int64_t>{6, 2}));
  EXPECT_EQ(visualBudgets({10, 4}, 0.9, 100), (std::vector<std::int64_t>{10, 4}));
}

std::vector<std::pair<int, int>> raster(int rows, int cols) {
  std::vector<std::pair<int, int>> cells;
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) cells.push_back({r, c});
  return cells;
}

TEST(UniformRule, KeepsAnEvenlySpacedLattice) {
  // 4 of a 4x4 grid: rows {1, 3} x cols {1, 3}.
  EXPECT_EQ(uniformGridKeep(raster(4, 4), 4, 4, 4), (Indices{5, 7, 13, 15}));
  // 3 of it: the same 2x2 lattice thinned evenly in raster order (points 0, 2, 3).
  EXPECT_EQ(uniformGridKeep(raster(4, 4), 4, 4, 3), (Indices{5, 13, 15}));
  // 9 of a 6x6 grid: rows and cols {1, 3, 5}.
  EXPECT_EQ(uniformGridKeep(raster(6, 6), 6, 6, 9), (Indices{7, 9, 11, 19, 21, 23, 31, 33, 35}));
  EXPECT_EQ(uniformGridKeep(raster(3, 3), 3, 3, 9).size(), 9u);
  EXPECT_TRUE(uniformGridKeep(raster(3, 3), 3, 3, 0).empty());
  // Any k gives exactly k distinct cells.
  for (std::int64_t k = 1; k <= 24; ++k) {
    const auto kept = uniformGridKeep(raster(4, 6), 4, 6, k);
    ASSERT_EQ(static_cast<std::int64_t>(kept.size()), k);
    EXPECT_TRUE(std::is_sorted(kept.begin(), kept.end()));
    EXPECT_EQ(std::set<std::int64_t>(kept.begin(), kept.end()).size(), kept.size());
  }
}

std::vector<float> lineDistances(const std::vector<float>& x) {
  std::vector<float> d;
  for (float a : x)
    for (float b : x) d.push_back(std::abs(a - b));
  return d;
}

TEST(DivPruneRule, GreedyMaxMinOverDistances) {
  // Points on a line. The first pick is the one whose nearest neighbour is farthest (10); then
  // the farthest from it (0); then the one farthest from both (5, at distance 5 from each).
  const std::vector<float> x = {0, 0.1f, 0.2f, 5, 5.1f, 10};
  EXPECT_EQ(divPruneKeep(lineDistances(x), 6, 1), (Indices{5}));
  EXPECT_EQ(divPruneKeep(lineDistances(x), 6, 2), (Indices{0, 5}));
  EXPECT_EQ(divPruneKeep(lineDistances(x), 6, 3), (Indices{0, 3, 5}));
  EXPECT_EQ(divPruneKeep(lineDistances(x), 6, 6).size(), 6u);
}

double det(std::vector<double> a, int n) {  // Gaussian elimination with partial pivoting
  double d = 1;
  for (int c = 0; c < n; ++c) {
    int p = c;
    for (int r = c + 1; r < n; ++r)
      if (std::abs(a[r * n + c]) > std::abs(a[p * n + c])) p = r;
    if (a[p * n + c] == 0) return 0;
    if (p != c) {
      for (int k = 0; k < n; ++k) std::swap(a[p * n + k], a[c * n + k]);
      d = -d;
    }
    d *= a[c * n + c];
    for (int r = c + 1; r < n; ++r) {
      const double f = a[r * n + c] / a[c * n + c];
      for (int k = c; k < n; ++k) a[r * n + k] -= f * a[c * n + k];
    }
  }
  return d;
}

double subDet(const std::vector<double>& L, std::int64_t n, const Indices& s) {
  std::vector<double> sub;
  for (auto i : s)
    for (auto j : s) sub.push_back(L[i * n + j]);
  return det(sub, static_cast<int>(s.size()));
}

// L = V V^T for rows V (n x dim).
std::vector<double> gram(const std::vector<std::vector<double>>& v) {
  const auto n = v.size();
  std::vector<double> L(n * n);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j)
      L[i * n + j] = std::inner_product(v[i].begin(), v[i].end(), v[j].begin(), 0.0);
  return L;
}

Indices bruteForceBest(const std::vector<double>& L, std::int64_t n, std::int64_t k) {
  Indices best, cur;
  double best_det = -1;
  std::function<void(std::int64_t)> rec = [&](std::int64_t from) {
    if (static_cast<std::int64_t>(cur.size()) == k) {
      const double d = subDet(L, n, cur);
      if (d > best_det + 1e-12) best_det = d, best = cur;
      return;
    }
    for (std::int64_t i = from; i < n; ++i) cur.push_back(i), rec(i + 1), cur.pop_back();
  };
  rec(0);
  return best;
}

TEST(CdPrunerRule, DppGreedyFindsTheBruteForceOptimumOnASmallCase) {
  // Seven tokens in 3-D: three near-duplicates of x, two of y, one z, one between x and y. The
  // kept 3 with the largest det(L_S) (volume spanned) are one of each axis; relevance scales
  // the z token up, which keeps it in.
  const std::vector<std::vector<double>> v = {{1, 0, 0},     {0.99, 0.1, 0}, {0.98, 0, 0.1},
                                              {0, 1, 0},     {0.1, 0.99, 0}, {0.6, 0.6, 0.1},
                                              {0, 0.05, 1.5}};
  const auto L = gram(v);
  const Indices best = bruteForceBest(L, 7, 3);
  EXPECT_EQ(dppGreedyKeep(L, 7, 3), best);
  EXPECT_EQ(best, (Indices{0, 3, 6}));
  EXPECT_EQ(dppGreedyKeep(L, 7, 7).size(), 7u);  // a singular kernel still meets the budget
}

TEST(CdPrunerRule, EveryGreedyStepTakesTheLargestDeterminantGain) {
  // The incremental Cholesky update against explicit determinants, on random PSD kernels.
  std::mt19937_64 rng(7);
  std::normal_distribution<double> normal;
  for (int trial = 0; trial < 5; ++trial) {
    const std::int64_t n = 9, k = 5;
    std::vector<std::vector<double>> v(n, std::vector<double>(6));
    for (auto& row : v)
      for (auto& x : row) x = normal(rng);
    const auto L = gram(v);
    Indices chosen;
    for (std::int64_t step = 0; step < k; ++step) {
      std::int64_t arg = -1;
      double best = -1;
      for (std::int64_t i = 0; i < n; ++i) {
        if (std::find(chosen.begin(), chosen.end(), i) != chosen.end()) continue;
        Indices s = chosen;
        s.push_back(i);
        std::sort(s.begin(), s.end());
        const double d = subDet(L, n, s);
        if (d > best) best = d, arg = i;
      }
      chosen.push_back(arg);
    }
    std::sort(chosen.begin(), chosen.end());
    EXPECT_EQ(dppGreedyKeep(L, n, k), chosen) << "trial " << trial;
    // Greedy MAP is not exact in general; on these it stays close to the optimum.
    EXPECT_GE(subDet(L, n, chosen), 0.5 * subDet(L, n, bruteForceBest(L, n, k)));
  }
}

TEST(CdPrunerRule, ConditionalKernelScalesBySimilarityAndMinMaxRelevance) {
  const std::vector<float> s = {1, 0.5f, 0.5f, 1};
  const auto L = conditionalKernel(s, {2.0, 4.0});  // relevance -> {1e-6/2, 1 + 1e-6/2}
  const double r0 = 1e-6 / 2, r1 = 1 + 1e-6 / 2;
  EXPECT_NEAR(L[0], r0 * r0, 1e-15);
  EXPECT_NEAR(L[1], r0 * 0.5 * r1, 1e-12);
  EXPECT_NEAR(L[3], r1 * r1, 1e-12);
}

TEST(VisionZipRule, DominantByAttentionThenContextualTargetsAbsorbTheRest) {
  const std::vector<float> attention = {0.1f, 0.5f, 0.05f, 0.3f, 0.01f, 0.02f, 0.4f, 0.03f};
  // Similarity: token 2 and 7 look like target 4, token 5 like target 0.
  std::vector<float> sim(64, 0);
  for (int i = 0; i < 8; ++i) sim[i * 8 + i] = 1;
  auto set = [&](int a, int b, float v) { sim[a * 8 + b] = sim[b * 8 + a] = v; };
  set(2, 4, 0.9f), set(2, 0, 0.2f), set(7, 4, 0.6f), set(7, 0, 0.5f), set(5, 0, 0.8f),
      set(5, 4, 0.1f);
  const VisionZipPlan plan = visionZipPlan(attention, sim, 3, 2);
  EXPECT_EQ(plan.dominant, (Indices{1, 3, 6}));
  // The rest is {0, 2, 4, 5, 7}; step 5 / 2 = 2: targets rest[0] = 0 and rest[2] = 4.
  EXPECT_EQ(plan.targets, (Indices{0, 4}));
  ASSERT_EQ(plan.members.size(), 2u);
  EXPECT_EQ(plan.members[0], (Indices{5}));
  EXPECT_EQ(plan.members[1], (Indices{2, 7}));
}

TEST(DartRule, PivotsKeepWhatIsLeastLikeThem) {
  // Visual pivot 0 (largest key norm) and text pivot 0; 4 kept: the pivot plus 3 picks, 2 for the
  // first pivot (its least similar: 2 and 5), 1 for the second (its least similar left: 4).
  const std::vector<float> vnorm = {5, 1, 1, 1, 1, 1}, tnorm = {3, 1};
  std::vector<float> sim_v(36, 0), sim_t(12, 0);
  const std::vector<float> row0 = {1, 0.9f, -0.5f, 0.1f, 0.8f, -0.2f};
  std::copy(row0.begin(), row0.end(), sim_v.begin());
  const std::vector<float> trow0 = {0, 0.5f, 0, 0.7f, -0.3f, 0};
  std::copy(trow0.begin(), trow0.end(), sim_t.begin());
  EXPECT_EQ(dartKeep(vnorm, tnorm, sim_v, sim_t, 1, 1, 4), (Indices{0, 2, 4, 5}));
  EXPECT_EQ(dartKeep(vnorm, tnorm, sim_v, sim_t, 1, 1, 1), (Indices{0}));
  EXPECT_EQ(dartKeep(vnorm, tnorm, sim_v, sim_t, 1, 0, 3), (Indices{0, 2, 5}));
  EXPECT_EQ(dartKeep(vnorm, tnorm, sim_v, sim_t, 1, 1, 6).size(), 6u);
}

TEST(PyramidDropRule, LambdaMatchesTheMeanKeptFraction) {
  EXPECT_DOUBLE_EQ(pyramidMeanFraction(0.5, 4), (1 + 0.5 + 0.25 + 0.125) / 4);
  for (double f : {0.3, 0.5, 0.9})
    EXPECT_NEAR(pyramidMeanFraction(pyramidLambdaFor(f, 4), 4), f, 1e-9);
  EXPECT_EQ(pyramidLambdaFor(0.2, 4), 0.0);  // below 1/S: drop everything at the first stage
  EXPECT_EQ(pyramidLambdaFor(1.0, 4), 1.0);
}

// ---- the stage labels ----

TEST(StageLabels, EveryPolicyHasItsStage) {
  const std::map<std::string, std::string> want = {
      {"full", "-"},     {"hae", "P+K"},      {"random", "K"},    {"streaming", "K"},
      {"h2o", "K"},      {"tova", "K"},       {"snapkv", "K"},    {"pyramidkv", "K"},
      {"adakv", "K"},    {"fastv", "P"},      {"mustdrop", "P"},  {"uniform", "V"},
      {"divprune", "V"}, {"fastervlm", "V"},  {"visionzip", "V"}, {"cdpruner", "V"},
      {"dart", "P"},     {"pyramiddrop", "P"}, {"sparsevlm", "P"}};
  for (const PolicyInfo& p : policyCatalog()) {
    ASSERT_TRUE(want.count(p.name)) << p.name << " has no expected stage in this test";
    EXPECT_EQ(p.stage, want.at(p.name)) << p.name;
    EXPECT_FALSE(p.stage_detail.empty()) << p.name;
  }
  // The public, torch-free view the studio reads carries the same labels.
  for (const PolicyDescription& d : availablePolicies()) EXPECT_EQ(d.stage, want.at(d.name));
  EXPECT_NE(policyStageMeaning("V").find("vision side"), std::string::npos);
  EXPECT_EQ(policyStageMeaning("X"), "");
}

// ---- the V hook on the fixture models ----

struct Fixture {
  std::shared_ptr<VlmModel> model;
  PromptPlan plan;
};

Fixture loadFixture(const std::string& name) {
  Fixture f;
  f.model = loadModel(dataPath("models/" + name), {});
  const Reference ref(dataPath("models/" + name + "/expected.safetensors"));
  f.plan = f.model->planFromIds(ref.ids(), ref["pixel_values"]);
  return f;
}

std::vector<at::Tensor> greedyLogits(Engine& e, const PromptPlan& plan, int steps,
                                     std::size_t* prefill_events = nullptr) {
  std::vector<at::Tensor> out = {e.prefill(plan)};
  if (prefill_events) *prefill_events = e.lastTelemetry().events.size();
  for (int s = 0; s < steps; ++s) out.push_back(e.decode(out.back().argmax().item<std::int64_t>()));
  return out;
}

const std::vector<std::string> kVisionPolicies = {"uniform", "divprune", "fastervlm", "visionzip",
                                                  "cdpruner"};

TEST(VisionHook, NothingDroppedReproducesTheFullRunBitForBit) {
  const Fixture f = loadFixture("llava-medium");
  Engine full(f.model, makePolicy("full", {}));
  const auto ref = greedyLogits(full, f.plan, 6);
  for (const auto& name : kVisionPolicies) {
    for (const std::string pos : {"original", "renumber"}) {
      Engine e(f.model, makePolicy(name, {{"ratio", "0"}, {"pos.mode", pos}}));
      std::size_t events = 1;
      const auto got = greedyLogits(e, f.plan, 6, &events);
      for (std::size_t i = 0; i < ref.size(); ++i)
        // The same kernels on the same shapes: any difference is a change of the computation.
        EXPECT_TRUE(torch::equal(got[i], ref[i])) << name << " " << pos << " step " << i;
      EXPECT_EQ(events, 0u) << name;
    }
  }
}

std::set<int> cachedTokens(const LayerCache& lc) {
  std::set<int> out;
  for (const auto& s : lc.slots()) out.insert(s.token);
  return out;
}

TEST(VisionHook, ADroppedImageTokenIsInNoCacheAndNoLayerComputesIt) {
  const Fixture f = loadFixture("llava-medium");
  const int n = static_cast<int>(f.plan.tokens.size());
  std::vector<int> visual;
  for (int i = 0; i < n; ++i)
    if (f.plan.tokens[i].modality == Modality::Visual) visual.push_back(i);
  const int m = static_cast<int>(visual.size());
  for (const auto& name : kVisionPolicies) {
    for (const std::string pos : {"original", "renumber"}) {
      SCOPED_TRACE(name + " " + pos);
      Engine e(f.model, makePolicy(name, {{"ratio", "0.75"}, {"pos.mode", pos}}));
      ForwardCapture cap;
      cap.enabled = true;
      e.prefill(f.plan, &cap);
      const int kept_visual = m - static_cast<int>(std::llround(0.75 * m));
      const int rows = n - m + kept_visual;
      // The decoder's input and every layer's output hold the kept rows only.
      ASSERT_EQ(cap.inputs_embeds.size(1), rows);
      for (const auto& hs : cap.hidden_states) EXPECT_EQ(hs.size(1), rows);
      std::set<int> evicted;
      for (const auto& ev : e.lastTelemetry().events) {
        EXPECT_EQ(ev.kind, EventKind::Evict);
        EXPECT_EQ(ev.layer, -1);
        EXPECT_EQ(ev.modality, Modality::Visual);
        evicted.insert(ev.position);
      }
      EXPECT_EQ(static_cast<int>(evicted.size()), m - kept_visual);
      for (int l = 0; l < e.cache().numLayers(); ++l) {
        const LayerCache& lc = e.cache().layer(l);
        ASSERT_EQ(lc.size(), rows);
        const auto held = cachedTokens(lc);
        for (int v : visual) {
          const bool dropped = evicted.count(f.plan.tokens[v].position) > 0;
          EXPECT_EQ(held.count(v) == 0, dropped) << "layer " << l << " token " << v;
        }
        for (int i = 0; i < n; ++i)  // every non-visual token stays
          if (f.plan.tokens[i].modality != Modality::Visual) EXPECT_EQ(held.count(i), 1u);
        for (int i = 0; i < lc.size(); ++i) {
          const int want = pos == "renumber" ? i : f.plan.tokens[lc.slots()[i].token].position;
          EXPECT_EQ(lc.slots()[i].position, want);
        }
      }
      // The overlay's states: dropped patches evicted in every layer.
      const auto& states = e.lastTelemetry().patch_states;
      int evicted_states = 0;
      for (auto s : states[0]) evicted_states += s == PatchState::Evicted;
      EXPECT_EQ(evicted_states, m - kept_visual);
      // Decoding goes on: renumbered, the next position is the kept count.
      const auto logits = e.decode(0);
      EXPECT_EQ(logits.size(0), f.model->spec().vocab_size);
      EXPECT_EQ(e.cache().layer(0).slots().back().position, pos == "renumber" ? rows : n);
    }
  }
}

// The full run's decoder input: image rows as the projector gave them.
at::Tensor fullInputs(const Fixture& f) {
  Engine full(f.model, makePolicy("full", {}));
  ForwardCapture cap;
  cap.enabled = true;
  full.prefill(f.plan, &cap);
  return cap.inputs_embeds[0].to(torch::kFloat32);
}

std::vector<int> visualRows(const PromptPlan& plan) {
  std::vector<int> out;
  for (std::size_t i = 0; i < plan.tokens.size(); ++i)
    if (plan.tokens[i].modality == Modality::Visual) out.push_back(static_cast<int>(i));
  return out;
}

std::vector<float> cosine(const at::Tensor& e) {
  auto normed = e / e.norm(2, {1}, true);
  auto c = torch::matmul(normed, normed.t()).contiguous();
  return {c.data_ptr<float>(), c.data_ptr<float>() + c.numel()};
}

// Which visual tokens (indices into visualRows) the engine kept in layer 0.
Indices keptVisual(const Engine& e, const std::vector<int>& visual) {
  const auto held = cachedTokens(e.cache().layer(0));
  Indices out;
  for (std::size_t v = 0; v < visual.size(); ++v)
    if (held.count(visual[v])) out.push_back(static_cast<std::int64_t>(v));
  return out;
}

// FasterVLM's tap computed here from the tower's hidden states with plain tensor ops: the CLS
// query of the feature layer (LLaVA's -2) against every key, heads averaged.
std::vector<float> clsAttentionByHand(LlavaModel& model, const at::Tensor& pixels) {
  torch::NoGradGuard no_grad;
  auto& tower = *model.net()->vision_tower->vision_model;
  const int layers = model.config().vision.num_hidden_layers;
  const int feature = layers - 1;  // -2: the output of encoder layer layers-2 (0-based)
  auto states = tower.hiddenStates(pixels, layers);
  auto& layer = tower.encoder->layers->at<ClipEncoderLayerImpl>(feature - 1);
  auto x = layer.layer_norm1(states[feature - 1]);
  const std::int64_t heads = layer.self_attn->heads, d = x.size(2), hd = d / heads;
  auto q = layer.self_attn->q_proj(x).view({x.size(0), x.size(1), heads, hd}).transpose(1, 2);
  auto k = layer.self_attn->k_proj(x).view({x.size(0), x.size(1), heads, hd}).transpose(1, 2);
  auto scores = torch::matmul(q.narrow(2, 0, 1), k.transpose(-1, -2)) / std::sqrt(double(hd));
  auto cls = torch::softmax(scores, -1).mean(1).squeeze(1).narrow(1, 1, x.size(1) - 1);
  auto flat = cls.reshape({-1}).contiguous();
  return {flat.data_ptr<float>(), flat.data_ptr<float>() + flat.numel()};
}

TEST(VisionPruners, EachKeepsExactlyWhatItsRuleNames) {
  const Fixture f = loadFixture("llava-medium");
  const auto inputs = fullInputs(f);
  const auto visual = visualRows(f.plan);
  const auto m = static_cast<std::int64_t>(visual.size());
  const std::int64_t keep = 40;
  auto index = torch::tensor(std::vector<std::int64_t>(visual.begin(), visual.end()));
  const auto image = inputs.index_select(0, index);
  auto run = [&](const std::string& name, std::map<std::string, std::string> knobs = {}) {
    knobs["keep"] = std::to_string(keep);
    auto e = std::make_unique<Engine>(f.model, makePolicy(name, knobs));
    e->prefill(f.plan);
    return e;
  };
  // uniform: the grid lattice of the image's rows and cols.
  {
    std::vector<std::pair<int, int>> cells;
    int rows = 0, cols = 0;
    for (int v : visual) {
      cells.push_back({f.plan.tokens[v].row, f.plan.tokens[v].col});
      rows = std::max(rows, f.plan.tokens[v].row + 1);
      cols = std::max(cols, f.plan.tokens[v].col + 1);
    }
    EXPECT_EQ(keptVisual(*run("uniform"), visual), uniformGridKeep(cells, rows, cols, keep));
  }
  // divprune: max-min diversity over 1 - cosine of the projected embeddings.
  {
    auto d = cosine(image);
    for (float& x : d) x = 1 - x;
    EXPECT_EQ(keptVisual(*run("divprune"), visual), divPruneKeep(d, m, keep));
  }
  // fastervlm: the top CLS attention, computed here by hand.
  auto& llava = dynamic_cast<LlavaModel&>(*f.model);
  const auto cls = clsAttentionByHand(llava, f.plan.pixel_values);
  ASSERT_EQ(static_cast<std::int64_t>(cls.size()), m);
  {
    std::vector<std::int64_t> order(m);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return cls[a] > cls[b]; });
    Indices want(order.begin(), order.begin() + keep);
    std::sort(want.begin(), want.end());
    EXPECT_EQ(keptVisual(*run("fastervlm"), visual), want);
  }
  // cdpruner: the DPP over the conditional kernel, relevance from the text after the image.
  {
    std::vector<std::int64_t> text;
    for (std::size_t i = visual.back() + 1; i < f.plan.tokens.size(); ++i)
      if (f.plan.tokens[i].modality == Modality::Text) text.push_back(static_cast<std::int64_t>(i));
    ASSERT_FALSE(text.empty());
    auto t = inputs.index_select(0, torch::tensor(text));
    t = t / t.norm(2, {1}, true);
    auto rel_t = (-torch::matmul(image / image.norm(2, {1}, true), t.t())).mean(1).contiguous();
    std::vector<double> rel(rel_t.data_ptr<float>(), rel_t.data_ptr<float>() + m);
    EXPECT_EQ(keptVisual(*run("cdpruner"), visual),
              dppGreedyKeep(conditionalKernel(cosine(image), rel), m, keep));
  }
  // visionzip: dominant + contextual targets, merged tokens = target + mean(members).
  {
    const std::int64_t contextual = std::llround(0.25 * keep);
    ForwardCapture cap;
    cap.enabled = true;
    Engine e(f.model,
             makePolicy("visionzip", {{"keep", std::to_string(keep)}, {"contextual", "0.25"}}));
    e.prefill(f.plan, &cap);
    const VisionZipPlan plan = visionZipPlan(cls, cosine(image), keep - contextual, contextual);
    Indices want = plan.dominant;
    want.insert(want.end(), plan.targets.begin(), plan.targets.end());
    std::sort(want.begin(), want.end());
    EXPECT_EQ(keptVisual(e, visual), want);
    const auto& merged = e.lastTelemetry().merged;
    ASSERT_EQ(merged.size(), plan.targets.size());
    // The decoder's input row of each merged token, found by its position among the kept rows.
    const auto& slots = e.cache().layer(0).slots();
    for (std::size_t t = 0; t < plan.targets.size(); ++t) {
      const int target = visual[plan.targets[t]];
      EXPECT_EQ(merged[t].position, f.plan.tokens[target].position);
      std::vector<int> members = {f.plan.tokens[target].position};
      auto sum = torch::zeros_like(image[0]);
      for (auto mbr : plan.members[t]) {
        members.push_back(f.plan.tokens[visual[mbr]].position);
        sum += image[mbr];
      }
      EXPECT_EQ(merged[t].members, members);
      auto want_row = image[plan.targets[t]].clone();
      if (!plan.members[t].empty()) want_row += sum / static_cast<double>(plan.members[t].size());
      std::int64_t row = -1;
      for (std::size_t i = 0; i < slots.size(); ++i)
        if (slots[i].token == target) row = static_cast<std::int64_t>(i);
      ASSERT_GE(row, 0);
      expectCloseRelative(cap.inputs_embeds[0][row].to(torch::kFloat32), want_row, 1e-5,
                          "merged token " + std::to_string(t));
      // Its members are in no layer's cache.
      for (auto mbr : plan.members[t])
        for (int l = 0; l < e.cache().numLayers(); ++l)
          EXPECT_EQ(cachedTokens(e.cache().layer(l)).count(visual[mbr]), 0u);
    }
  }
}

// DART on the engine: layers < K hold everything; from K on, exactly the set dartKeep names from
// a full run's layer K-1 keys (L1 norm) and final-normed output rows.
TEST(PrefillPruners, DartKeepsThePivotsAndWhatIsLeastLikeThem) {
  const Fixture f = loadFixture("llava-medium");
  const int n = static_cast<int>(f.plan.tokens.size());
  const auto visual = visualRows(f.plan);
  const auto m = static_cast<std::int64_t>(visual.size());
  Engine full(f.model, makePolicy("full", {}));
  ForwardCapture cap;
  cap.enabled = true;
  full.prefill(f.plan, &cap);
  const auto keys = full.cache().layer(1).keys().to(torch::kFloat32);
  auto norm_t = keys.abs().sum(at::IntArrayRef{0, 2}).contiguous();
  std::vector<float> norms(norm_t.data_ptr<float>(), norm_t.data_ptr<float>() + n);
  auto hidden = f.model->finalNorm(cap.hidden_states[1][0]).to(torch::kFloat32);
  std::vector<std::int64_t> vis(visual.begin(), visual.end()), text;
  for (int i = visual.back() + 1; i < n; ++i) text.push_back(i);
  auto cos = [](const at::Tensor& a, const at::Tensor& b) {
    auto c = torch::matmul(a / a.norm(2, {1}, true), (b / b.norm(2, {1}, true)).t()).contiguous();
    return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  };
  const auto vh = hidden.index_select(0, torch::tensor(vis));
  const auto th = hidden.index_select(0, torch::tensor(text));
  std::vector<float> vnorm, tnorm;
  for (auto v : vis) vnorm.push_back(norms[v]);
  for (auto t : text) tnorm.push_back(norms[t]);
  const std::int64_t keep = m / 4;
  const Indices want = dartKeep(vnorm, tnorm, cos(vh, vh), cos(th, vh), 4, 4, keep);
  Engine e(f.model, makePolicy("dart", {{"k", "2"}, {"keep", std::to_string(keep)}}));
  e.prefill(f.plan);
  for (int l = 0; l < 2; ++l) EXPECT_EQ(e.cache().layer(l).size(), n);
  for (int l = 2; l < e.cache().numLayers(); ++l) {
    ASSERT_EQ(e.cache().layer(l).size(), n - m + keep);
    const auto held = cachedTokens(e.cache().layer(l));
    Indices got;
    for (std::int64_t v = 0; v < m; ++v)
      if (held.count(visual[v])) got.push_back(v);
    EXPECT_EQ(got, want) << "layer " << l;
  }
}

TEST(PrefillPruners, PyramidDropShrinksTheVisualTokensStageByStage) {
  const Fixture f = loadFixture("llava-medium");  // 4 layers
  const int n = static_cast<int>(f.plan.tokens.size());
  const auto m = static_cast<int>(visualRows(f.plan).size());
  Engine e(f.model, makePolicy("pyramiddrop", {{"stages", "4"}, {"lambda", "0.5"}}));
  e.prefill(f.plan);
  // Drops after layers 0, 1 and 2: layer l holds round-halved visual tokens l times.
  int visual_left = m;
  for (int l = 0; l < 4; ++l) {
    EXPECT_EQ(e.cache().layer(l).size(), n - m + visual_left) << "layer " << l;
    visual_left = static_cast<int>(std::llround(0.5 * visual_left));
  }
  // A second prompt on the same policy object drops the same way.
  e.prefill(f.plan);
  EXPECT_EQ(
      e.cache().layer(3).size(),
      n - m + static_cast<int>(std::llround(0.5 * std::llround(0.5 * std::llround(0.5 * m)))));
  e.decode(0);
}

// One decoder layer of `f`'s model run by hand on rows `h` (at the tokens `tokens`, original
// positions) with a fresh cache, as the engine runs it in prefill (rotary tables for kv_length).
at::Tensor layerByHand(const Fixture& f, int layer, const at::Tensor& h,
                       const std::vector<std::int64_t>& tokens, int kv_length,
                       AttentionTap* tap = nullptr) {
  torch::NoGradGuard no_grad;
  std::vector<SlotMeta> metas;
  std::vector<std::int64_t> positions;
  for (auto t : tokens) {
    const TokenInfo& info = f.plan.tokens[t];
    metas.push_back({info.position, info.modality, static_cast<int>(t)});
    positions.push_back(info.position);
  }
  const auto pos = torch::tensor(positions, torch::kInt64);
  auto [cos, sin] = f.model->rotary(pos, kv_length);
  KvCache cache;
  cache.reset(f.model->spec().num_layers);
  return f.model->layerForward(layer, h, pos, cos, sin, cache.layer(layer), metas, tap);
}

// SparseVLM's raters by hand from the decoder's input rows: each visual row's softmax over the
// rows after the image, averaged over the visual rows; the rows above the mean (token indices).
std::vector<std::int64_t> ratersByHand(const Fixture& f, const at::Tensor& inputs) {
  const auto visual = visualRows(f.plan);
  std::vector<std::int64_t> vis(visual.begin(), visual.end()), text;
  for (std::size_t i = visual.back() + 1; i < f.plan.tokens.size(); ++i)
    text.push_back(static_cast<std::int64_t>(i));
  auto v = inputs.index_select(0, torch::tensor(vis)).to(torch::kFloat32);
  auto t = inputs.index_select(0, torch::tensor(text)).to(torch::kFloat32);
  auto share = torch::softmax(torch::matmul(v, t.t()), 1).mean(0).contiguous();
  std::vector<std::int64_t> out;
  for (std::size_t i = 0; i < text.size(); ++i)
    if (share[static_cast<std::int64_t>(i)].item<float>() > 1.0f / static_cast<float>(text.size()))
      out.push_back(text[i]);
  return out;
}

// The visual tokens (indices into visualRows) a layer's cache holds.
Indices heldVisual(const LayerCache& lc, const std::vector<int>& visual) {
  const auto held = cachedTokens(lc);
  Indices out;
  for (std::size_t v = 0; v < visual.size(); ++v)
    if (held.count(visual[v])) out.push_back(static_cast<std::int64_t>(v));
  return out;
}

// SparseVLM on the engine (llava-medium: 4 layers, so the reference's 2, 6, 15 of 32 become drops
// after layers 0, 1 and 2): the raters' attention at layer 0 keeps the top of the visual tokens,
// every drop meets its stage's count and the last the budget, separators and text stay, and a
// dropped token is in no later layer's cache.
TEST(PrefillPruners, SparseVlmRatersRankAndEveryDropMeetsItsBudget) {
  const Fixture f = loadFixture("llava-medium");
  ASSERT_EQ(f.model->spec().num_layers, 4);
  const int n = static_cast<int>(f.plan.tokens.size());
  const auto visual = visualRows(f.plan);
  const auto m = static_cast<std::int64_t>(visual.size());
  Engine full(f.model, makePolicy("full", {}));
  ForwardCapture cap;
  cap.enabled = true;
  full.prefill(f.plan, &cap);
  const auto inputs = cap.inputs_embeds[0];
  const auto raters = ratersByHand(f, inputs);
  ASSERT_FALSE(raters.empty());
  ASSERT_LT(raters.size(), static_cast<std::size_t>(n - visual.back() - 1));
  // The raters' head-mean attention at layer 0 (its tap over the rater rows, run by hand).
  std::vector<std::int64_t> all(n);
  std::iota(all.begin(), all.end(), 0);
  AttentionTap tap;
  tap.query_rows = raters;  // token i is row i of the whole prompt
  tap.col_sum_only = true;
  layerByHand(f, 0, inputs, all, n, &tap);
  auto col = tap.col_sum.to(torch::kFloat32).contiguous();
  std::vector<float> vs;
  for (int v : visual) vs.push_back(col[v].item<float>());

  const std::int64_t keep = m / 4;
  const auto schedule = sparseVlmSchedule(m, keep, 3);
  ASSERT_EQ(schedule.back(), keep);
  ASSERT_LT(schedule[0], m);
  Engine e(f.model, makePolicy("sparsevlm", {{"keep", std::to_string(keep)},
                                             {"recycle.share", "0"}}));
  e.prefill(f.plan);
  EXPECT_EQ(e.cache().layer(0).size(), n);
  EXPECT_EQ(heldVisual(e.cache().layer(1), visual), fastvKeep(vs, schedule[0]));
  for (int l = 1; l < 4; ++l) {
    const LayerCache& lc = e.cache().layer(l);
    EXPECT_EQ(lc.size(), n - m + schedule[l - 1]) << "layer " << l;
    const auto held = cachedTokens(lc);
    for (int i = 0; i < n; ++i)
      if (f.plan.tokens[i].modality != Modality::Visual) EXPECT_EQ(held.count(i), 1u) << i;
    // A token dropped before this layer is in none after it.
    for (auto v : Indices(heldVisual(lc, visual)))
      EXPECT_EQ(cachedTokens(e.cache().layer(l - 1)).count(visual[v]), 1u);
  }
  std::map<int, int> evicted_at, token_at;
  for (int i = 0; i < n; ++i) token_at[f.plan.tokens[i].position] = i;
  for (const auto& ev : e.lastTelemetry().events) {
    EXPECT_EQ(ev.kind, EventKind::Evict);
    EXPECT_EQ(ev.modality, Modality::Visual);
    ++evicted_at[ev.layer];
    // In the layer before the drop, in none from it on.
    ASSERT_GE(ev.layer, 1);
    EXPECT_EQ(cachedTokens(e.cache().layer(ev.layer - 1)).count(token_at.at(ev.position)), 1u);
    for (int l = ev.layer; l < 4; ++l)
      EXPECT_EQ(cachedTokens(e.cache().layer(l)).count(token_at.at(ev.position)), 0u);
  }
  EXPECT_EQ(evicted_at[1], m - schedule[0]);
  EXPECT_EQ(evicted_at[2], schedule[0] - schedule[1]);
  EXPECT_EQ(evicted_at[3], schedule[1] - schedule[2]);
  EXPECT_TRUE(e.lastTelemetry().merged.empty());
  e.decode(0);
}

// The recycling: at the first drop the best-rated share of the pruned tokens is clustered over
// layer 0's output rows, each cluster goes on as its mean at its centre's row, and layer 1
// computes from exactly those rows (checked by running layer 1 by hand).
TEST(PrefillPruners, SparseVlmRecyclesClustersOfThePrunedAsTheirMean) {
  const Fixture f = loadFixture("llava-medium");
  const int n = static_cast<int>(f.plan.tokens.size());
  const auto visual = visualRows(f.plan);
  const auto m = static_cast<std::int64_t>(visual.size());
  const std::int64_t keep = m / 4;
  const auto schedule = sparseVlmSchedule(m, keep, 3);
  Engine e(f.model, makePolicy("sparsevlm", {{"keep", std::to_string(keep)}}));
  ForwardCapture cap;
  cap.enabled = true;
  e.prefill(f.plan, &cap);
  const auto inputs = cap.inputs_embeds[0];
  ASSERT_EQ(inputs.size(0), n);  // the V hook drops nothing
  // The first drop by hand.
  std::vector<std::int64_t> all(n);
  std::iota(all.begin(), all.end(), 0);
  AttentionTap tap;
  tap.query_rows = ratersByHand(f, inputs);
  tap.col_sum_only = true;
  layerByHand(f, 0, inputs, all, n, &tap);
  auto col = tap.col_sum.to(torch::kFloat32).contiguous();
  std::vector<float> vs;
  for (int v : visual) vs.push_back(col[v].item<float>());
  const SparseVlmDrop drop = sparseVlmDrop(vs, schedule[0], 0.3, 10);
  ASSERT_GT(drop.clusters, 0);
  const auto out0 = cap.hidden_states[0][0];  // layer 0's own output
  std::vector<std::int64_t> cand_rows;
  for (auto c : drop.candidates) cand_rows.push_back(visual[c]);
  const auto x = out0.index_select(0, torch::tensor(cand_rows)).to(torch::kFloat32);
  const auto dist = (torch::cdist(x, x) / std::sqrt(double(x.size(1)))).reshape({-1}).contiguous();
  const RecycleClusters clusters = recycleClusters(
      {dist.data_ptr<float>(), dist.data_ptr<float>() + dist.numel()},
      static_cast<std::int64_t>(cand_rows.size()), drop.clusters);
  // Layer 1's rows: the non-visual ones, the kept and the centres, in prompt order.
  std::set<std::int64_t> rows1;
  for (int i = 0; i < n; ++i)
    if (f.plan.tokens[i].modality != Modality::Visual) rows1.insert(i);
  for (auto k : drop.kept) rows1.insert(visual[k]);
  auto h1 = out0.clone();
  for (std::size_t c = 0; c < clusters.centers.size(); ++c) {
    const auto center = cand_rows[clusters.centers[c]];
    rows1.insert(center);
    std::vector<std::int64_t> mrows;
    for (auto mbr : clusters.members[c]) mrows.push_back(cand_rows[mbr]);
    h1[center].copy_(out0.index_select(0, torch::tensor(mrows)).mean(0));
  }
  const std::vector<std::int64_t> order(rows1.begin(), rows1.end());
  EXPECT_EQ(static_cast<std::int64_t>(order.size()), n - m + schedule[0]);
  EXPECT_EQ(cachedTokens(e.cache().layer(1)), std::set<int>(order.begin(), order.end()));
  const auto want1 = layerByHand(f, 1, h1.index_select(0, torch::tensor(order)), order, n);
  expectCloseRelative(cap.hidden_states[1][0].to(torch::kFloat32), want1.to(torch::kFloat32),
                      1e-5, "layer 1 after the recycling");
  // The last layer holds the budget; every recycled token left stands for patches none of which
  // (but its own) is cached after the first drop.
  const LayerCache& last = e.cache().layer(3);
  EXPECT_EQ(static_cast<std::int64_t>(heldVisual(last, visual).size()), keep);
  const auto& merged = e.lastTelemetry().merged;
  ASSERT_FALSE(merged.empty());
  std::map<int, int> token_at;
  for (int i = 0; i < n; ++i) token_at[f.plan.tokens[i].position] = i;
  const auto held_last = cachedTokens(last);
  std::size_t members = 0;
  for (const MergedToken& t : merged) members += t.members.size();
  EXPECT_GT(members, merged.size());  // some recycled token stands for more than its own patch
  for (const MergedToken& t : merged) {
    EXPECT_EQ(held_last.count(token_at.at(t.position)), 1u) << t.position;
    EXPECT_TRUE(std::is_sorted(t.members.begin(), t.members.end()));
    EXPECT_NE(std::find(t.members.begin(), t.members.end(), t.position), t.members.end());
    for (int p : t.members) {
      EXPECT_EQ(f.plan.tokens[token_at.at(p)].modality, Modality::Visual);
      if (p != t.position) EXPECT_EQ(held_last.count(token_at.at(p)), 0u) << p;
    }
  }
  e.decode(0);
}

TEST(PrefillPruners, SparseVlmOnQwen2VlKeepsEachImagesBudgetAndItsPositions) {
  const std::string dir = dataPath("qwen2vl/tiny-qwen2vl");
  Fixture f;
  f.model = loadModel(dir, {});
  const Reference ref(dir + "/expected_two_images.safetensors");
  f.plan = f.model->planFromInputs(ref.ids(), ref["pixel_values"], ref["image_grid_thw"]);
  Engine e(f.model, makePolicy("sparsevlm", {{"ratio", "0.5"}}));
  e.prefill(f.plan);
  std::map<int, std::int64_t> per_image, kept;
  for (int v : visualRows(f.plan)) ++per_image[f.plan.tokens[v].image];
  ASSERT_EQ(per_image.size(), 2u);
  const LayerCache& last = e.cache().layer(e.cache().numLayers() - 1);
  const auto held = cachedTokens(last);
  for (std::size_t i = 0; i < f.plan.tokens.size(); ++i) {
    if (f.plan.tokens[i].modality != Modality::Visual)
      EXPECT_EQ(held.count(static_cast<int>(i)), 1u) << i;
    else if (held.count(static_cast<int>(i)))
      ++kept[f.plan.tokens[i].image];
  }
  for (const auto& [image, count] : per_image)
    EXPECT_EQ(kept[image], visualBudgets({count}, 0.5, 0)[0]) << "image " << image;
  for (const auto& s : last.slots()) EXPECT_EQ(s.mrope, f.plan.mrope_positions[s.token]);
  EXPECT_EQ(e.decode(0).size(0), f.model->spec().vocab_size);
}

template <typename F>
void expectError(F&& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    for (const auto& p : parts)
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what() << " lacks " << p;
  }
}

class Families : public ::testing::TestWithParam<std::string> {};

TEST_P(Families, RunWithSeparatorsKeptOrAreRefusedByName) {
  const Fixture f = loadFixture(GetParam());
  const int n = static_cast<int>(f.plan.tokens.size());
  const auto visual = visualRows(f.plan);
  ASSERT_FALSE(visual.empty());
  for (const auto& name : kVisionPolicies) {
    SCOPED_TRACE(name);
    Engine e(f.model, makePolicy(name, {{"ratio", "0.5"}}));
    if (name == "fastervlm" && f.model->spec().family == "idefics3") {  // SigLIP: no CLS token
      expectError([&] { e.prefill(f.plan); }, {"fastervlm", "no CLS token"});
      continue;
    }
    e.prefill(f.plan);
    // Each image keeps round(m_i / 2) of its visual tokens; separators and text all stay.
    std::map<int, int> per_image, kept_per_image;
    for (int v : visual) ++per_image[f.plan.tokens[v].image];
    for (int l = 0; l < e.cache().numLayers(); ++l) {
      const auto held = cachedTokens(e.cache().layer(l));
      kept_per_image.clear();
      for (int i = 0; i < n; ++i) {
        if (f.plan.tokens[i].modality != Modality::Visual)
          EXPECT_EQ(held.count(i), 1u) << "token " << i << " layer " << l;
        else if (held.count(i))
          ++kept_per_image[f.plan.tokens[i].image];
      }
      for (const auto& [image, count] : per_image)
        EXPECT_EQ(kept_per_image[image], count - static_cast<int>(std::llround(0.5 * count)));
    }
    e.decode(0);  // decoding continues on the pruned cache
  }
  // SparseVLM: each image keeps its budget after the last drop (recycled tokens included), and
  // separators and text stay in every layer.
  {
    SCOPED_TRACE("sparsevlm");
    Engine e(f.model, makePolicy("sparsevlm", {{"ratio", "0.5"}}));
    e.prefill(f.plan);
    std::map<int, std::int64_t> per_image, kept;
    for (int v : visual) ++per_image[f.plan.tokens[v].image];
    for (int l = 0; l < e.cache().numLayers(); ++l) {
      const auto held = cachedTokens(e.cache().layer(l));
      for (int i = 0; i < n; ++i)
        if (f.plan.tokens[i].modality != Modality::Visual)
          EXPECT_EQ(held.count(i), 1u) << "token " << i << " layer " << l;
    }
    const auto held = cachedTokens(e.cache().layer(e.cache().numLayers() - 1));
    for (int v : visual) kept[f.plan.tokens[v].image] += static_cast<int>(held.count(v));
    for (const auto& [image, count] : per_image)
      EXPECT_EQ(kept[image], visualBudgets({count}, 0.5, 0)[0]) << "image " << image;
    e.decode(0);
  }
  // The prefill-stage pruners: visual rows only, separators and text in every layer.
  for (const std::string name : {"dart", "pyramiddrop"}) {
    SCOPED_TRACE(name);
    Engine e(f.model,
             makePolicy(name, name == "dart"
                                  ? std::map<std::string, std::string>{{"k", "1"}, {"ratio", "0.5"}}
                                  : std::map<std::string, std::string>{{"stages", "2"},
                                                                       {"lambda", "0.5"}}));
    e.prefill(f.plan);
    const LayerCache& last = e.cache().layer(e.cache().numLayers() - 1);
    const auto held = cachedTokens(last);
    int kept_visual = 0;
    for (int i = 0; i < n; ++i) {
      if (f.plan.tokens[i].modality != Modality::Visual)
        EXPECT_EQ(held.count(i), 1u) << "token " << i;
      else
        kept_visual += static_cast<int>(held.count(i));
    }
    EXPECT_LT(kept_visual, static_cast<int>(visual.size()));
    EXPECT_GT(kept_visual, 0);
    e.decode(0);
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Families,
                         ::testing::Values("tiny-llava", "tiny-phi3v", "tiny-idefics3"));

// The tap's values are attention probabilities: a CLS row sums to 1 over CLS and patches, so a
// crop's tokens sum to less than 1; SigLIP's mean over query rows gives each tile a total of 1.
TEST(TowerAttention, IsADistributionOverEachGridsPatches) {
  for (const std::string name : {"tiny-llava", "tiny-phi3v", "tiny-idefics3"}) {
    SCOPED_TRACE(name);
    const Fixture f = loadFixture(name);
    bool has_cls = false;
    std::string missing;
    const auto att = f.model->towerAttention(f.plan, &has_cls, &missing);
    ASSERT_TRUE(att.defined()) << missing;
    EXPECT_EQ(has_cls, name != "tiny-idefics3");
    ASSERT_EQ(att.size(0), static_cast<std::int64_t>(f.plan.tokens.size()));
    std::map<std::pair<int, int>, double> per_grid;
    for (std::size_t i = 0; i < f.plan.tokens.size(); ++i) {
      const TokenInfo& t = f.plan.tokens[i];
      const float a = att[static_cast<std::int64_t>(i)].item<float>();
      if (t.modality != Modality::Visual) {
        EXPECT_EQ(a, 0.0f);
        continue;
      }
      EXPECT_GT(a, 0.0f);
      per_grid[{t.image, t.crop}] += a;
    }
    ASSERT_FALSE(per_grid.empty());
    for (const auto& [grid, total] : per_grid) {
      if (has_cls) {
        EXPECT_LT(total, 1.0);
      } else {
        EXPECT_NEAR(total, 1.0, 1e-4);
      }
    }
  }
}

TEST(VisionPruners, UniformSpreadsOverEveryCropGrid) {
  // Phi-3.5-V: a global view and sub-crops; every grid keeps its share.
  const Fixture f = loadFixture("tiny-phi3v");
  Engine e(f.model, makePolicy("uniform", {{"ratio", "0.75"}}));
  e.prefill(f.plan);
  const auto held = cachedTokens(e.cache().layer(0));
  std::map<std::pair<int, int>, std::pair<int, int>> grids;  // (image, crop) -> kept, total
  for (int v : visualRows(f.plan)) {
    auto& g = grids[{f.plan.tokens[v].image, f.plan.tokens[v].crop}];
    ++g.second;
    g.first += held.count(v) ? 1 : 0;
  }
  ASSERT_GT(grids.size(), 1u);
  for (const auto& [key, g] : grids) EXPECT_NEAR(g.first, 0.25 * g.second, 1.0);
}

}  // namespace
}  // namespace hae::test
