#pragma once
// What one layer's forward let its query token see, taken by the engine right after the layer ran
// and before any policy hook changed the cache: the session's own measurements (the full-cache
// shadow, recorded attention) read these, never the policy's taps, so they cost nothing unless
// asked for and do not change what a policy sees.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "../cache/kv_cache.h"
#include "../text/attention_tap.h"

namespace hae {

struct ObserveOptions {
  bool visibility = false;  // which tokens each layer's cache let the query see (the policy run)
  bool attention = false;   // the query row's attention per query head, in every layer
};

// How a token stood in one layer's cache (or one KV head's, for per-head storage) at the forward.
enum class TokenView : std::uint8_t {
  Absent = 0,  // not stored: never cached (a dropped row) or evicted and compacted away
  Visible,     // stored and attended (a recycle bin that is attended counts here)
  Binned,      // stored in the recycle bin and masked from attention
  Masked,      // stored, masked, not in the bin: freed, waiting for compaction (evicted)
};

struct LayerView {
  bool per_head = false;  // LayerCache::perHead: the heads hold different slots
  // With visibility: [1 or kv_heads][token index] over the run's tokens at the forward.
  std::vector<std::vector<TokenView>> token_view;
  // With attention: the token index of every slot the probabilities run over ([1 or kv_heads]),
  // and the probabilities of the query row, fp32 on the CPU: [q_heads, slots] (shared slots) or
  // one [group heads, head h's slots] per KV head.
  std::vector<std::vector<int>> slot_token;
  std::vector<at::Tensor> probs;
};

// Fills `view` from the layer's cache right after its forward; `tap` holds keep_last_row output
// when attention was observed (nullptr otherwise).
void observeLayer(const LayerCache& cache, int num_tokens, const ObserveOptions& options,
                  const AttentionTap* tap, LayerView& view);

// StepTelemetry::attention from views taken with attention: per layer, each query head's
// probability on the prompt's v-th visual token (heads x visual, row-major; 0 where the layer's
// cache, or that head's KV head, no longer holds it).
std::vector<StepAttention> visualAttention(const std::vector<LayerView>& views,
                                           const std::vector<int>& visual_tokens, int num_tokens);

}  // namespace hae
