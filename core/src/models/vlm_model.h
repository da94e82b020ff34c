#pragma once
// What the engine needs of a vision-language model family: build the prompt, embed it (text and
// images), run one decoder layer on new tokens against the cache, and produce logits. Each family
// (LLaVA now; Phi-3.5-V and SmolVLM later) implements it in its own file.
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "../cache/kv_cache.h"
#include "../text/llama.h"
#include "hae/telemetry.h"
#include "hae/tokenizer.h"

namespace hae {

struct ModelSpec {
  std::string family;  // "llava"
  std::string name;    // folder name, or "demo"
  int num_layers = 0, num_heads = 0, num_kv_heads = 0, head_dim = 0, hidden_size = 0;
  int vocab_size = 0;
  std::int64_t parameters = 0;
  std::vector<int> eos_ids;
  at::ScalarType dtype = at::kFloat;
  c10::Device device = c10::kCPU;
  // One token in every layer, keys and values, all KV heads.
  std::int64_t kvBytesPerToken() const;
};

struct LoadOptions {
  at::ScalarType float_dtype = at::kFloat;  // fp32 or bf16 on CPU; fp16/bf16 on CUDA
  c10::Device device = c10::kCPU;
  // Idefics3/SmolVLM: the first resize target of an image's longest edge in pixels, overriding
  // preprocessor_config.json (0: keep it). 512 or less gives one tile; SmolVLM's 2048 gives up to
  // 4x4 tiles plus a global image.
  int image_longest_edge = 0;
  // Phi-3.5-V: the most 336 px sub-crops of one image, overriding preprocessor_config.json's
  // num_crops (0: keep it; the model card suggests 16 for one image, 4 for several).
  int image_num_crops = 0;
  // Qwen2-VL / Qwen2.5-VL: smart_resize's pixel bounds, overriding preprocessor_config.json's
  // min_pixels / max_pixels (0: keep them).
  long long image_min_pixels = 0;
  long long image_max_pixels = 0;
};

// The prompt as the model consumes it, with each token's metadata for the cache and the views.
struct PromptPlan {
  std::vector<std::int64_t> ids;      // image positions hold the family's image token id
  std::vector<TokenInfo> tokens;      // one per id
  std::vector<ImageInfo> images;
  at::Tensor pixel_values;            // family-specific layout, empty without images
  // M-RoPE families (Qwen2-VL, Qwen2.5-VL): int64 [images, 3] (t, h, w) patches per image, each
  // token's rotary (t, h, w) position, and rope_deltas (decoding rotates token i at i + delta).
  // Empty for 1-D RoPE families, whose rotary position is TokenInfo::position.
  at::Tensor image_grid_thw;
  std::vector<std::array<int, 3>> mrope_positions;
  int rope_delta = 0;
};

// Intermediate results `hae dump` writes next to the logits.
struct ImageOutputs {
  at::Tensor vision_features;  // what the projector consumes
  at::Tensor image_embeds;     // projector output
  std::vector<at::Tensor> vision_hidden_states;
};

class VlmModel {
 public:
  virtual ~VlmModel() = default;
  virtual const ModelSpec& spec() const = 0;
  virtual const Tokenizer* tokenizer() const = 0;  // null when the folder has no tokenizer.json
  // A chat prompt for `question` about the images (files). "<image>" in the question places an
  // image there; otherwise images come first, as the family's chat template does.
  virtual PromptPlan buildPrompt(const std::string& question,
                                 const std::vector<std::string>& image_paths) const = 0;
  // The plan for ready-made inputs (token ids with image placeholders, preprocessed pixels), as
  // `hae dump` reads them from a reference file.
  virtual PromptPlan planFromIds(const std::vector<std::int64_t>& ids, const at::Tensor& pixel_values) const = 0;
  // The same with each image's patch grid (Qwen2-VL's image_grid_thw [images, 3]); families
  // whose pixel layout fixes the grids ignore it.
  virtual PromptPlan planFromInputs(const std::vector<std::int64_t>& ids,
                                    const at::Tensor& pixel_values,
                                    const at::Tensor& /*image_grid_thw*/) const {
    return planFromIds(ids, pixel_values);
  }
  // Input embeddings [n, hidden] for ids [n] with image features merged at the image positions.
  virtual at::Tensor embed(const at::Tensor& ids, const at::Tensor& pixel_values,
                           ImageOutputs* outputs = nullptr) = 0;
  // embed() for a whole plan: families that need more of it than pixel_values (Qwen2-VL's grids)
  // override this.
  virtual at::Tensor embedPlan(const at::Tensor& ids, const PromptPlan& plan,
                               ImageOutputs* outputs = nullptr) {
    return embed(ids, plan.pixel_values, outputs);
  }
  // cos/sin for positions [n]; `kv_length` is what the cache will hold (LongRoPE needs it).
  virtual std::pair<at::Tensor, at::Tensor> rotary(const at::Tensor& positions, int kv_length) = 0;
  // Which rotary table set rotary() uses for a cache of kv_length tokens (LongRoPE: 0 short,
  // 1 long; one set elsewhere). When it changes at a decode step, the keys already cached were
  // rotated with the other set, so the engine recomputes them (Engine::decode).
  virtual int rotaryRegime(int /*kv_length*/) const { return 0; }
  virtual at::Tensor layerForward(int layer, const at::Tensor& h, const at::Tensor& positions,
                                  const at::Tensor& cos, const at::Tensor& sin, LayerCache& cache,
                                  const std::vector<SlotMeta>& metas, AttentionTap* tap) = 0;
  virtual at::Tensor finalNorm(const at::Tensor& h) = 0;
  virtual at::Tensor logits(const at::Tensor& normed) = 0;
  virtual std::string describe() const = 0;  // architecture summary for `hae inspect`
  // Bytes one decode step reads from the model's own tensors (decoder layers, final norm, output
  // matrix; not the vision path), for `hae profile`'s memory bound. 0 where a family does not say.
  virtual std::int64_t decodeWeightBytes() { return 0; }
  // The V hook's tower tap: [n] fp32 over the plan's rows, the attention each image row's
  // patch(es) received in the vision tower's feature layer, heads averaged: the CLS row where the
  // tower has a CLS token (*has_cls = true), else the mean over query rows; summed over the
  // patches a merged row covers; 0 on other rows. Undefined when the family has none, with the
  // reason in *missing. Runs the tower again (policy time, not model time).
  virtual at::Tensor towerAttention(const PromptPlan& /*plan*/, bool* /*has_cls*/,
                                    std::string* missing) {
    if (missing) *missing = "the " + spec().family + " family exposes no vision-tower attention";
    return {};
  }
};

// The spec fields every family fills the same way from its decoder's config (parameters excepted).
ModelSpec decoderSpec(std::string family, std::string name, const TextConfig& text,
                      const LoadOptions& options);

// Reads config.json and dispatches on model_type. Throws hae::Error naming the file and field.
std::unique_ptr<VlmModel> loadModel(const std::string& dir, const LoadOptions& options);
// Same architecture with seeded random weights, for profiling at real size without weights.
std::unique_ptr<VlmModel> randomModel(const std::string& config_path, const LoadOptions& options,
                                      std::uint64_t seed);

}  // namespace hae
