#pragma once
// Llama decoder (RMSNorm, RoPE, GQA, SwiGLU) as torch::nn modules with HF parameter names, and
// a layer forward that runs on a chunk of new tokens against an evictable KV cache.
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "../cache/kv_cache.h"
#include "attention_tap.h"
#include "hae/model_config.h"
#include "rope.h"

namespace hae {

struct LlamaModelImpl;

// Projections that read the same input, stacked into one matrix at inference (no gradients), so
// that decoding runs one product where it ran two or three. The projections' own weights become
// views of their rows of the stack, so no weight is held twice and loading, initialising or
// training them in place still changes what the stack computes. If a weight is replaced (e.g.
// Module::to), the stack no longer aliases it and is built again.
class StackedRows {
 public:
  // y = x [W_1; W_2; ...]^T (+ biases) for the parts, stacking them first when needed.
  torch::Tensor forward(const std::vector<torch::nn::Linear*>& parts, const torch::Tensor& x);
  // Stacks now: the modules call this when they are built, before any weight is loaded, so the
  // stack is allocated once, in the order the layers are built, and never copied at run time.
  void stack(const std::vector<torch::nn::Linear*>& parts);

 private:
  bool current(const std::vector<torch::nn::Linear*>& parts) const;
  torch::Tensor weight_, bias_;
};

// x W^T + b with decoding's one-row products on the fastest path per dtype (see gemv.h).
torch::Tensor linearRows(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias);

// Bytes one decode step reads from a Llama decoder's tensors: every layer, the final norm and the
// output matrix (lm_head, or the embedding table when tied).
std::int64_t decodeReadBytes(LlamaModelImpl& model, const torch::nn::Linear& lm_head);

struct RmsNormImpl : torch::nn::Module {
  RmsNormImpl(int dim, double eps);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;
  double eps;
};
TORCH_MODULE(RmsNorm);

struct LlamaAttentionImpl : torch::nn::Module {
  explicit LlamaAttentionImpl(const TextConfig& c);
  // q, k and v as one product: [n, (heads + 2 kv_heads) * head_dim].
  torch::Tensor qkv(const torch::Tensor& x);
  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  int heads, kv_heads, head_dim;
  StackedRows qkv_rows;
};
TORCH_MODULE(LlamaAttention);

struct LlamaMlpImpl : torch::nn::Module {
  explicit LlamaMlpImpl(const TextConfig& c);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
  std::string act;
  StackedRows gate_up_rows;
};
TORCH_MODULE(LlamaMlp);

struct LlamaDecoderLayerImpl : torch::nn::Module {
  explicit LlamaDecoderLayerImpl(const TextConfig& c);
  // h: [n, hidden] new tokens; cos/sin for their positions. Appends their K/V (with `metas`) to
  // `cache`, attends over everything the cache holds, returns the layer output [n, hidden].
  torch::Tensor forward(const torch::Tensor& h, const torch::Tensor& positions,
                        const torch::Tensor& cos, const torch::Tensor& sin, LayerCache& cache,
                        const std::vector<SlotMeta>& metas, AttentionTap* tap);
  LlamaAttention self_attn{nullptr};
  LlamaMlp mlp{nullptr};
  RmsNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
};
TORCH_MODULE(LlamaDecoderLayer);

struct LlamaModelImpl : torch::nn::Module {
  explicit LlamaModelImpl(const TextConfig& c);
  torch::nn::Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RmsNorm norm{nullptr};
  LlamaDecoderLayerImpl& layer(int i) { return layers->at<LlamaDecoderLayerImpl>(i); }
};
TORCH_MODULE(LlamaModel);

// transformers 4.49's LlamaRotaryEmbedding with every rope_scaling type ROPE_INIT_FUNCTIONS has
// (modeling_rope_utils.py): default, linear, dynamic (NTK), yarn, longrope, llama3. The tables
// are computed with the same fp32 tensor operations, in the same order, as transformers; cos and
// sin are multiplied by the attention factor (yarn, longrope; 1 elsewhere).
// Two behaviours of 4.49 that later releases changed, kept here: yarn reads factor,
// attention_factor, beta_fast and beta_slow only (correction range from max_position_embeddings,
// always floored / ceiled), and longrope keeps the short factors at every length (the Llama
// rotary never passes a sequence length to it; Phi-3 switches, see LongRope).
class LlamaRotaryEmbedding {
 public:
  LlamaRotaryEmbedding() = default;
  // Throws hae::Error for a type the parser would have refused.
  explicit LlamaRotaryEmbedding(const TextConfig& config);
  // cos, sin [n, head_dim] for int64 positions [n] (fp32, then cast to dtype). "dynamic" takes
  // its table from max(positions) + 1, as transformers' _dynamic_frequency_update does from
  // position_ids: in a prefill that is the prompt length, in a cached decode the new token's
  // position + 1, never the cache length (eviction shrinks that). Up to max_position_embeddings it
  // is the original table, past it the NTK table for that length. Unlike transformers, which
  // keeps the largest table since its last reset, this is a function of the call alone, so a run
  // does not depend on earlier runs; within one prefill-and-decode both agree.
  std::pair<at::Tensor, at::Tensor> cosSin(const at::Tensor& positions, at::ScalarType dtype) const;
  // inv_freq [head_dim / 2] (fp32) of a forward whose largest position is seq_len - 1.
  at::Tensor invFreq(std::int64_t seq_len) const;
  double attentionFactor() const { return attention_factor_; }
  const std::string& type() const { return type_; }

 private:
  std::string type_ = "default";
  at::Tensor inv_freq_;  // dynamic: the table up to max_position_embeddings
  double attention_factor_ = 1.0;
  double theta_ = 10000.0, factor_ = 1.0;  // dynamic's recomputation needs them
  int dim_ = 0, max_positions_ = 0;
};

struct LlamaForCausalLMImpl : torch::nn::Module {
  explicit LlamaForCausalLMImpl(const TextConfig& c);
  torch::Tensor logits(const torch::Tensor& normed);  // uses embed_tokens when tied
  LlamaModel model{nullptr};
  torch::nn::Linear lm_head{nullptr};  // null when tie_word_embeddings
  LlamaRotaryEmbedding rope;
};
TORCH_MODULE(LlamaForCausalLM);

}  // namespace hae
