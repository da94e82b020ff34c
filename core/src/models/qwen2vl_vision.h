#pragma once
// The Qwen2-VL / Qwen2.5-VL vision tower ("visual."): Conv3d patch embedding over
// temporal_patch_size frames, 2-D rotary attention in every block, and the PatchMerger that turns
// each 2x2 group of patches into one decoder token. Qwen2.5-VL's blocks are RMSNorm + SwiGLU and
// attend within windows of merged tokens except in fullatt_block_indexes. HF parameter names.
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include <array>
#include <vector>

#include "../text/llama.h"
#include "hae/qwen2vl_config.h"

namespace hae {

using GridThw = std::array<std::int64_t, 3>;  // (t, h, w) in patches, as image_grid_thw

// What the tower computed besides its output, for `hae dump` and the parity tests; all in the
// processor's patch order.
struct Qwen2VisionTrace {
  std::vector<at::Tensor> hidden_states;        // [0] patch embedding, [i] output of block i-1
  at::Tensor rotary_freqs;                      // [N, head_dim / 2] angles (rows, then columns)
  std::vector<std::int64_t> cu_seqlens;         // per-frame attention boundaries in patches
  std::vector<std::int64_t> window_index;       // Qwen2.5-VL: merged tokens in window order
  std::vector<std::int64_t> cu_window_seqlens;  // Qwen2.5-VL: window boundaries, empty ones dropped
};

// get_window_index of Qwen2.5-VL for grids `grids`: merged-token indices in window order and the
// windows' boundaries in patches (empty windows, quirk Q18, removed).
void qwen25WindowIndex(const std::vector<GridThw>& grids, const Qwen2VLVisionConfig& v,
                       std::vector<std::int64_t>& window_index,
                       std::vector<std::int64_t>& cu_window_seqlens);

struct Qwen2PatchEmbedImpl : torch::nn::Module {
  explicit Qwen2PatchEmbedImpl(const Qwen2VLVisionConfig& v);
  torch::Tensor forward(const torch::Tensor& rows);  // [N, C*T*P*P] -> [N, width]
  torch::nn::Conv3d proj{nullptr};
};
TORCH_MODULE(Qwen2PatchEmbed);

struct Qwen2VisionAttentionImpl : torch::nn::Module {
  explicit Qwen2VisionAttentionImpl(const Qwen2VLVisionConfig& v);
  // With `received` set: also the attention each row received ([N] fp32, heads and the block's
  // query rows averaged).
  // Attention within each [cu[i], cu[i+1]) block of rows; cos/sin [N, head_dim] in fp32.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const std::vector<std::int64_t>& cu, at::Tensor* received = nullptr);
  torch::nn::Linear qkv{nullptr}, proj{nullptr};
  int heads, head_dim;
};
TORCH_MODULE(Qwen2VisionAttention);

struct Qwen2VisionMlpImpl : torch::nn::Module {
  explicit Qwen2VisionMlpImpl(const Qwen2VLVisionConfig& v);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};                                // Qwen2-VL
  torch::nn::Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};  // Qwen2.5-VL
  std::string act;
};
TORCH_MODULE(Qwen2VisionMlp);

// LayerNorm (Qwen2-VL) or RMSNorm (Qwen2.5-VL), eps 1e-6, under one parameter prefix.
struct Qwen2VisionNormImpl : torch::nn::Module {
  Qwen2VisionNormImpl(int dim, bool rms);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight, bias;
  bool rms;
};
TORCH_MODULE(Qwen2VisionNorm);

struct Qwen2VisionBlockImpl : torch::nn::Module {
  explicit Qwen2VisionBlockImpl(const Qwen2VLVisionConfig& v);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const std::vector<std::int64_t>& cu);
  Qwen2VisionNorm norm1{nullptr}, norm2{nullptr};
  Qwen2VisionAttention attn{nullptr};
  Qwen2VisionMlp mlp{nullptr};
};
TORCH_MODULE(Qwen2VisionBlock);

struct Qwen2PatchMergerImpl : torch::nn::Module {
  explicit Qwen2PatchMergerImpl(const Qwen2VLVisionConfig& v);
  torch::Tensor forward(const torch::Tensor& x);  // [N, width] -> [N / 4, out_hidden_size]
  Qwen2VisionNorm ln_q{nullptr};
  torch::nn::Sequential mlp{nullptr};
  int merged_width;
};
TORCH_MODULE(Qwen2PatchMerger);

struct Qwen2VisionTowerImpl : torch::nn::Module {
  explicit Qwen2VisionTowerImpl(const Qwen2VLVisionConfig& v);
  // pixel_values [N, patchRow()] in the processor's order, grids of the images in order; returns
  // the merged tokens [N / 4, out_hidden_size] in the same order.
  torch::Tensor forward(const torch::Tensor& pixel_values, const std::vector<GridThw>& grids,
                        Qwen2VisionTrace* trace = nullptr);
  // [N] fp32 in the processor's order: the attention each patch received in the last block,
  // averaged over the heads and over the query rows of its attention block (image or window);
  // the tower has no CLS token.
  torch::Tensor attentionReceived(const torch::Tensor& pixel_values,
                                  const std::vector<GridThw>& grids);
  Qwen2PatchEmbed patch_embed{nullptr};
  torch::nn::ModuleList blocks{nullptr};
  Qwen2PatchMerger merger{nullptr};
  Qwen2VLVisionConfig config;
};
TORCH_MODULE(Qwen2VisionTower);

}  // namespace hae
