#pragma once
// The eviction policy interface. The engine calls the hooks; a policy reads attention through
// taps it asked for and changes the cache through LayerCache::keep / setAttended / setBinned, in
// one batch per hook so compaction is one gather. Policies record what they did as PolicyEvents.
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../cache/kv_cache.h"
#include "../text/llama.h"
#include "hae/knobs.h"
#include "hae/telemetry.h"

namespace hae {

struct ModelSpec;

struct PolicyContext {
  KvCache& cache;
  const ModelSpec& spec;
  const std::vector<TokenInfo>& tokens;  // prompt tokens, then generated ones
  int step = 0;                          // 0 = prefill
  std::vector<PolicyEvent>& events;
};

class Policy {
 public:
  virtual ~Policy() = default;
  virtual std::string name() const = 0;
  virtual std::map<std::string, std::string> settings() const = 0;

  // Prefill: attention taps the policy wants after a layer, over the query rows it chooses
  // (`rows` are the slots of the tokens this forward computes).
  virtual bool wantsPrefillTap(int /*layer*/) const { return false; }
  virtual std::vector<std::int64_t> prefillQueryRows(const std::vector<SlotMeta>& rows) const {
    (void)rows;
    return {};
  }
  // After `layer` ran in prefill. Returning rows (indices into `rows`) drops every other row's
  // hidden state before later layers run, and the policy must already have gathered the caches
  // of layers <= `layer` to match.
  virtual std::optional<std::vector<std::int64_t>> afterPrefillLayer(int /*layer*/,
                                                                     const std::vector<SlotMeta>& /*rows*/,
                                                                     AttentionTap* /*tap*/,
                                                                     PolicyContext& /*ctx*/) {
    return std::nullopt;
  }
  // After the whole prompt is in the cache; taps[layer] holds the taps requested for prefill.
  virtual void endPrefill(std::vector<AttentionTap>& /*taps*/, PolicyContext& /*ctx*/) {}

  // Decode: which layers' last-token attention the policy needs each step.
  virtual bool wantsDecodeTap(int /*layer*/) const { return false; }
  virtual void afterDecodeStep(std::vector<AttentionTap>& /*taps*/, PolicyContext& /*ctx*/) {}
};

struct PolicyInfo {
  std::string name;
  std::string summary;
  std::vector<KnobSpec> knobs;
};

// Every policy this build knows, with its knobs (for --help, validation and the GUI form).
const std::vector<PolicyInfo>& policyCatalog();
// Creates a policy by name; unknown names and invalid knob values throw hae::Error naming the
// knob and its valid range.
std::unique_ptr<Policy> makePolicy(const std::string& name, const std::map<std::string, std::string>& knobs);

}  // namespace hae
