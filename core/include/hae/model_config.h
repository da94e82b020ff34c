#pragma once
// Typed views of a Hugging Face model folder's JSON files (config.json, generation_config.json,
// preprocessor_config.json). Real configs omit most keys and rely on the defaults of the
// transformers 4.49 config classes, so every struct starts from those defaults and the parsers
// overwrite only what the file sets. Field names follow the JSON keys.
#include <optional>
#include <string>
#include <vector>

namespace hae {

// rope_scaling of a text config. Which fields matter depends on rope_type. For a Llama text
// model (llava, idefics3) the parser accepts exactly transformers 4.49's types (default, linear,
// dynamic, yarn, longrope, llama3) and refuses a missing required key; Phi-3 checks its own.
struct RopeScaling {
  std::string rope_type = "default";  // JSON "rope_type" or legacy "type" ("type" wins when both
                                      // are set, as in LlamaConfig); "su" becomes longrope
  double factor = 1.0;
  std::optional<int> original_max_position_embeddings;  // llama3 (rope_scaling's own key)
  std::vector<double> short_factor, long_factor;            // longrope
  std::optional<double> low_freq_factor, high_freq_factor;  // llama3
  std::optional<double> attention_factor;                   // longrope, yarn
  std::optional<double> beta_fast, beta_slow;               // yarn
};

// The decoder. model_type picks the defaults for absent keys ("llama" now; phi3, etc. later).
struct TextConfig {
  std::string model_type = "llama";
  int vocab_size = 32000;
  int hidden_size = 4096;
  int intermediate_size = 11008;
  int num_hidden_layers = 32;
  int num_attention_heads = 32;
  int num_key_value_heads = 32;  // absent or null: = num_attention_heads
  int head_dim = 128;            // absent or null: hidden_size / num_attention_heads
  std::string hidden_act = "silu";
  int max_position_embeddings = 2048;
  std::optional<int> original_max_position_embeddings;  // phi3 LongRoPE
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  std::optional<RopeScaling> rope_scaling;  // null: plain RoPE
  double partial_rotary_factor = 1.0;
  bool attention_bias = false;
  bool mlp_bias = false;
  bool tie_word_embeddings = false;
  std::optional<int> bos_token_id = 1;
  std::vector<int> eos_token_ids = {2};  // "eos_token_id": an int or a list
  std::optional<int> pad_token_id;
  std::optional<int> sliding_window;
};

// A CLIP vision tower (CLIPVisionConfig). SigLIP for Idefics3 will reuse it with other defaults.
struct VisionConfig {
  std::string model_type = "clip_vision_model";
  int hidden_size = 768;
  int intermediate_size = 3072;
  int num_hidden_layers = 12;
  int num_attention_heads = 12;
  int num_channels = 3;
  int image_size = 224;
  int patch_size = 32;
  int projection_dim = 512;
  std::string hidden_act = "quick_gelu";
  double layer_norm_eps = 1e-5;

  int headDim() const { return hidden_size / num_attention_heads; }
  int gridSize() const { return image_size / patch_size; }  // patches per side
  int numPatches() const { return gridSize() * gridSize(); }
};

struct LlavaConfig {
  // Absent vision_config: the llava-1.5 CLIP ViT-L/14-336 (see loadLlavaConfig).
  VisionConfig vision;
  TextConfig text;
  int image_token_index = 32000;
  std::string projector_hidden_act = "gelu";
  std::vector<int> vision_feature_layers = {-2};  // "vision_feature_layer": an int or a list
  std::string vision_feature_select_strategy = "default";  // "default" drops CLS, "full" keeps it
  bool multimodal_projector_bias = true;
  int image_seq_length = 576;
  int ignore_index = -100;
  std::optional<int> pad_token_id;  // top-level; text.pad_token_id is the decoder's own
  bool tie_word_embeddings = false;
};

// generation_config.json, with GenerationConfig's defaults.
struct GenerationConfig {
  std::optional<int> bos_token_id;
  std::vector<int> eos_token_ids;  // "eos_token_id": an int or a list
  std::optional<int> pad_token_id;
  int max_length = 20;
  std::optional<int> max_new_tokens;
  bool do_sample = false;
  double temperature = 1.0;
  int top_k = 50;
  double top_p = 1.0;
  double repetition_penalty = 1.0;
};

// model_type of <dir>/config.json; throws hae::Error for a missing file, invalid JSON or an
// architecture this build cannot run ("... model_type 'xyz' is not supported (supported: llava)").
std::string detectModelType(const std::string& dir);

// <dir>/config.json of a LLaVA model. Every error names the file and the dotted key.
LlavaConfig loadLlavaConfig(const std::string& dir);
// The same from JSON text; `file` names the source in error messages.
LlavaConfig parseLlavaConfig(const std::string& json, const std::string& file);

// <dir>/generation_config.json; nullopt when the folder has none (transformers then derives one
// from config.json).
std::optional<GenerationConfig> loadGenerationConfig(const std::string& dir);
GenerationConfig parseGenerationConfig(const std::string& json, const std::string& file);

}  // namespace hae
