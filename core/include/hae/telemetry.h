#pragma once
// Plain value types that describe a run: what the prompt holds, where each visual token sits on
// the image, and what the cache and the policy did at every step. No torch and no Qt types, so
// the GUI, the report writers and the tests can all hold them.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace hae {

enum class Modality : std::uint8_t { Prefix = 0, Visual, Separator, Text, Generated };
constexpr int kModalityCount = 5;
const char* modalityName(Modality m);

// Where a visual token's patch lies: in original image pixels, so a view can draw it on the image
// the user opened whatever resize / crop / tiling the preprocessing did.
struct PatchRect {
  float x = 0, y = 0, w = 0, h = 0;
};

// One grid of visual tokens (a LLaVA image, a Phi-3.5-V crop or global view, a SmolVLM tile).
struct CropGrid {
  int image = 0;     // which image of the prompt
  int crop = 0;      // index of this grid within the image
  int rows = 0, cols = 0;
  PatchRect region;  // the part of the original image this grid covers
  bool global = false;  // a downscaled whole-image view (drawn separately by the GUI)
};

struct ImageInfo {
  std::string path;
  int width = 0, height = 0;  // original pixels
  std::vector<CropGrid> grids;
};

// One prompt token (or generated token) and its place in the cache.
struct TokenInfo {
  int position = 0;  // original position in the sequence
  int id = 0;
  Modality modality = Modality::Text;
  std::string text;  // decoded piece ("" for visual tokens)
  int image = -1, crop = -1, row = -1, col = -1;  // visual tokens only
};

enum class PatchState : std::uint8_t { Kept = 0, InBin, Evicted };

enum class EventKind : std::uint8_t { Evict = 0, Demote, Restore, Purge };
const char* eventKindName(EventKind k);

struct PolicyEvent {
  EventKind kind = EventKind::Evict;
  int step = 0;       // 0 = prefill
  int layer = -1;     // -1: all layers at once (HAE's broadcast decisions)
  int head = -1;      // -1: all KV heads
  int position = 0;   // original position of the token
  Modality modality = Modality::Text;
  float score = 0;
};

struct LayerStats {
  int live[kModalityCount] = {};  // live (attended) slots by modality (per-head caches: a head's mean)
  int bin = 0;                    // slots in the recycle bin (still stored)
  std::int64_t bytes = 0;         // bytes the layer's K/V storage holds now
  double ms = 0;                  // model compute time of this layer in this step
};

// Optional observation probes (HAE's three observations), filled when asked for.
struct LayerProbe {
  double attn_variance[kModalityCount] = {};  // variance of cumulative attention per modality
  double sparsity[kModalityCount] = {};       // share of probabilities below the threshold
  double overlap_with_first = -1;             // overlap of layer-0's kept set with this layer's
};

// A token a policy built from several patches (VisionZip's contextual tokens): it sits at
// `position` and stands for the patches at `members` (original positions, its own included).
struct MergedToken {
  int position = 0;
  std::vector<int> members;
};

// Issue 16: what eviction cost, measured against a full-cache shadow run over the same weights
// (teacher-forced on the policy run's tokens, or free-running on its own).
struct ShadowLayer {
  // The full model's attention (mean over query heads, query = this step's token) on tokens that
  // this layer's policy cache no longer attends, by modality: evicted for good, and waiting in the
  // recycle bin. Per-KV-head caches count a token as missing for the heads that dropped it.
  float missed_evicted[kModalityCount] = {};
  float missed_binned[kModalityCount] = {};
  double missed() const;  // everything the policy's cache could not show this layer
};

struct TokenChoice {
  int id = 0;
  float prob = 0;
  std::string text;
};

struct ShadowStep {
  double kl = 0;               // KL(full || policy) of the next-token distributions
  double total_variation = 0;  // 0.5 * sum |p_full - p_policy|
  bool top1_agree = true;      // the two argmaxes agree
  int policy_token_rank = 0;   // rank under the full model of the token the policy run chose (0 = its top)
  int full_token_id = -1;      // free-running: the token the full cache chose itself
  std::vector<TokenChoice> top_full, top_policy;  // top-5 of each
  std::vector<ShadowLayer> layers;
  // [layer][v]: the full model's attention (head mean) on the prompt's v-th visual token.
  std::vector<std::vector<float>> visual_attention;
  double ms = 0;  // the shadow's own time this step, apart from model_ms / policy_ms
};

// HAE's recycle bin judged by the shadow: a purged token the full model later attended above the
// threshold (regretted), or a restored token it attended within k steps of the restore (timely).
enum class RegretKind : std::uint8_t { RegrettedPurge = 0, TimelyRestore };
struct RegretEvent {
  RegretKind kind = RegretKind::RegrettedPurge;
  int position = 0;    // original position of the token
  int layer = -1;      // -1: all layers (HAE's broadcast decisions)
  int event_step = 0;  // when it was purged / restored
  int wanted_step = 0; // when the full model attended it above the threshold
  float attention = 0; // that attention (head mean)
};
const char* regretKindName(RegretKind k);  // "regretted_purge", "timely_restore"

// One layer's attention of the step's query token over the prompt's visual tokens, recorded when
// SessionOptions::record_attention is set (the studio's attention heat map).
struct StepAttention {
  int heads = 0;               // query heads
  std::vector<float> weights;  // heads x visual tokens, row-major (softmax probabilities)
};

struct StepTelemetry {
  int step = 0;                 // 0 = prefill, then 1, 2, ... per generated token
  int token_id = -1;            // generated token (-1 for prefill)
  std::string token_text;
  int context_length = 0;       // tokens seen so far (prompt + generated)
  double model_ms = 0;          // forward compute
  double policy_ms = 0;         // policy's own work: scoring, bookkeeping, compaction
  std::vector<LayerStats> layers;
  std::vector<PolicyEvent> events;
  // patch_states[layer][v]: state of the v-th visual token of the prompt in that layer.
  std::vector<std::vector<PatchState>> patch_states;
  std::vector<LayerProbe> probes;  // empty unless probes were requested
  std::vector<MergedToken> merged;  // prefill only; empty unless a policy merged tokens
  std::optional<ShadowStep> shadow;   // with a shadow (SessionOptions::shadow)
  std::vector<RegretEvent> regrets;   // shadow + HAE: judged at this step
  std::vector<StepAttention> attention;  // [layer], with SessionOptions::record_attention
  std::int64_t totalBytes() const;
  int liveSlots(int layer) const;
};

// Everything fixed for one run; steps arrive as StepTelemetry.
struct RunInfo {
  std::string model_name;
  std::string model_path;
  std::string policy_name;
  std::map<std::string, std::string> knobs;  // the policy's settings as text
  std::string prompt;
  int num_layers = 0;
  std::int64_t kv_bytes_per_token = 0;  // one token in every layer, all KV heads
  std::string device;
  int threads = 0;
  std::vector<TokenInfo> tokens;  // the prompt as the model sees it
  std::vector<int> visual_tokens;  // indices into tokens of the visual ones, in order
  std::vector<ImageInfo> images;
};

}  // namespace hae
