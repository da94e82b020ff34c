#pragma once
// Qwen2-VL and Qwen2.5-VL config.json (model_type qwen2_vl / qwen2_5_vl) with transformers 4.49's
// class defaults for absent keys. The decoder keys sit at the top level (a "text_config" object,
// as later transformers releases write, is read instead when present); the vision tower's keys
// under vision_config mean different things in the two families (see Qwen2VLVisionConfig).
#include <array>
#include <string>
#include <vector>

#include "hae/model_config.h"
#include "hae/weight_manifest.h"

namespace hae {

struct Qwen2VLVisionConfig {
  bool qwen25 = false;  // Qwen2.5-VL tower: RMSNorm, SwiGLU with biases, window attention
  int depth = 32;
  // The ViT width: Qwen2-VL's "embed_dim", Qwen2.5-VL's "hidden_size".
  int width = 1280;
  // The merger's output (= the decoder's hidden size): Qwen2-VL's "hidden_size", Qwen2.5-VL's
  // "out_hidden_size".
  int out_hidden_size = 3584;
  int num_heads = 16;
  // MLP width: Qwen2-VL int(embed_dim * mlp_ratio), Qwen2.5-VL "intermediate_size".
  int intermediate_size = 5120;
  std::string hidden_act = "quick_gelu";
  int in_channels = 3;
  int patch_size = 14;
  int spatial_merge_size = 2;
  int temporal_patch_size = 2;
  // Qwen2.5-VL only.
  int window_size = 112;
  std::vector<int> fullatt_block_indexes = {7, 15, 23, 31};
  double tokens_per_second = 4;

  int headDim() const { return width / num_heads; }
  // One row of pixel_values: channels x frames x patch x patch (1176 for the real models).
  int patchRow() const { return in_channels * temporal_patch_size * patch_size * patch_size; }
  int mergeUnit() const { return spatial_merge_size * spatial_merge_size; }
  // Merged tokens per window side (window_size / merge / patch): 4 for the real 112.
  int windowTokens() const { return window_size / spatial_merge_size / patch_size; }
};

struct Qwen2VLConfig {
  std::string model_type = "qwen2_vl";
  TextConfig text;  // Qwen2 decoder; attention_bias here means q/k/v biases (o_proj has none)
  Qwen2VLVisionConfig vision;
  // rope_scaling.mrope_section: how the rotary channels split over (t, h, w); sums to head_dim/2.
  std::array<int, 3> mrope_section = {16, 24, 24};
  int image_token_id = 151655;
  int video_token_id = 151656;
  int vision_start_token_id = 151652;
  int vision_end_token_id = 151653;
  bool use_sliding_window = false;

  bool qwen25() const { return vision.qwen25; }
};

// The decoder's defaults of Qwen2VLConfig / Qwen2_5_VLConfig (they are the same).
TextConfig qwen2vlTextDefaults();

// <dir>/config.json; errors name the file and the dotted key.
Qwen2VLConfig loadQwen2VLConfig(const std::string& dir);
Qwen2VLConfig parseQwen2VLConfig(const std::string& json, const std::string& file);

// Every checkpoint tensor the config implies (visual.*, model.*, lm_head when untied).
std::vector<ExpectedTensor> qwen2vlManifest(const Qwen2VLConfig& config);

}  // namespace hae
