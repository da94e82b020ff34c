// The full-cache shadow (issue 16) on the embedded demo model: with nothing evicted it measures
// exactly zero; under a policy that evicts known tokens its missed attention equals the full
// model's attention on those tokens recomputed by a separate no-cache forward (shared slots and
// per-KV-head caches); it shares the loaded weights; a free-running shadow's divergence, the
// recorded attention, regrets and the reports of a real run.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <set>

#include "engine/engine.h"
#include "engine/regret.h"
#include "engine/shadow.h"
#include "hae/error.h"
#include "hae/report.h"
#include "hae/report_read.h"
#include "hae/session.h"
#include "models/vlm_model.h"

namespace hae::test {
namespace {

const std::string kImage = std::string(HAE_SOURCE_DIR) + "/resources/demo/samples/scene_1.png";
const std::string kPrompt = "describe the image";

std::shared_ptr<VlmModel> demoModel() { return loadModel(demoModelDir(), {}); }

SessionOptions shadowOptions(const std::string& policy, std::map<std::string, std::string> knobs,
                             const std::string& mode = "forced") {
  SessionOptions o;
  o.policy = policy;
  o.knobs = std::move(knobs);
  o.max_new_tokens = 12;
  o.shadow.mode = mode;
  return o;
}

std::vector<StepTelemetry> runSession(Session& s) {
  s.prefill(kPrompt, {kImage});
  while (s.step()) {
  }
  return s.history();
}

void expectExactlyNothingMissed(const std::vector<StepTelemetry>& steps, const std::string& what) {
  ASSERT_GE(steps.size(), 2u) << what;
  for (const auto& t : steps) {
    ASSERT_TRUE(t.shadow) << what << " step " << t.step;
    const ShadowStep& s = *t.shadow;
    EXPECT_EQ(s.kl, 0.0) << what << " step " << t.step;
    EXPECT_EQ(s.total_variation, 0.0) << what << " step " << t.step;
    EXPECT_TRUE(s.top1_agree) << what << " step " << t.step;
    EXPECT_EQ(s.policy_token_rank, 0) << what << " step " << t.step;
    ASSERT_EQ(s.layers.size(), t.layers.size());
    for (const auto& l : s.layers) EXPECT_EQ(l.missed(), 0.0) << what << " step " << t.step;
    ASSERT_EQ(s.top_full.size(), 5u);
    for (std::size_t i = 0; i < 5; ++i) EXPECT_EQ(s.top_full[i].id, s.top_policy[i].id);
    EXPECT_GE(s.ms, 0.0);
  }
}

TEST(Shadow, FullPolicyAndNeutralHaeMeasureExactlyZero) {
  {
    Session s(shadowOptions("full", {}));
    expectExactlyNothingMissed(runSession(s), "full");
    EXPECT_EQ(s.firstDivergenceStep(), -1);
    EXPECT_EQ(s.shadowAnswer(), s.answer());
  }
  // HAE with every threshold at 0, an unbounded active budget and no recycle bin evicts nothing.
  Session s(shadowOptions("hae", {{"dap.r", "0"}, {"ddes.budget", "1000000"}, {"ddes.bin", "0"}}));
  const auto steps = runSession(s);
  expectExactlyNothingMissed(steps, "neutral hae");
  for (const auto& t : steps) EXPECT_TRUE(t.regrets.empty());
}

// A policy that taps every layer in prefill, keeping the last row's probabilities per query head:
// a no-cache forward of prompt + generated tokens whose last row is a decode step's query.
class LastRowTap final : public Policy {
 public:
  std::string name() const override { return "last-row-tap"; }
  std::map<std::string, std::string> settings() const override { return {}; }
  bool wantsPrefillTap(int) const override { return true; }
  std::vector<std::int64_t> prefillQueryRows(const std::vector<SlotMeta>& rows) const override {
    return {static_cast<std::int64_t>(rows.size()) - 1};
  }
  void configureTap(int, bool, AttentionTap& tap) const override { tap.keep_probs = true; }
  void endPrefill(std::vector<AttentionTap>& taps, PolicyContext&) override {
    probs.clear();
    for (auto& t : taps) probs.push_back(t.probs.select(1, 0).to(torch::kFloat64).clone());  // [H, n]
  }
  std::vector<at::Tensor> probs;
};

// [layer] -> [q_heads, tokens] of the query at the end of `ids`, from a separate full forward.
std::vector<at::Tensor> noCacheAttention(const std::shared_ptr<VlmModel>& model, const PromptPlan& plan,
                                         const std::vector<std::int64_t>& generated) {
  auto ids = plan.ids;
  ids.insert(ids.end(), generated.begin(), generated.end());
  auto tap = std::make_unique<LastRowTap>();
  LastRowTap* raw = tap.get();
  Engine e(model, std::move(tap));
  e.prefill(model->planFromIds(ids, plan.pixel_values));
  return raw->probs;
}

// Drives a policy engine and the shadow as Session does (greedy), checking at every decode step
// that the missed mass of each layer equals the no-cache forward's attention on the tokens the
// policy's cache (read before the step, per KV head) did not hold.
void checkMissedAgainstNoCache(const std::string& policy, const std::map<std::string, std::string>& knobs,
                               int steps) {
  auto model = demoModel();
  const PromptPlan plan = model->buildPrompt(kPrompt, {kImage});
  Engine engine(model, makePolicy(policy, knobs));
  ObserveOptions observe;
  observe.visibility = true;
  engine.setObserve(observe);
  ShadowOptions so;
  so.mode = "forced";
  ShadowRun shadow(model, so, {});
  auto logits = engine.prefill(plan);
  StepTelemetry t0 = engine.lastTelemetry();
  shadow.prefill(plan, engine, logits, t0);
  ASSERT_TRUE(t0.shadow);
  std::vector<std::int64_t> generated;
  double largest = 0;
  const int q_heads = model->spec().num_heads;
  for (int s = 1; s <= steps; ++s) {
    const auto token = logits.argmax().item<std::int64_t>();
    // What each layer (and KV head) holds before the step; the step's own token joins it.
    const int n = static_cast<int>(engine.tokens().size()) + 1;
    std::vector<std::vector<std::vector<bool>>> held(engine.cache().numLayers());
    for (int l = 0; l < engine.cache().numLayers(); ++l) {
      const LayerCache& lc = engine.cache().layer(l);
      const int groups = lc.perHead() ? lc.numHeads() : 1;
      held[l].assign(groups, std::vector<bool>(n, false));
      for (int g = 0; g < groups; ++g) {
        for (const SlotMeta& m : lc.perHead() ? lc.headSlots(g) : lc.slots()) held[l][g][m.token] = true;
        held[l][g][n - 1] = true;
      }
      if (!lc.perHead())
        for (int i = 0; i < lc.size(); ++i) ASSERT_TRUE(lc.attended(i)) << "no masks expected";
    }
    logits = engine.decode(token);
    generated.push_back(token);
    StepTelemetry t = engine.lastTelemetry();
    shadow.step(token, engine, logits, t);
    ASSERT_TRUE(t.shadow);
    const auto probs = noCacheAttention(model, plan, generated);
    for (std::size_t l = 0; l < probs.size(); ++l) {
      ASSERT_EQ(probs[l].size(1), n);
      const auto groups = static_cast<int>(held[l].size());
      const int per_group = q_heads / groups;
      double expected = 0;
      auto p = probs[l].accessor<double, 2>();
      for (int q = 0; q < q_heads; ++q)
        for (int tok = 0; tok < n; ++tok)
          if (!held[l][q / per_group][tok]) expected += p[q][tok] / q_heads;
      EXPECT_NEAR(t.shadow->layers[l].missed(), expected, 1e-6) << policy << " step " << s << " layer " << l;
      largest = std::max(largest, expected);
    }
  }
  EXPECT_GT(largest, 1e-3) << policy << ": the case must evict tokens the model attends";
}

TEST(Shadow, MissedMassEqualsTheAttentionOnEvictedTokens) {
  checkMissedAgainstNoCache("streaming", {{"sink", "2"}, {"recent", "8"}}, 6);
}

TEST(Shadow, MissedMassPerKvHeadCaches) {
  checkMissedAgainstNoCache("snapkv", {{"budget", "24"}, {"window", "4"}, {"heads", "per_head"}}, 4);
}

long rssBytes() {
  std::ifstream f("/proc/self/statm");
  long pages = 0, rss = 0;
  f >> pages >> rss;
  return rss * 4096;
}

TEST(Shadow, SharesTheWeightsItsMemoryIsOneCache) {
  auto model = demoModel();
  const PromptPlan plan = model->buildPrompt(kPrompt, {kImage});
  Engine full(model, makePolicy("full", {}));
  const auto logits = full.prefill(plan);  // also warms the allocator and stacks the weights
  const long uses = model.use_count();
  const long before = rssBytes();
  ShadowOptions so;
  so.mode = "forced";
  ShadowRun shadow(model, so, {});
  EXPECT_EQ(model.use_count(), uses + 1);
  EXPECT_EQ(&shadow.engine().model(), model.get());
  StepTelemetry t = full.lastTelemetry();
  shadow.prefill(plan, full, logits, t);
  const long grown = rssBytes() - before;
  // The shadow's cache holds what a full-cache engine holds, byte for byte.
  EXPECT_EQ(shadow.engine().cache().bytesHeld(), full.cache().bytesHeld());
  EXPECT_GE(shadow.engine().cache().bytesHeld(),
            static_cast<std::int64_t>(plan.ids.size()) * model->spec().kvBytesPerToken());
  // A second copy of the weights would add them all; the process grew by far less.
  const std::int64_t weights = model->decodeWeightBytes();
  ASSERT_GT(weights, 2 << 20);
  EXPECT_LT(grown, weights / 2) << "rss grew " << grown << " B; weights " << weights << " B";
}

TEST(Shadow, FreeRunningDivergenceAndShadowAnswer) {
  Session s(shadowOptions("streaming", {{"sink", "1"}, {"recent", "4"}}, "free"));
  const auto steps = runSession(s);
  const int d = s.firstDivergenceStep();
  for (const auto& t : steps) {
    if (t.step == 0 || !t.shadow) continue;
    EXPECT_GE(t.shadow->full_token_id, 0);
    if (d < 0 || t.step < d) EXPECT_EQ(t.shadow->full_token_id, t.token_id) << t.step;
  }
  if (d >= 0 && d < static_cast<int>(steps.size()) && steps[d].shadow)
    EXPECT_NE(steps[d].shadow->full_token_id, steps[d].token_id);
  if (d < 0) EXPECT_EQ(s.shadowAnswer(), s.answer());
  const auto sum = summarizeShadow(steps);
  ASSERT_TRUE(sum);
  EXPECT_EQ(sum->first_divergence, d);
}

TEST(Shadow, RecordedAttentionMatchesTheShadowUnderTheFullPolicy) {
  SessionOptions o = shadowOptions("full", {});
  o.record_attention = true;
  o.max_new_tokens = 4;
  Session s(o);
  const auto steps = runSession(s);
  const int V = static_cast<int>(s.runInfo().visual_tokens.size());
  ASSERT_GT(V, 0);
  for (const auto& t : steps) {
    ASSERT_EQ(t.attention.size(), t.layers.size());
    for (std::size_t l = 0; l < t.attention.size(); ++l) {
      const StepAttention& a = t.attention[l];
      ASSERT_EQ(a.heads, 4);
      ASSERT_EQ(a.weights.size(), static_cast<std::size_t>(a.heads * V));
      for (int v = 0; v < V; ++v) {
        double mean = 0;
        for (int h = 0; h < a.heads; ++h) mean += a.weights[h * V + v] / a.heads;
        EXPECT_NEAR(mean, t.shadow->visual_attention[l][v], 1e-6);
      }
    }
  }
}

TEST(Shadow, RegretTrackerJudgesPurgesAndRestores) {
  std::vector<TokenInfo> tokens(4);
  for (int i = 0; i < 4; ++i) tokens[i].position = 10 + i;
  RegretTracker r(0.1, 2);
  std::vector<std::vector<float>> low(2, std::vector<float>(4, 0.0f)), high = low;
  high[0][1] = 0.5f, high[1][1] = 0.1f;  // mean over layers 0.3 on token 1
  high[0][2] = 0.4f, high[1][2] = 0.0f;  // mean 0.2 on token 2
  std::vector<PolicyEvent> events = {{EventKind::Purge, 1, -1, -1, 11, Modality::Visual, 0},
                                     {EventKind::Restore, 1, -1, -1, 12, Modality::Visual, 0}};
  EXPECT_TRUE(r.step(1, high, events, tokens).empty());  // decided this step: judged from the next
  auto out = r.step(2, high, {}, tokens);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].kind, RegretKind::RegrettedPurge);
  EXPECT_EQ(out[0].position, 11);
  EXPECT_EQ(out[0].event_step, 1);
  EXPECT_EQ(out[0].wanted_step, 2);
  EXPECT_NEAR(out[0].attention, 0.3f, 1e-6);
  EXPECT_EQ(out[1].kind, RegretKind::TimelyRestore);
  EXPECT_TRUE(r.step(3, high, {}, tokens).empty());  // once per token
  // A restore the full model does not attend within the window is not timely.
  r.step(4, low, {{EventKind::Restore, 4, -1, -1, 13, Modality::Visual, 0}}, tokens);
  auto late = high;
  late[0][3] = late[1][3] = 0.9f;
  EXPECT_TRUE(r.step(5, low, {}, tokens).empty());
  EXPECT_TRUE(r.step(6, low, {}, tokens).empty());
  EXPECT_TRUE(r.step(7, late, {}, tokens).empty());  // window 2 ended at step 6
}

TEST(Shadow, ReportsCarryTheShadow) {
  Session s(shadowOptions("streaming", {{"sink", "2"}, {"recent", "8"}}));
  const auto steps = runSession(s);
  const std::string text = reportJson(s.runInfo(), steps, s.answer());
  const RunReport back = readRunReportJson(text, "run.json");
  ASSERT_EQ(back.steps.size(), steps.size());
  bool missed = false;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    ASSERT_TRUE(back.steps[i].shadow);
    const ShadowStep &a = *steps[i].shadow, &b = *back.steps[i].shadow;
    EXPECT_EQ(a.kl, b.kl);
    EXPECT_EQ(a.total_variation, b.total_variation);
    EXPECT_EQ(a.top1_agree, b.top1_agree);
    EXPECT_EQ(a.policy_token_rank, b.policy_token_rank);
    ASSERT_EQ(a.top_full.size(), b.top_full.size());
    EXPECT_EQ(a.top_full[0].text, b.top_full[0].text);
    EXPECT_EQ(a.top_policy[0].prob, b.top_policy[0].prob);
    ASSERT_EQ(a.layers.size(), b.layers.size());
    for (std::size_t l = 0; l < a.layers.size(); ++l) {
      EXPECT_EQ(a.layers[l].missed(), b.layers[l].missed());
      missed = missed || a.layers[l].missed() > 0;
    }
    EXPECT_EQ(a.visual_attention, b.visual_attention);
    EXPECT_EQ(a.ms, b.ms);
  }
  EXPECT_TRUE(missed);
  const std::string csv = reportCsv(s.runInfo(), steps);
  EXPECT_NE(csv.find(",kl,top1_agree,missed_visual,missed_text\r\n"), std::string::npos);
  EXPECT_NE(reportTrace(s.runInfo(), steps).find("missed attention"), std::string::npos);
  const std::string html = reportHtml(s.runInfo(), steps, s.answer());
  EXPECT_NE(html.find("id=\"plot-regret\""), std::string::npos);
  EXPECT_NE(html.find("id=\"plot-missed-attention\""), std::string::npos);
}

TEST(Shadow, BadOptionsNameTheField) {
  SessionOptions o = shadowOptions("full", {}, "bogus");
  try {
    Session s(o);
    FAIL() << "accepted shadow.mode bogus";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("shadow.mode"), std::string::npos) << e.what();
  }
  o.shadow.mode = "forced";
  o.shadow.regret_threshold = std::nan("");
  EXPECT_THROW(Session{o}, hae::Error);
}

}  // namespace
}  // namespace hae::test
