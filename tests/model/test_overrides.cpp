// What-if edits over any policy (force keep / force evict) and compress once, ask many, through the
// public Session on the embedded demo model.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "hae/error.h"
#include "hae/session.h"

namespace hae {
namespace {

const std::string kImage = std::string(HAE_SOURCE_DIR) + "/resources/demo/samples/scene_1.png";

SessionOptions demoOptions() {
  SessionOptions o;
  o.model_dir = std::string(HAE_SOURCE_DIR) + "/resources/demo/model";
  o.max_new_tokens = 8;
  return o;
}

void runToEnd(Session& s, const std::string& question) {
  s.prefill(question, {kImage});
  while (s.step()) {
  }
}

int visualPosition(const Session& s, int v) {
  const RunInfo& run = s.runInfo();
  return run.tokens.at(run.visual_tokens.at(v)).position;
}

// The first visual token the run evicted from layer `layer` at the last step, or -1.
int firstEvicted(const Session& s, int layer) {
  const auto& states = s.history().back().patch_states.at(layer);
  for (std::size_t v = 0; v < states.size(); ++v)
    if (states[v] == PatchState::Evicted) return static_cast<int>(v);
  return -1;
}

int heldSlots(const StepTelemetry& t) {
  int n = 0;
  for (std::size_t l = 0; l < t.layers.size(); ++l) n += t.liveSlots(static_cast<int>(l)) + t.layers[l].bin;
  return n;
}

struct Case {
  std::string policy;
  std::map<std::string, std::string> knobs;
};

// One policy of each stage and storage: V (uniform), P (fastv), K at the end of prefill with
// per-head storage (snapkv), K at every step (streaming, h2o per head), HAE (DAP + bin).
const std::vector<Case> kCases = {
    {"uniform", {{"ratio", "0.75"}}},
    {"fastv", {{"ratio", "0.75"}, {"k", "1"}}},
    {"snapkv", {{"budget", "24"}, {"window", "4"}}},
    {"streaming", {{"sink", "2"}, {"recent", "16"}}},
    {"h2o", {{"heavy_ratio", "0.1"}, {"recent_ratio", "0.1"}}},
    {"hae", {{"dap.r", "0.05"}}},
};

TEST(WhatIf, ForceKeptPatchSurvivesEveryPolicyThatWouldEvictIt) {
  Session s(demoOptions());
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.policy);
    s.setOverrides({});
    s.setPolicy(c.policy, c.knobs);
    runToEnd(s, "What color is the circle?");
    const int layers = s.runInfo().num_layers;
    const int v = firstEvicted(s, layers - 1);
    ASSERT_GE(v, 0) << "the policy evicted nothing to protect";
    const int position = visualPosition(s, v);

    KeepOverrides edits;
    edits.force_keep = {position};
    s.setOverrides(edits);
    runToEnd(s, "What color is the circle?");
    for (const StepTelemetry& t : s.history())
      for (int l = 0; l < layers; ++l)
        EXPECT_EQ(t.patch_states[l][v], PatchState::Kept) << "step " << t.step << " layer " << l;
    for (const StepTelemetry& t : s.history())
      for (const PolicyEvent& e : t.events)
        EXPECT_NE(e.position, position) << "an event names the force-kept token at step " << t.step;
    EXPECT_EQ(s.runInfo().knobs.at("override.keep"), std::to_string(position));
  }
}

TEST(WhatIf, ForceEvictedPatchIsGoneFromEveryLayer) {
  Session s(demoOptions());
  for (const Case& c : {Case{"full", {}}, kCases[3], kCases[5]}) {
    SCOPED_TRACE(c.policy);
    s.setPolicy(c.policy, c.knobs);
    KeepOverrides edits;
    s.setOverrides(edits);
    s.prefill("What color is the circle?", {kImage});
    const auto& kept_then = s.history().front().patch_states.back();
    const int v = static_cast<int>(std::find(kept_then.begin(), kept_then.end(), PatchState::Kept) -
                                   kept_then.begin());
    ASSERT_LT(v, static_cast<int>(kept_then.size())) << "the policy kept no visual token";
    const int position = visualPosition(s, v);
    edits.force_evict = {position};
    s.setOverrides(edits);
    runToEnd(s, "What color is the circle?");
    for (const StepTelemetry& t : s.history())
      for (std::size_t l = 0; l < t.patch_states.size(); ++l)
        EXPECT_EQ(t.patch_states[l][v], PatchState::Evicted) << "step " << t.step << " layer " << l;
    int events = 0;
    for (const PolicyEvent& e : s.history().front().events)
      if (e.position == position) {
        ++events;
        EXPECT_EQ(e.layer, -1);
      }
    EXPECT_EQ(events, 1);
    EXPECT_EQ(s.runInfo().knobs.at("override.evict"), std::to_string(position));
    // The prompt's other visual tokens of the full cache are all still there.
    if (c.policy == "full")
      for (std::size_t u = 0; u < s.history().back().patch_states[0].size(); ++u)
        if (static_cast<int>(u) != v) EXPECT_EQ(s.history().back().patch_states[0][u], PatchState::Kept);
  }
}

TEST(WhatIf, BadEditsNameThePosition) {
  Session s(demoOptions());
  KeepOverrides edits;
  edits.force_keep = {100000};
  s.setOverrides(edits);
  try {
    s.prefill("What color is the circle?", {kImage});
    FAIL() << "an edit outside the prompt was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("100000"), std::string::npos) << e.what();
  }
  edits.force_keep = {3};
  edits.force_evict = {3};
  s.setOverrides(edits);
  try {
    s.prefill("What color is the circle?", {kImage});
    FAIL() << "a position both kept and evicted was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("both"), std::string::npos) << e.what();
  }
}

// With the full cache, compressing "for" one question and then asking another answers exactly as
// asking the second one directly: the first question leaves the cache entirely.
TEST(CompressOnce, FullCacheAnswersAsIfAskedDirectly) {
  Session s(demoOptions());
  for (const std::string question : {"What color is the circle?", "describe the image."}) {
    SCOPED_TRACE(question);
    runToEnd(s, question);
    const std::string direct = s.answer();
    const int direct_slots = heldSlots(s.history().front());

    s.prefill("How many shapes are there?", {kImage});
    const StepTelemetry& asked = s.ask(question);
    EXPECT_EQ(asked.step, 0);
    EXPECT_EQ(heldSlots(asked), direct_slots) << "the first question is still cached";
    while (s.step()) {
    }
    EXPECT_EQ(s.answer(), direct);
    EXPECT_EQ(s.runInfo().knobs.at("compressed_with"), "How many shapes are there?");
    EXPECT_EQ(s.runInfo().prompt, question);
  }
}

TEST(CompressOnce, AQueryAwarePolicyKeepsWhatTheFirstQuestionChose) {
  Session s(demoOptions());
  s.setPolicy("snapkv", {{"budget", "24"}, {"window", "4"}});
  s.prefill("How many shapes are there?", {kImage});
  const auto compressed = s.history().front().patch_states;
  s.ask("What color is the circle?");
  // SnapKV decided once, at the end of the first prefill: the visual tokens it kept then are
  // what the second question is answered from.
  EXPECT_EQ(s.history().front().patch_states, compressed);
  while (s.step()) {
  }
  EXPECT_FALSE(s.answer().empty());
}

TEST(CompressOnce, RefusesWithoutAPrefill) {
  Session s(demoOptions());
  EXPECT_THROW(s.ask("What color is the circle?"), Error);
}

}  // namespace
}  // namespace hae
