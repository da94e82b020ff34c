// The policies on the fixture models through the Engine: the no-eviction settings reproduce the
// full cache bit for bit, HAE's budgets and recycle-bin invariants hold at every step under
// random prompts, K/V survive demote / restore / compaction unchanged, decisions repeat with the
// same seed, every baseline runs with the cache sizes its rule names, and freed memory is real.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <iostream>
#include <limits>
#include <numeric>
#include <random>
#include <set>

#include "engine/engine.h"
#include "hae/error.h"
#include "models/vlm_model.h"
#include "policies/selection.h"
#include "reference.h"

namespace hae::test {
namespace {

struct GreedyRun {
  std::vector<at::Tensor> logits;  // prefill, then one per decode step
  std::vector<std::int64_t> tokens;
  std::vector<StepTelemetry> telemetry;
};

GreedyRun runGreedy(Engine& engine, const PromptPlan& plan, int steps,
                    const std::function<void(Engine&, int)>& each_step = nullptr) {
  GreedyRun r;
  auto logits = engine.prefill(plan);
  r.telemetry.push_back(engine.lastTelemetry());
  if (each_step) each_step(engine, 0);
  for (int s = 0; s < steps; ++s) {
    r.logits.push_back(logits);
    const auto token = logits.argmax().item<std::int64_t>();
    r.tokens.push_back(token);
    logits = engine.decode(token);
    r.telemetry.push_back(engine.lastTelemetry());
    if (each_step) each_step(engine, s + 1);
  }
  r.logits.push_back(logits);
  return r;
}

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

// A random prompt of the fixture's layout: random text ids around the image, random pixels.
PromptPlan randomPlan(const Fixture& f, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  const Reference ref(dataPath("models/" + f.model->spec().name + "/expected.safetensors"));
  auto ids = ref.ids();
  std::int64_t image_id = -1;
  for (const auto& t : f.plan.tokens)
    if (t.modality == Modality::Visual) image_id = f.plan.ids[&t - f.plan.tokens.data()];
  std::vector<std::int64_t> out;
  const int prefix = 4 + static_cast<int>(rng() % 4), suffix = 8 + static_cast<int>(rng() % 40);
  for (int i = 0; i < prefix; ++i) out.push_back(static_cast<std::int64_t>(rng() % image_id));
  for (auto id : ids)
    if (id == image_id) out.push_back(id);
  for (int i = 0; i < suffix; ++i) out.push_back(static_cast<std::int64_t>(rng() % image_id));
  torch::manual_seed(seed);
  return f.model->planFromIds(out, torch::randn(ref["pixel_values"].sizes()));
}

class NoEviction : public ::testing::TestWithParam<std::string> {};

TEST_P(NoEviction, FullAndNeutralHaeReproduceTheLogitsBitForBit) {
  const Fixture f = loadFixture(GetParam());
  Engine full(f.model, makePolicy("full", {}));
  const GreedyRun ref = runGreedy(full, f.plan, 12);
  for (const std::string mode : {"drop_hidden", "cache_only"}) {
    Engine hae(f.model, makePolicy("hae", {{"dap.r", "0"},
                                           {"ddes.budget", "1e9"},
                                           {"ddes.bin", "0"},
                                           {"broadcast.mode", mode}}));
    const GreedyRun got = runGreedy(hae, f.plan, 12);
    ASSERT_EQ(got.tokens, ref.tokens) << mode;
    for (std::size_t i = 0; i < ref.logits.size(); ++i)
      // Bit for bit: with nothing evicted both engines run the very same kernels on the very
      // same shapes, so any difference is a real change of the computation.
      EXPECT_TRUE(torch::equal(got.logits[i], ref.logits[i])) << mode << " step " << i;
    for (const auto& t : got.telemetry) EXPECT_TRUE(t.events.empty());
  }
  // A second prefill on the same engine starts afresh.
  Engine again(f.model, makePolicy("full", {}));
  const GreedyRun twice = runGreedy(again, f.plan, 3);
  EXPECT_TRUE(torch::equal(twice.logits.back(), ref.logits[3]));
}

INSTANTIATE_TEST_SUITE_P(Fixtures, NoEviction, ::testing::Values("tiny-llava", "llava-medium"));

// Live (attended, not binned) and bin slots of a layer.
std::pair<int, int> liveAndBin(const LayerCache& lc) {
  int live = 0, bin = 0;
  for (int i = 0; i < lc.size(); ++i) {
    if (lc.slots()[i].binned)
      ++bin;
    else if (lc.attended(i))
      ++live;
  }
  return {live, bin};
}

TEST(HaePolicy, BudgetAndBinInvariantsHoldAtEveryStepUnderRandomPrompts) {
  const Fixture f = loadFixture("llava-medium");
  const int sink = 4, recent = 8, d = 16;
  for (std::uint64_t seed = 1; seed <= 3; ++seed) {
    for (const std::string attended : {"true", "false"}) {
      const PromptPlan plan = randomPlan(f, seed);
      const double ratio = 0.3;
      Engine engine(f.model, makePolicy("hae", {{"ddes.budget", std::to_string(ratio)},
                                                {"ddes.bin", std::to_string(d)},
                                                {"ddes.sink", std::to_string(sink)},
                                                {"ddes.recent", std::to_string(recent)},
                                                {"ddes.bin_attended", attended},
                                                {"dap.r", "0.002"}}));
      int demotes = 0, purges = 0;
      runGreedy(engine, plan, 24, [&](Engine& e, int step) {
        const auto& tel = e.lastTelemetry();
        const int seen = static_cast<int>(e.tokens().size());
        const int B = std::max(static_cast<int>(std::floor(ratio * seen)), sink + recent);
        for (int l = 0; l < e.cache().numLayers(); ++l) {
          const LayerCache& lc = e.cache().layer(l);
          const auto [live, bin] = liveAndBin(lc);
          ASSERT_LE(live, B) << "seed " << seed << " step " << step << " layer " << l;
          ASSERT_LE(bin, d);
          ASSERT_LE(live + bin, B + d);
          EXPECT_EQ(tel.layers[l].bin, bin);
          EXPECT_EQ(tel.layers[l].bytes, lc.bytesHeld());
          // Protected: the first `sink` prompt tokens and the last `recent` tokens are live.
          std::vector<bool> present(seen, false);
          for (int i = 0; i < lc.size(); ++i)
            if (!lc.slots()[i].binned && lc.attended(i)) present[lc.slots()[i].token] = true;
          for (int t = 0; t < sink; ++t)
            ASSERT_TRUE(present[t]) << "sink " << t << " step " << step;
          for (int t = seen - recent; t < seen; ++t)
            ASSERT_TRUE(present[t]) << "recent " << t << " step " << step;
          // Bin slots are masked exactly when the bin is not attended.
          for (int i = 0; i < lc.size(); ++i)
            if (lc.slots()[i].binned) ASSERT_EQ(lc.attended(i), attended == "true");
        }
        EXPECT_EQ(tel.totalBytes(), e.cache().bytesHeld());
        for (const auto& ev : tel.events) {
          demotes += ev.kind == EventKind::Demote;
          purges += ev.kind == EventKind::Purge;
          if (ev.kind != EventKind::Evict) EXPECT_EQ(ev.step, step);
        }
      });
      EXPECT_GT(demotes, 0);
      EXPECT_GT(purges, 0);
    }
  }
}

// K/V per token, per layer, to check that demote / restore / compaction never change a value.
using KvSnapshot = std::vector<std::map<int, std::pair<at::Tensor, at::Tensor>>>;
KvSnapshot snapshot(const KvCache& cache) {
  KvSnapshot s(cache.numLayers());
  for (int l = 0; l < cache.numLayers(); ++l) {
    const LayerCache& lc = cache.layer(l);
    auto k = lc.keys(), v = lc.values();
    for (int i = 0; i < lc.size(); ++i)
      s[l][lc.slots()[i].token] = {k.select(1, i).clone(), v.select(1, i).clone()};
  }
  return s;
}

TEST(HaePolicy, RestoreBringsBackTheSameKeysAndValues) {
  const Fixture f = loadFixture("llava-medium");
  // theta_restore 0 restores every bin token each step before demotion picks again, so tokens
  // travel Active -> Bin -> Active many times; bin not attended, so restore must unmask.
  Engine engine(f.model, makePolicy("hae", {{"ddes.budget", "0.4"},
                                            {"ddes.bin", "32"},
                                            {"ddes.theta_restore", "0"},
                                            {"ddes.bin_attended", "false"},
                                            {"dap.r", "0"},
                                            {"ddes.reweight", "none"}}));
  KvSnapshot first;
  int restored_live = 0;
  runGreedy(engine, randomPlan(f, 7), 20, [&](Engine& e, int step) {
    if (step == 0) {
      first = snapshot(e.cache());
      return;
    }
    std::set<int> restored;
    for (const auto& ev : e.lastTelemetry().events)
      if (ev.kind == EventKind::Restore) restored.insert(ev.position);  // prompt: position == token
    const auto now = snapshot(e.cache());
    for (int l = 0; l < e.cache().numLayers(); ++l) {
      const LayerCache& lc = e.cache().layer(l);
      for (int i = 0; i < lc.size(); ++i) {
        const int t = lc.slots()[i].token;
        auto it = first[l].find(t);
        if (it == first[l].end()) continue;  // generated after prefill
        // Stored rows are copied, never recomputed: exact equality is the right check.
        ASSERT_TRUE(torch::equal(now[l].at(t).first, it->second.first))
            << "K layer " << l << " token " << t;
        ASSERT_TRUE(torch::equal(now[l].at(t).second, it->second.second))
            << "V layer " << l << " token " << t;
        if (restored.count(t) && !lc.slots()[i].binned) {
          ASSERT_TRUE(lc.attended(i));
          ++restored_live;
        }
      }
    }
  });
  EXPECT_GT(restored_live, 0);
}

// pos.mode = renumber: after DAP the kept tokens sit at 0..n-1 in every layer and decoding goes
// on at n. Layer 0's keys depend only on a token's embedding and position, so the re-rotated keys
// must equal layer 0 run afresh on the kept tokens at their new positions.
TEST(HaePolicy, RenumberedCacheEqualsAFreshLayerZeroAtTheNewPositions) {
  const Fixture f = loadFixture("llava-medium");
  for (const std::string mode : {"drop_hidden", "cache_only"}) {
    SCOPED_TRACE(mode);
    Engine engine(f.model, makePolicy("hae", {{"pos.mode", "renumber"},
                                              {"broadcast.mode", mode},
                                              {"dap.mode", "keep"},
                                              {"dap.keep", "200"},
                                              {"ddes.enabled", "false"}}));
    engine.prefill(f.plan);
    const int n = engine.cache().layer(0).size();
    ASSERT_LT(n, static_cast<int>(f.plan.ids.size()));
    for (int l = 0; l < engine.cache().numLayers(); ++l) {
      const auto& slots = engine.cache().layer(l).slots();
      ASSERT_EQ(static_cast<int>(slots.size()), n);
      for (int i = 0; i < n; ++i) ASSERT_EQ(slots[i].position, i) << "layer " << l;
    }
    // Layer 0 afresh on the kept tokens.
    torch::NoGradGuard no_grad;
    std::vector<std::int64_t> rows;
    std::vector<SlotMeta> metas;
    for (int i = 0; i < n; ++i) {
      rows.push_back(engine.cache().layer(0).slots()[i].token);
      metas.push_back({i, engine.cache().layer(0).slots()[i].modality, static_cast<int>(rows.back())});
    }
    auto h = f.model->embed(torch::tensor(f.plan.ids, torch::kInt64), f.plan.pixel_values)
                 .index_select(0, torch::tensor(rows, torch::kInt64));
    auto positions = torch::arange(n, torch::kInt64);
    auto [cos, sin] = f.model->rotary(positions, n);
    LayerCache fresh;
    f.model->layerForward(0, h, positions, cos, sin, fresh, metas, nullptr);
    EXPECT_LT((fresh.keys() - engine.cache().layer(0).keys()).abs().max().item<double>(), 1e-4);
    // The fresh values come from a GEMM over n rows, the cached ones from one over the whole
    // prompt: equal in exact arithmetic, not bit for bit on every CPU.
    expectCloseRelative(fresh.values(), engine.cache().layer(0).values(), 1e-5, "layer-0 values");
    // Decoding continues at n, and the event positions stay the tokens' places in the prompt.
    engine.decode(f.plan.ids.back());
    EXPECT_EQ(engine.cache().layer(0).slots().back().position, n);
  }
  EXPECT_THROW(makePolicy("hae", {{"pos.mode", "renumber"}, {"broadcast.groups", "2"}}), Error);
}

// H2O per head through decoding: every head evicts its own lowest accumulated score each step,
// so each holds exactly heavy + recent slots, ends with the newest token, and heads differ.
TEST(Policies, H2oPerHeadKeepsItsBudgetInEveryHeadWhileDecoding) {
  const Fixture f = loadFixture("llava-medium");
  Engine e(f.model, makePolicy("h2o", {{"heavy_ratio", "0.1"}, {"recent_ratio", "0.1"}}));
  const int n = static_cast<int>(f.plan.ids.size());
  const int keep = static_cast<int>(std::floor(0.1 * n)) * 2;
  runGreedy(e, f.plan, 12, [&](Engine& engine, int step) {
    for (int l = 0; l < engine.cache().numLayers(); ++l) {
      const LayerCache& lc = engine.cache().layer(l);
      ASSERT_TRUE(lc.perHead());
      std::set<int> tokens;
      for (int h = 0; h < lc.numHeads(); ++h) {
        ASSERT_EQ(lc.headSize(h), keep) << "layer " << l << " head " << h << " step " << step;
        EXPECT_EQ(lc.headSlots(h).back().position, n - 1 + step);
        for (const auto& slot : lc.headSlots(h)) tokens.insert(slot.token);
      }
      EXPECT_GT(static_cast<int>(tokens.size()), keep) << "heads keep identical sets";
    }
  });
}

std::vector<std::vector<std::pair<EventKind, int>>> decisions(const GreedyRun& r) {
  std::vector<std::vector<std::pair<EventKind, int>>> out;
  for (const auto& t : r.telemetry) {
    out.emplace_back();
    for (const auto& e : t.events) out.back().push_back({e.kind, e.position * 64 + e.layer});
  }
  return out;
}

TEST(Policies, SameSeedSameDecisions) {
  const Fixture f = loadFixture("llava-medium");
  const PromptPlan plan = randomPlan(f, 11);
  auto run = [&](const std::string& policy, const std::map<std::string, std::string>& knobs) {
    Engine e(f.model, makePolicy(policy, knobs));
    return decisions(runGreedy(e, plan, 10));
  };
  const std::map<std::string, std::string> hae = {{"ddes.budget", "0.3"}, {"ddes.bin", "8"}};
  EXPECT_EQ(run("hae", hae), run("hae", hae));
  EXPECT_EQ(run("random", {{"seed", "5"}}), run("random", {{"seed", "5"}}));
  EXPECT_NE(run("random", {{"seed", "5"}}), run("random", {{"seed", "6"}}));
  EXPECT_EQ(run("h2o", {}), run("h2o", {}));
}

// Every baseline on llava-medium (4 layers, 576 visual tokens): cache sizes as the rule names,
// bytes reported equal to the storage, and less memory than the full cache at the same context.
// SnapKV's reference rule: every KV head keeps the same count, its own top tokens, and the whole
// observation window at the end.
static void expectHeadsKeep(const LayerCache& lc, std::int64_t budget, int window, int n) {
  ASSERT_TRUE(lc.perHead());
  std::set<int> differ;
  for (int h = 0; h < lc.numHeads(); ++h) {
    const auto& hs = lc.headSlots(h);
    ASSERT_EQ(static_cast<std::int64_t>(hs.size()), budget);
    for (int i = 0; i < window; ++i)
      EXPECT_EQ(hs[hs.size() - window + i].position, n - window + i);
    for (const auto& s : hs) differ.insert(s.position);
  }
  // Heads rank by their own votes, so (on real attention) they do not all keep the same set.
  EXPECT_GT(static_cast<std::int64_t>(differ.size()), budget);
}

TEST(Policies, BaselinesKeepWhatTheirRuleNamesAndFreeMemory) {
  const Fixture f = loadFixture("llava-medium");
  const int n = static_cast<int>(f.plan.tokens.size());
  const int L = f.model->spec().num_layers;
  int visual = 0;
  for (const auto& t : f.plan.tokens) visual += t.modality == Modality::Visual;
  Engine full(f.model, makePolicy("full", {}));
  const GreedyRun ref = runGreedy(full, f.plan, 4);
  const std::int64_t full_bytes = full.cache().bytesHeld();

  struct Case {
    std::string policy;
    std::map<std::string, std::string> knobs;
    std::function<void(const KvCache&)> check;  // after prefill
  };
  const std::vector<Case> cases = {
      {"random",
       {{"keep_ratio", "0.5"}},
       [&](const KvCache& c) {
         for (int l = 0; l < L; ++l) EXPECT_EQ(c.layer(l).size(), (n + 1) / 2);
       }},
      {"streaming",
       {{"sink", "4"}, {"recent", "100"}},
       [&](const KvCache& c) {
         for (int l = 0; l < L; ++l) {
           ASSERT_EQ(c.layer(l).size(), 104);
           EXPECT_EQ(c.layer(l).slots()[3].position, 3);
           EXPECT_EQ(c.layer(l).slots()[4].position, n - 100);
         }
       }},
      {"h2o",
       {{"heavy_ratio", "0.2"}, {"recent_ratio", "0.1"}},
       [&](const KvCache& c) {
         const int keep =
             static_cast<int>(std::floor(0.2 * n)) + static_cast<int>(std::floor(0.1 * n));
         for (int l = 0; l < L; ++l)
           expectHeadsKeep(c.layer(l), keep, static_cast<int>(std::floor(0.1 * n)), n);
       }},
      {"h2o",
       {{"heavy_ratio", "0.2"}, {"recent_ratio", "0.1"}, {"heads", "shared"}},
       [&](const KvCache& c) {
         const int keep =
             static_cast<int>(std::floor(0.2 * n)) + static_cast<int>(std::floor(0.1 * n));
         for (int l = 0; l < L; ++l) {
           ASSERT_FALSE(c.layer(l).perHead());
           ASSERT_EQ(c.layer(l).size(), keep);
           EXPECT_EQ(c.layer(l).slots().back().position, n - 1);  // the recent window stays
         }
       }},
      {"tova",
       {{"budget", "150"}},
       [&](const KvCache& c) {
         for (int l = 0; l < L; ++l) {
           ASSERT_EQ(c.layer(l).size(), 150);
           EXPECT_EQ(c.layer(l).slots().back().position, n - 1);
         }
       }},
      {"snapkv",
       {{"budget", "200"}, {"window", "16"}},
       [&](const KvCache& c) {
         for (int l = 0; l < L; ++l) expectHeadsKeep(c.layer(l), 200, 16, n);
       }},
      {"snapkv",
       {{"budget", "200"}, {"window", "16"}, {"heads", "shared"}},
       [&](const KvCache& c) {
         for (int l = 0; l < L; ++l) {
           ASSERT_FALSE(c.layer(l).perHead());
           ASSERT_EQ(c.layer(l).size(), 200);
           for (int i = 0; i < 16; ++i) EXPECT_EQ(c.layer(l).slots()[184 + i].position, n - 16 + i);
         }
       }},
      {"pyramidkv",
       {{"budget", "200"}, {"window", "16"}},
       [&](const KvCache& c) {
         const auto b = pyramidBudgets(n, 200, 16, 20, L);
         for (int l = 0; l < L; ++l) expectHeadsKeep(c.layer(l), b[l], 16, n);
         EXPECT_GT(b[0], b[L - 1]);
       }},
      {"adakv",
       {{"budget", "200"}, {"window", "16"}, {"floor", "0.2"}},
       [&](const KvCache& c) {
         for (int l = 0; l < L; ++l) {
           const LayerCache& lc = c.layer(l);
           ASSERT_TRUE(lc.perHead());
           int prefix_total = 0;
           for (int h = 0; h < lc.numHeads(); ++h) {
             const auto& hs = lc.headSlots(h);
             ASSERT_GE(hs.size(), 16u);
             for (int i = 0; i < 16; ++i) EXPECT_EQ(hs[hs.size() - 16 + i].position, n - 16 + i);
             prefix_total += static_cast<int>(hs.size()) - 16;
           }
           EXPECT_NEAR(prefix_total, lc.numHeads() * (200 - 16), lc.numHeads());
         }
       }},
      {"fastv",
       {{"k", "2"}, {"ratio", "0.75"}},
       [&](const KvCache& c) {
         for (int l = 0; l < 2; ++l) EXPECT_EQ(c.layer(l).size(), n);
         for (int l = 2; l < L; ++l) EXPECT_EQ(c.layer(l).size(), n - visual * 3 / 4);
       }},
      {"mustdrop",
       {{"layer", "1"}, {"stages", "2"}, {"stride", "2"}, {"r", "0.01"}},
       [&](const KvCache& c) {
         EXPECT_EQ(c.layer(0).size(), n);
         EXPECT_EQ(c.layer(1).size(), n);
         EXPECT_LT(c.layer(2).size(), n);
         EXPECT_LE(c.layer(3).size(), c.layer(2).size());
       }},
      {"hae",
       {{"dap.mode", "keep"}, {"dap.keep", "192"}, {"ddes.budget", "0.8"}},
       [&](const KvCache& c) {
         for (int l = 0; l < L; ++l) {
           int v = 0;
           for (const auto& s : c.layer(l).slots()) v += s.modality == Modality::Visual;
           EXPECT_LE(v, 192);
           EXPECT_EQ(c.layer(l).size(), c.layer(0).size());  // broadcast: one set for all layers
         }
       }},
  };
  for (const auto& cs : cases) {
    SCOPED_TRACE(cs.policy);
    Engine e(f.model, makePolicy(cs.policy, cs.knobs));
    e.prefill(f.plan);
    cs.check(e.cache());
    const GreedyRun r = runGreedy(e, f.plan, 4);
    for (const auto& t : r.telemetry) {
      std::int64_t sum = 0;
      for (const auto& ls : t.layers) sum += ls.bytes;
      EXPECT_EQ(sum, t.totalBytes());
    }
    EXPECT_EQ(r.telemetry.back().totalBytes(), e.cache().bytesHeld());
    std::int64_t storage = 0;
    for (int l = 0; l < L; ++l) {
      const auto& lc = e.cache().layer(l);
      if (lc.perHead()) {
        for (int h = 0; h < lc.numHeads(); ++h)
          storage += lc.headKeys(h).storage().nbytes() + lc.headValues(h).storage().nbytes();
      } else {
        storage += lc.keys().storage().nbytes() + lc.values().storage().nbytes();
      }
    }
    EXPECT_EQ(e.cache().bytesHeld(), storage);
    EXPECT_LT(e.cache().bytesHeld(), full_bytes);
    bool any_evict = false;
    for (const auto& t : r.telemetry)
      for (const auto& ev : t.events) any_evict = any_evict || ev.kind == EventKind::Evict;
    EXPECT_TRUE(any_evict);
  }
  (void)ref;
}

// The cached additive mask follows appends, flag changes and gathers exactly.
TEST(LayerCacheMask, FollowsAppendsFlagsAndGathers) {
  LayerCache lc;
  auto add = [&](int n, int first) {
    std::vector<SlotMeta> metas;
    for (int i = 0; i < n; ++i) metas.push_back({first + i, Modality::Text, first + i});
    lc.append(torch::randn({2, n, 4}), torch::randn({2, n, 4}), metas);
  };
  auto expected = [&] {
    std::vector<float> m(lc.size(), 0.0f);
    for (int i = 0; i < lc.size(); ++i)
      if (!lc.attended(i)) m[i] = -std::numeric_limits<float>::infinity();
    return torch::tensor(m);
  };
  add(10, 0);
  EXPECT_FALSE(lc.attentionMask().defined());
  lc.setAttended(3, false);
  EXPECT_TRUE(torch::equal(lc.attentionMask(), expected()));
  add(1, 10);  // in place: the new slot is attended
  lc.setAttended(7, false);
  lc.setAttended(3, true);
  lc.setAttended(10, false);
  EXPECT_TRUE(torch::equal(lc.attentionMask(), expected()));
  for (int s = 0; s < 80; ++s) add(1, 11 + s);  // grows past the capacity: rebuilt
  lc.setAttended(50, false);
  EXPECT_TRUE(torch::equal(lc.attentionMask(), expected()));
  lc.keep({0, 7, 10, 20, 50, 90});
  EXPECT_EQ(lc.maskedCount(), 3);
  EXPECT_TRUE(torch::equal(lc.attentionMask(), expected()));
  lc.setAttended(1, true);
  lc.setAttended(2, true);
  lc.setAttended(4, true);
  EXPECT_FALSE(lc.attentionMask().defined());
}

// Splits every layer into per-head storage keeping every slot: the ragged attention path must
// then give the uniform path's logits (up to float reassociation).
class SplitAllPolicy final : public Policy {
 public:
  std::string name() const override { return "split-all"; }
  std::map<std::string, std::string> settings() const override { return {}; }
  void endPrefill(std::vector<AttentionTap>&, PolicyContext& ctx) override {
    for (int l = 0; l < ctx.cache.numLayers(); ++l) {
      LayerCache& lc = ctx.cache.layer(l);
      Indices all(lc.size());
      std::iota(all.begin(), all.end(), 0);
      lc.splitHeads(std::vector<Indices>(ctx.spec.num_kv_heads, all));
    }
  }
};

TEST(AdaKv, RaggedHeadAttentionMatchesTheUniformPath) {
  const Fixture f = loadFixture("llava-medium");
  Engine full(f.model, makePolicy("full", {}));
  const GreedyRun ref = runGreedy(full, f.plan, 6);
  Engine split(f.model, std::make_unique<SplitAllPolicy>());
  const GreedyRun got = runGreedy(split, f.plan, 6);
  EXPECT_EQ(got.tokens, ref.tokens);
  for (std::size_t i = 0; i < ref.logits.size(); ++i)
    EXPECT_LT(maxAbsDiff(got.logits[i], ref.logits[i]), 1e-4);
  EXPECT_TRUE(split.cache().layer(0).perHead());
}

TEST(HaePolicy, AblationsAndLayerGroupsBehaveAsSet) {
  const Fixture f = loadFixture("llava-medium");
  const int L = f.model->spec().num_layers;
  auto visualIn = [](const LayerCache& lc) {
    int v = 0;
    for (const auto& s : lc.slots()) v += s.modality == Modality::Visual;
    return v;
  };
  {  // per-layer selection from the full set (cache_only): each layer keeps its own top 100
    Engine e(f.model, makePolicy("hae", {{"broadcast.mode", "cache_only"},
                                         {"broadcast.groups", std::to_string(L)},
                                         {"dap.mode", "keep"},
                                         {"dap.keep", "100"},
                                         {"ddes.enabled", "false"}}));
    e.prefill(f.plan);
    bool differ = false;
    for (int l = 0; l < L; ++l) {
      EXPECT_EQ(visualIn(e.cache().layer(l)), 100);
      for (int i = 0; i < e.cache().layer(l).size(); ++i)
        differ =
            differ || e.cache().layer(l).slots()[i].token != e.cache().layer(0).slots()[i].token;
    }
    EXPECT_TRUE(differ);  // real attention does not rank the same tokens first in every layer
    for (const auto& ev : e.lastTelemetry().events) EXPECT_GE(ev.layer, 0);
  }
  {  // groups in drop_hidden: each group re-scores the survivors, so caches shrink with depth
    Engine e(f.model,
             makePolicy("hae",
                        {{"broadcast.groups", "2"}, {"dap.r", "0.01"}, {"ddes.enabled", "false"}}));
    e.prefill(f.plan);
    for (int l = 1; l < L; ++l) EXPECT_LE(e.cache().layer(l).size(), e.cache().layer(l - 1).size());
    EXPECT_EQ(e.cache().layer(0).size(), e.cache().layer(1).size());
  }
  {  // DDES only: no prefill eviction of visual tokens beyond what the budget demotes
    Engine e(
        f.model,
        makePolicy("hae", {{"dap.enabled", "false"}, {"ddes.budget", "0.5"}, {"ddes.bin", "16"}}));
    const GreedyRun r = runGreedy(e, f.plan, 6);
    for (const auto& ev : r.telemetry[0].events) EXPECT_NE(ev.kind, EventKind::Evict);
    int demotes = 0;
    for (const auto& t : r.telemetry)
      for (const auto& ev : t.events) demotes += ev.kind == EventKind::Demote;
    EXPECT_GT(demotes, 0);
  }
  {  // DAP only: the cache then grows by one token per step
    Engine e(f.model, makePolicy("hae", {{"ddes.enabled", "false"}, {"dap.mode", "keep"}}));
    const GreedyRun r = runGreedy(e, f.plan, 5);
    for (std::size_t i = 1; i < r.telemetry.size(); ++i) {
      EXPECT_TRUE(r.telemetry[i].events.empty());
      EXPECT_EQ(r.telemetry[i].liveSlots(0), r.telemetry[i - 1].liveSlots(0) + 1);
    }
  }
  {  // scores from every layer, demote every 3 steps, z-scores, masked bin: runs within budget
    Engine e(f.model, makePolicy("hae", {{"ddes.score_layer", "-1"},
                                         {"ddes.interval", "3"},
                                         {"ddes.reweight", "zscore"},
                                         {"ddes.theta_vis", "0"},
                                         {"ddes.theta_restore", "1"},
                                         {"ddes.bin_attended", "false"},
                                         {"ddes.budget", "0.4"}}));
    runGreedy(e, f.plan, 9, [&](Engine& en, int step) {
      if (step % 3 != 0) return;
      const int B = std::max(static_cast<int>(std::floor(0.4 * en.tokens().size())), 36);
      for (int l = 0; l < L; ++l) EXPECT_LE(liveAndBin(en.cache().layer(l)).first, B);
    });
  }
}

// Not a timed check (the benchmark owns that): records each policy's own time as a share of the
// decode step on llava-medium at about half the KV budget, for the closing notes.
TEST(Policies, OverheadIsRecorded) {
  const Fixture f = loadFixture("llava-medium");
  const std::vector<std::pair<std::string, std::map<std::string, std::string>>> runs = {
      {"full", {}},
      {"hae", {{"ddes.budget", "0.5"}}},
      {"hae", {{"ddes.budget", "0.5"}, {"compaction.free_fraction", "0"}}},
      {"hae", {{"ddes.budget", "0.5"}, {"ddes.bin_attended", "false"}}},
      {"random", {}},
      {"streaming", {{"recent", "300"}}},
      {"h2o", {{"heavy_ratio", "0.25"}, {"recent_ratio", "0.25"}}},
      {"tova", {{"budget", "300"}}},
      {"snapkv", {{"keep_ratio", "0.5"}}},
      {"pyramidkv", {{"keep_ratio", "0.5"}}},
      {"adakv", {{"keep_ratio", "0.5"}}},
      {"fastv", {}},
      {"mustdrop", {}},
  };
  for (const auto& [name, knobs] : runs) {
    Engine e(f.model, makePolicy(name, knobs));
    const GreedyRun r = runGreedy(e, f.plan, 24);
    double model = 0, policy = 0;
    for (std::size_t i = 1; i < r.telemetry.size(); ++i)
      model += r.telemetry[i].model_ms, policy += r.telemetry[i].policy_ms;
    const double steps = static_cast<double>(r.telemetry.size() - 1);
    std::vector<double> per_step;
    for (std::size_t i = 1; i < r.telemetry.size(); ++i)
      per_step.push_back(r.telemetry[i].policy_ms);
    std::sort(per_step.begin(), per_step.end());
    const std::string line = fmt::format(
        "{:<10} prefill policy {:7.3f} ms of {:8.3f} ms; decode step {:7.3f} ms, "
        "policy {:6.3f} ms ({:4.1f}%, median {:6.3f} ms, max {:6.3f} ms), KV {:8d} bytes",
        name, r.telemetry[0].policy_ms, r.telemetry[0].model_ms + r.telemetry[0].policy_ms,
        (model + policy) / steps, policy / steps, 100 * policy / std::max(model + policy, 1e-9),
        per_step[per_step.size() / 2], per_step.back(), e.cache().bytesHeld());
    std::cout << "[overhead] " << line << "\n";
    RecordProperty("overhead_" + name, line);
  }
}

TEST(HaePolicy, ProbesAreFilledWhenAskedFor) {
  const Fixture f = loadFixture("llava-medium");
  Engine e(f.model, makePolicy("hae", {{"probes", "true"}, {"broadcast.mode", "cache_only"}}));
  e.prefill(f.plan);
  const auto& probes = e.lastTelemetry().probes;
  ASSERT_EQ(probes.size(), static_cast<std::size_t>(f.model->spec().num_layers));
  EXPECT_DOUBLE_EQ(probes[0].overlap_with_first, 1.0);
  const int v = static_cast<int>(Modality::Visual);
  for (const auto& p : probes) {
    EXPECT_GE(p.overlap_with_first, 0.0);
    EXPECT_LE(p.overlap_with_first, 1.0);
    EXPECT_GT(p.sparsity[v], 0.0);
    EXPECT_LE(p.sparsity[v], 1.0);
    EXPECT_GE(p.attn_variance[v], 0.0);
  }
  Engine plain(f.model, makePolicy("hae", {}));
  plain.prefill(f.plan);
  EXPECT_TRUE(plain.lastTelemetry().probes.empty());
}

TEST(Policies, LayerKnobsBeyondTheModelAreRefusedByName) {
  const Fixture f = loadFixture("tiny-llava");  // 2 layers
  for (const auto& [policy, knob] :
       std::vector<std::pair<std::string, std::string>>{{"hae", "dap.layer"},
                                                        {"hae", "ddes.score_layer"},
                                                        {"fastv", "k"},
                                                        {"mustdrop", "layer"}}) {
    Engine e(f.model, makePolicy(policy, {{knob, "7"}}));
    try {
      e.prefill(f.plan);
      ADD_FAILURE() << policy << " accepted " << knob << "=7";
    } catch (const Error& err) {
      EXPECT_NE(std::string(err.what()).find("'" + knob + "'"), std::string::npos) << err.what();
      EXPECT_NE(std::string(err.what()).find("[0, 1]"), std::string::npos) << err.what();
    }
  }
  EXPECT_THROW(makePolicy("hae", {{"ddes.bin", "-1"}}), Error);
  EXPECT_THROW(makePolicy("nope", {}), Error);
}

}  // namespace
}  // namespace hae::test
