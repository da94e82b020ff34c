#pragma once
// The Phi-3 decoder. Its layers compute exactly what Llama's do (RMSNorm, MHA/GQA, SwiGLU with
// gate first); only the checkpoint fuses q/k/v into qkv_proj and gate/up into gate_up_proj. The
// fused tensors are split on load into LlamaDecoderLayer's projections, so Phi-3 shares the one
// attention-over-cache path, its eviction hooks and attention taps with every other family.
// What is Phi-3's own is LongRoPE ("su"/"longrope"): two frequency tables and a q/k scale.
#include <ATen/core/Tensor.h>

#include <string>
#include <utility>

#include "../models/vlm_model.h"
#include "hae/model_config.h"
#include "hae/safetensors.h"
#include "llama.h"

namespace hae {

// LongRoPE: inv_freq[i] = 1 / (factor[i] * theta^(2i/d)) with the short or the long factor list,
// and cos and sin both multiplied by the attention factor sqrt(1 + ln(max/orig) / ln(orig)).
// Without rope_scaling (Phi-3-mini-4k) both lists are ones and the factor is 1: plain RoPE.
class LongRope {
 public:
  enum class Factors { Short, Long };
  LongRope() = default;
  explicit LongRope(const TextConfig& config);

  // THE switch rule, as the Phi-3.5-vision hub code applies it: long factors once the KV cache
  // will hold more than original_max_position_embeddings tokens (new tokens included). Keys
  // already cached keep the rotation they were stored with; the engine recomputes the cache at the
  // crossing when nothing was evicted (Engine::decode), as transformers' generate() does.
  // With eviction the cache holds fewer tokens than the positions reached, so the switch comes
  // later than in an unevicted run (transformers' native Phi-3 decides on max position + 1
  // instead; both agree whenever nothing was evicted).
  Factors factorsFor(int kv_length) const {
    return kv_length > original_max_ ? Factors::Long : Factors::Short;
  }
  // cos, sin [n, head_dim] in fp32 (scaled), cast to dtype.
  std::pair<at::Tensor, at::Tensor> cosSin(const at::Tensor& positions, Factors factors,
                                           at::ScalarType dtype) const;
  const at::Tensor& invFreq(Factors f) const { return f == Factors::Long ? long_inv_ : short_inv_; }
  double attentionFactor() const { return attention_factor_; }
  int originalMaxPositions() const { return original_max_; }
  bool scaled() const { return scaled_; }

 private:
  at::Tensor short_inv_, long_inv_;
  double attention_factor_ = 1.0;
  int original_max_ = 0;
  bool scaled_ = false;
};

const char* factorsName(LongRope::Factors f);

// Copies a Phi-3 decoder's weights (HF names below `prefix`: model.*, lm_head) into a Llama module
// tree, splitting qkv_proj rows [Q | K | V] and gate_up_proj rows [gate | up]. Errors name the
// tensor and the file, as loadModuleWeights does.
void loadPhi3DecoderWeights(LlamaForCausalLMImpl& lm, const SafetensorsArchive& archive,
                            const std::string& prefix, const LoadOptions& options);

}  // namespace hae
