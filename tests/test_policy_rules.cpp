// The policies' selection rules, knob validation and HAE's recycle bin as pure functions over
// hand-built score vectors: each baseline must keep exactly the tokens its rule names.
#include <gtest/gtest.h>

#include <random>

#include "hae/error.h"
#include "policies/catalog.h"
#include "policies/recycle_bin.h"
#include "policies/selection.h"
#include "policies/visual_selection.h"

namespace hae {
namespace {

using I = Indices;

// ---- knobs -------------------------------------------------------------------------------

std::string errorOf(const std::string& policy, const std::map<std::string, std::string>& knobs) {
  try {
    validateKnobs(policy, knobs);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Knobs, DefaultsFillEveryKnobOfEveryPolicy) {
  for (const auto& p : policyCatalog()) {
    const KnobSet set = validateKnobs(p.name, {});
    EXPECT_EQ(set.asText().size(), p.knobs.size()) << p.name;
    for (const auto& k : p.knobs) EXPECT_FALSE(k.help.empty()) << p.name << "." << k.name;
  }
}

TEST(Knobs, TypedValuesAreParsedAndCanonical) {
  const KnobSet set = validateKnobs("hae", {{"ddes.bin", "16"},
                                            {"dap.r", "0.002"},
                                            {"ddes.bin_attended", "off"},
                                            {"broadcast.mode", "cache_only"}});
  EXPECT_EQ(set.getInt("ddes.bin"), 16);
  EXPECT_DOUBLE_EQ(set.getFloat("dap.r"), 0.002);
  EXPECT_FALSE(set.getBool("ddes.bin_attended"));
  EXPECT_EQ(set.asText().at("ddes.bin_attended"), "false");
  EXPECT_EQ(set.getChoice("broadcast.mode"), "cache_only");
}

TEST(Knobs, BadOptionsNameTheKnobAndItsRange) {
  auto has = [](const std::string& msg, const std::string& part) {
    return msg.find(part) != std::string::npos;
  };
  std::string m = errorOf("nonsense", {});
  EXPECT_TRUE(has(m, "unknown policy 'nonsense'") && has(m, "hae")) << m;
  m = errorOf("hae", {{"ddes.colour", "red"}});
  EXPECT_TRUE(has(m, "no knob 'ddes.colour'") && has(m, "ddes.bin")) << m;
  m = errorOf("full", {{"x", "1"}});
  EXPECT_TRUE(has(m, "'full' has no knobs")) << m;
  m = errorOf("tova", {{"budget", "0"}});
  EXPECT_TRUE(has(m, "'budget'") && has(m, "out of range") && has(m, "int in [1, 1000000000]"))
      << m;
  m = errorOf("tova", {{"budget", "-5"}});
  EXPECT_TRUE(has(m, "'budget'") && has(m, "[1, ")) << m;
  m = errorOf("hae", {{"ddes.budget", "0"}});
  EXPECT_TRUE(has(m, "'ddes.budget'") && has(m, "float in [0.001, 1000000000]")) << m;
  m = errorOf("snapkv", {{"keep_ratio", "1.5"}});
  EXPECT_TRUE(has(m, "'keep_ratio'") && has(m, "float in [0, 1]")) << m;
  m = errorOf("random", {{"keep_ratio", "2"}});
  EXPECT_TRUE(has(m, "'keep_ratio'") && has(m, "[0.001, 1]")) << m;
  m = errorOf("hae", {{"ddes.budget", "100"}, {"ddes.bin", "200"}});
  EXPECT_TRUE(has(m, "'ddes.bin'") && has(m, "larger than ddes.budget")) << m;
  m = errorOf("hae", {{"ddes.bin", "many"}});
  EXPECT_TRUE(has(m, "'ddes.bin'") && has(m, "not an integer")) << m;
  m = errorOf("hae", {{"dap.r", "abc"}});
  EXPECT_TRUE(has(m, "'dap.r'") && has(m, "not a number")) << m;
  m = errorOf("hae", {{"probes", "maybe"}});
  EXPECT_TRUE(has(m, "'probes'") && has(m, "bool")) << m;
  m = errorOf("hae", {{"broadcast.mode", "sideways"}});
  EXPECT_TRUE(has(m, "'broadcast.mode'") && has(m, "one of drop_hidden|cache_only")) << m;
  m = errorOf("h2o", {{"heavy_ratio", "0.7"}, {"recent_ratio", "0.6"}});
  EXPECT_TRUE(has(m, "'recent_ratio'") && has(m, "exceeds 1")) << m;
  m = errorOf("snapkv", {{"budget", "16"}, {"window", "32"}});
  EXPECT_TRUE(has(m, "'window'") && has(m, "smaller than budget")) << m;
  // The ratio budget cannot be checked against the bin until the prompt is known.
  EXPECT_EQ(errorOf("hae", {{"ddes.budget", "0.5"}, {"ddes.bin", "200"}}), "");
}

// ---- selection rules ---------------------------------------------------------------------

TEST(Selection, TopKKeepsProtectedThenHighestWithLowIndexOnTies) {
  const std::vector<float> s = {0.5f, 0.1f, 0.9f, 0.1f, 0.3f, 0.0f};
  EXPECT_EQ(topKWithProtected(s, 3, {}), (I{0, 2, 4}));
  EXPECT_EQ(topKWithProtected(s, 3, {false, false, false, false, false, true}), (I{0, 2, 5}));
  EXPECT_EQ(topKWithProtected(s, 5, {}), (I{0, 1, 2, 3, 4}));  // tie 1 vs 3: the lower index
  EXPECT_EQ(topKWithProtected(s, 1, {true, false, false, false, false, true}),
            (I{0, 5}));  // protected win
  EXPECT_EQ(topKWithProtected(s, 10, {}).size(), 6u);
}

TEST(Selection, StreamingKeepsSinksAndRecent) {
  EXPECT_EQ(streamingKeep(10, 2, 3), (I{0, 1, 7, 8, 9}));
  EXPECT_EQ(streamingKeep(4, 2, 3), (I{0, 1, 2, 3}));
  EXPECT_EQ(streamingKeep(6, 0, 2), (I{4, 5}));
}

TEST(Selection, H2oRuleIsTopHeavyPlusRecent) {
  // Accumulated attention over 8 slots; heavy 2 + recent 2.
  const std::vector<float> acc = {3.0f, 0.1f, 2.0f, 0.2f, 5.0f, 0.3f, 0.0f, 0.0f};
  std::vector<bool> protect(8, false);
  protect[6] = protect[7] = true;
  EXPECT_EQ(topKWithProtected(acc, 4, protect), (I{0, 4, 6, 7}));
}

TEST(Selection, DualAttentionFilterNeedsBothLowCumulativeAndLowPeak) {
  // Visual candidates 1..4; total A over them = 1.0.
  const std::vector<float> A = {9.0f, 0.001f, 0.5f, 0.0005f, 0.4985f};
  const std::vector<float> M = {1.0f, 0.0001f, 0.2f, 0.5f, 0.2f};
  // tau_g*total = 0.01: slots 1 and 3 are low globally; slot 3 has a high peak and stays.
  EXPECT_EQ(dualAttentionEvict(A, M, {1, 2, 3, 4}, 0.01, 0.01), (I{1}));
  EXPECT_EQ(dualAttentionEvict(A, M, {1, 2, 3, 4}, 0.0, 0.0), (I{}));  // thresholds 0: nothing
}

TEST(Selection, DapModesAndPerImageSpans) {
  const std::vector<float> A = {0.0f, 0.1f, 0.4f, 0.2f, 0.3f, 0.05f, 0.6f, 0.35f};
  const std::vector<float> M(8, 0.0f);
  DapParams keep;
  keep.mode = DapMode::Keep;
  keep.keep = 1;
  EXPECT_EQ(dapEvict(A, M, {{1, 2, 3, 4}, {5, 6, 7}}, keep), (I{1, 3, 4, 5, 7}));  // per span
  EXPECT_EQ(dapEvict(A, M, {{1, 2, 3, 4, 5, 6, 7}}, keep), (I{1, 2, 3, 4, 5, 7}));
  DapParams th;
  th.tau_g = 0.25;
  th.tau_i = 1.0;  // span 1 total 1.0 -> A < 0.25: 1, 3; span 2 total 1.0 -> A < 0.25: 5
  EXPECT_EQ(dapEvict(A, M, {{1, 2, 3, 4}, {5, 6, 7}}, th), (I{1, 3, 5}));
  DapParams cap = th;
  cap.mode = DapMode::Cap;
  cap.cap = 1;  // at most one per span, the lowest A
  EXPECT_EQ(dapEvict(A, M, {{1, 2, 3, 4}, {5, 6, 7}}, cap), (I{1, 5}));
}

TEST(Selection, PoolingMatchesTorchAvgAndMaxPool1d) {
  const std::vector<float> x = {1, 5, 2, 0, 3};
  // avg_pool1d(k=3, s=1, p=1, count_include_pad=True): (0+1+5)/3, (1+5+2)/3, ...
  const auto avg = pool1d(x, 3, false);
  EXPECT_FLOAT_EQ(avg[0], 2.0f);
  EXPECT_FLOAT_EQ(avg[1], 8.0f / 3);
  EXPECT_FLOAT_EQ(avg[4], 1.0f);
  EXPECT_EQ(pool1d(x, 3, true), (std::vector<float>{5, 5, 5, 3, 3}));
}

TEST(Selection, SnapKvKeepsPooledTopPrefixPlusWindow) {
  // 10 slots, window 2 (slots 8, 9), budget 5 -> top 3 of the pooled prefix 0..7.
  const std::vector<float> votes = {0, 0, 9, 0, 0, 0, 0, 4, 1, 1};
  // maxpool k=3: {0,9,9,9,0,0,4,4}: top 3 -> 1,2,3 (ties to the lower index)
  EXPECT_EQ(snapKvKeep(votes, 5, 2, 3, true), (I{1, 2, 3, 8, 9}));
  // k=1: raw votes: 2, 7 and then the lowest index among zeros (0)
  EXPECT_EQ(snapKvKeep(votes, 5, 2, 1, true), (I{0, 2, 7, 8, 9}));
  EXPECT_EQ(snapKvKeep(votes, 10, 2, 3, true).size(), 10u);  // n <= budget: nothing dropped
}

TEST(Selection, PyramidBudgetsDecreaseLinearlyAndAverageB) {
  // n=1000, B=200, w=8, beta=20, 4 layers: min=9.6, max=374.4, step=121.6.
  const auto b = pyramidBudgets(1000, 200, 8, 20, 4);
  EXPECT_EQ(b, (std::vector<std::int64_t>{382, 261, 139, 18}));
  double mean = 0;
  for (auto v : b) mean += v / 4.0;
  EXPECT_NEAR(mean, 200, 1);
  EXPECT_EQ(pyramidBudgets(100, 200, 8, 20, 4), (std::vector<std::int64_t>(4, 100)));
  // max clipped at n-w: n=300, B=200, w=8 -> max=292, min=92.
  EXPECT_EQ(pyramidBudgets(300, 200, 8, 20, 3), (std::vector<std::int64_t>{300, 200, 100}));
}

TEST(Selection, AdaKvRedistributesTheLayerBudgetAcrossHeads) {
  // 2 KV heads, 8 slots, window 2, budget 5: 3 prefix slots per head on average, 6 in all.
  const std::vector<std::vector<float>> votes = {{9, 8, 7, 0, 0, 0, 1, 1},
                                                 {1, 0, 0, 0, 0.5f, 0, 1, 1}};
  // Layer-wide top 6: head 0 gets 9, 8, 7 and the first tie (its slot 3); head 1 gets 1 and 0.5.
  auto k = adaKvKeep(votes, 5, 2, 1, true, 0.0);
  EXPECT_EQ(k[0], (I{0, 1, 2, 3, 6, 7}));
  EXPECT_EQ(k[1], (I{0, 4, 6, 7}));
  // Floor 0.5: c' = round(0.5*c + 0.5*3): head 0 -> 4 (3.5), head 1 -> 3 (2.5).
  k = adaKvKeep(votes, 5, 2, 1, true, 0.5);
  EXPECT_EQ(k[0], (I{0, 1, 2, 3, 6, 7}));
  EXPECT_EQ(k[1], (I{0, 1, 4, 6, 7}));
  EXPECT_EQ(adaKvKeep(votes, 8, 2, 1, true, 0.2)[1].size(), 8u);  // n <= budget
}

TEST(Selection, FastvKeepsTopVisualByLastTokenAttention) {
  EXPECT_EQ(fastvKeep({0.1f, 0.4f, 0.05f, 0.3f}, 2), (I{1, 3}));
}

TEST(Selection, RandomSubsetIsSeededAndSized) {
  const auto a = randomSubset(100, 30, 7), b = randomSubset(100, 30, 7),
             c = randomSubset(100, 30, 8);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_EQ(a.size(), 30u);
  EXPECT_TRUE(std::is_sorted(a.begin(), a.end()));
}

// ---- SparseVLM ---------------------------------------------------------------------------

TEST(SparseVlmRule, RatersAreTheTextRowsAboveTheMeanShare) {
  // 2 visual x 4 text logits. Softmax rows: visual 0 favours text 1, visual 1 favours text 3;
  // averaged, texts 1 and 3 hold 0.417 each, texts 0 and 2 0.083: above the mean (0.25): 1, 3.
  const std::vector<float> logits = {0, 2, 0, 1,  //
                                     0, 1, 0, 2};
  EXPECT_EQ(sparseVlmRaters(logits, 2, 4), (I{1, 3}));
  // One text row standing out for a single visual row still lifts its average above the mean.
  EXPECT_EQ(sparseVlmRaters({0, 0, 5, 0, 0, 0}, 2, 3), (I{2}));
  // Equal shares: nobody is above the mean; one text row: its share is the mean.
  EXPECT_TRUE(sparseVlmRaters({1, 1, 1, 3, 3, 3}, 2, 3).empty());
  EXPECT_TRUE(sparseVlmRaters({4, -2}, 2, 1).empty());
  EXPECT_TRUE(sparseVlmRaters({}, 0, 3).empty());
}

TEST(SparseVlmRule, ScheduleIsGeometricDownToTheFinalBudget) {
  EXPECT_EQ(sparseVlmSchedule(64, 8, 3), (std::vector<std::int64_t>{32, 16, 8}));
  EXPECT_EQ(sparseVlmSchedule(64, 8, 1), (std::vector<std::int64_t>{8}));
  EXPECT_EQ(sparseVlmSchedule(10, 10, 3), (std::vector<std::int64_t>{10, 10, 10}));
  EXPECT_EQ(sparseVlmSchedule(10, 0, 2), (std::vector<std::int64_t>{0, 0}));
}

TEST(SparseVlmRule, DropKeepsTheTopRatedAndRecyclesTheBestOfThePruned) {
  std::vector<float> scores(30);
  for (int i = 0; i < 30; ++i) scores[i] = static_cast<float>(i);  // token i rated i
  // Target 10: keeping 10 prunes 20, whose top floor(0.3 * 20) + 1 = 7 form floor(7/10) + 1 = 1
  // recycled token: 11, one too many; keeping 9 prunes 21 -> 7 candidates, 1 cluster: 10.
  auto d = sparseVlmDrop(scores, 10, 0.3, 10);
  I top9, next7;
  for (int i = 21; i < 30; ++i) top9.push_back(i);
  for (int i = 14; i < 21; ++i) next7.push_back(i);
  EXPECT_EQ(d.kept, top9);
  EXPECT_EQ(d.candidates, next7);
  EXPECT_EQ(d.clusters, 1);
  // No recycling: the top 10.
  d = sparseVlmDrop(scores, 10, 0, 10);
  EXPECT_EQ(d.kept.size(), 10u);
  EXPECT_EQ(d.kept.front(), 20);
  EXPECT_TRUE(d.candidates.empty());
  EXPECT_EQ(d.clusters, 0);
  // A target at or above the token count keeps everything; 0 keeps and recycles nothing.
  EXPECT_EQ(sparseVlmDrop(scores, 30, 0.3, 10).kept.size(), 30u);
  d = sparseVlmDrop(scores, 0, 0.3, 10);
  EXPECT_TRUE(d.kept.empty() && d.candidates.empty() && d.clusters == 0);
  // Recycling everything into one token per candidate: even keeping none overshoots target 1,
  // so the clusters are capped at it.
  d = sparseVlmDrop({1, 2, 3, 4, 5}, 1, 1, 1);
  EXPECT_TRUE(d.kept.empty());
  EXPECT_EQ(d.clusters, 1);
  EXPECT_EQ(d.candidates, (I{0, 1, 2, 3, 4}));
  // Kept plus recycled meets the target exactly, for every size and target.
  for (std::int64_t n = 1; n <= 60; ++n)
    for (std::int64_t t = 0; t < n; ++t) {
      const auto r = sparseVlmDrop(std::vector<float>(n, 1.0f), t, 0.3, 10);
      ASSERT_EQ(static_cast<std::int64_t>(r.kept.size()) + r.clusters, t) << n << " " << t;
      ASSERT_GE(static_cast<std::int64_t>(r.candidates.size()), r.clusters);
    }
}

std::vector<float> lineDistances(const std::vector<float>& x) {
  std::vector<float> d;
  for (float a : x)
    for (float b : x) d.push_back(std::abs(a - b));
  return d;
}

TEST(SparseVlmRule, RecycleClustersPickDenseIsolatedCentres) {
  // Points on a line: a tight group {0, 0.5, 1}, a pair {5, 5.5} and a straggler 9.
  const auto dist = lineDistances({0, 0.5f, 1, 5, 5.5f, 9});
  // Two clusters (densities over the 2 nearest): tokens 0-4 are equally dense (ties: the lower
  // index counts as denser), so 0 gets the largest distance (9) and 3 the distance to the group
  // (4); 0 and 3 are the centres, 5 joins the nearer one (3).
  auto c = recycleClusters(dist, 6, 2);
  EXPECT_EQ(c.centers, (I{0, 3}));
  ASSERT_EQ(c.members.size(), 2u);
  EXPECT_EQ(c.members[0], (I{0, 1, 2}));
  EXPECT_EQ(c.members[1], (I{3, 4, 5}));
  // Three (3 nearest): token 1 is the densest (centre first), 0 and 2 tie at distance 0.5 from
  // it (the lower index first); 3, 4 and 5 are nearest to centre 2.
  c = recycleClusters(dist, 6, 3);
  EXPECT_EQ(c.centers, (I{1, 0, 2}));
  ASSERT_EQ(c.members.size(), 3u);
  EXPECT_EQ(c.members[0], (I{1}));
  EXPECT_EQ(c.members[1], (I{0}));
  EXPECT_EQ(c.members[2], (I{2, 3, 4, 5}));
  EXPECT_EQ(recycleClusters(dist, 6, 6).centers.size(), 6u);
  EXPECT_TRUE(recycleClusters(dist, 6, 0).centers.empty());
}

// ---- recycle bin -------------------------------------------------------------------------

TEST(RecycleBin, DemotesVisualFirstRestoresAndPurges) {
  DdesParams p;
  p.budget = 6;
  p.bin = 2;
  p.sink = 1;
  p.recent = 1;
  p.reweight = Reweight::None;
  p.theta_vis = 0.5;
  p.theta_restore = 0.8;
  p.purge_to = 0.5;
  RecycleBin bin(p);
  // token: 0 prefix, 1..4 visual, 5..7 text
  const float s[] = {1.0f, 0.1f, 0.9f, 0.2f, 0.6f, 0.05f, 0.3f, 0.4f};
  for (int t = 0; t < 8; ++t)
    bin.add(t, t == 0 ? Modality::Prefix : t <= 4 ? Modality::Visual : Modality::Text, s[t]);
  auto d = bin.rebalance(8);  // 8 active > 6: demote 2, visual below 0.5 first: 1 (0.1), 3 (0.2)
  ASSERT_EQ(d.demoted.size(), 2u);
  EXPECT_EQ(d.demoted[0].token, 1);
  EXPECT_EQ(d.demoted[1].token, 3);
  EXPECT_TRUE(d.purged.empty());
  EXPECT_EQ(bin.activeCount(), 6);
  EXPECT_EQ(bin.binCount(), 2);
  // Token 3 comes back up: restored; then one more token over budget is demoted.
  bin.add(8, Modality::Generated, 0.5f);
  bin.accumulate({3}, {1.0f});
  d = bin.rebalance(9);
  ASSERT_EQ(d.restored.size(), 1u);
  EXPECT_EQ(d.restored[0].token, 3);
  // Active 8 > 6: visual below 0.5: none left except... 2 (0.9) and 4 (0.6) are above; so the
  // lowest of any modality: 5 (0.05), then 6 (0.3).
  ASSERT_EQ(d.demoted.size(), 2u);
  EXPECT_EQ(d.demoted[0].token, 5);
  EXPECT_EQ(d.demoted[1].token, 6);
  // Bin 3 > 2: purge to floor(0.5*2) = 1, lowest first: 5 then 1.
  ASSERT_EQ(d.purged.size(), 2u);
  EXPECT_EQ(bin.binCount(), 1);
  EXPECT_EQ(bin.state(1), TokenState::Gone);
  EXPECT_EQ(bin.state(5), TokenState::Gone);
  EXPECT_EQ(bin.state(6), TokenState::Bin);
  EXPECT_LE(bin.activeCount(), bin.budgetFor(9));
}

TEST(RecycleBin, InvariantsHoldUnderRandomScoresAndProtectedStay) {
  for (int seed = 0; seed < 20; ++seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(0, 1);
    DdesParams p;
    p.budget = seed % 2 ? 0.5 : 40;
    p.bin = seed % 3 == 0 ? 0 : 8 + seed;
    p.sink = 4;
    p.recent = 8;
    p.reweight = seed % 3 == 0 ? Reweight::ZScore : Reweight::ModalityMean;
    RecycleBin bin(p);
    int n = 0;
    for (; n < 60; ++n) bin.add(n, n % 3 ? Modality::Visual : Modality::Text, u(rng));
    for (int step = 0; step < 80; ++step) {
      if (step > 0) bin.add(n++, Modality::Generated, 0.0f);
      std::vector<int> ids;
      std::vector<float> att;
      for (int t = 0; t < n; ++t) ids.push_back(t), att.push_back(u(rng) * u(rng));
      bin.accumulate(ids, att);
      bin.rebalance(n);
      const int B = bin.budgetFor(n);
      ASSERT_LE(bin.activeCount(), B) << "seed " << seed << " step " << step;
      ASSERT_LE(bin.activeCount() + bin.binCount(), B + p.bin);
      ASSERT_LE(bin.binCount(), p.bin);
      // The first 4 and last 8 tokens are never gone.
      for (int t = 0; t < 4; ++t) ASSERT_NE(bin.state(t), TokenState::Gone);
      for (int t = n - 8; t < n; ++t) ASSERT_EQ(bin.state(t), TokenState::Active);
    }
  }
}

TEST(RecycleBin, UnboundedBudgetAndNoBinChangeNothing) {
  DdesParams p;
  p.budget = 1e9;
  p.bin = 0;
  RecycleBin bin(p);
  for (int t = 0; t < 50; ++t) bin.add(t, Modality::Visual, static_cast<float>(t % 7));
  EXPECT_TRUE(bin.rebalance(50).empty());
}

}  // namespace
}  // namespace hae
