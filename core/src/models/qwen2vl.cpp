#include "qwen2vl.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <filesystem>

#include "hae/error.h"
#include "weights.h"

namespace hae {

namespace nn = torch::nn;
namespace fs = std::filesystem;

Qwen2VLNetImpl::Qwen2VLNetImpl(const Qwen2VLConfig& c) {
  visual = register_module("visual", Qwen2VisionTower(c.vision));
  // Qwen2's attention is Llama's with biases on q, k and v only: build the layers with biases and
  // give o_proj a bias-free Linear, so the shared layer forward (cache, taps, per-head storage)
  // runs unchanged.
  TextConfig text = c.text;
  text.attention_bias = true;
  model = register_module("model", LlamaModel(text));
  const int q_width = text.num_attention_heads * text.head_dim;
  for (int l = 0; l < text.num_hidden_layers; ++l) {
    auto& attn = *model->layer(l).self_attn;
    attn.o_proj = attn.replace_module(
        "o_proj", nn::Linear(nn::LinearOptions(q_width, text.hidden_size).bias(false)));
  }
  if (!text.tie_word_embeddings)
    lm_head = register_module(
        "lm_head", nn::Linear(nn::LinearOptions(text.hidden_size, text.vocab_size).bias(false)));
}

Qwen2VLModel::Qwen2VLModel(Qwen2VLConfig config, std::optional<Tokenizer> tokenizer,
                           Qwen2VLPreprocessConfig preprocess, std::string name,
                           const LoadOptions& options)
    : config_(std::move(config)),
      tokenizer_(std::move(tokenizer)),
      preprocess_(preprocess),
      rope_(config_.text.head_dim, config_.text.rope_theta, config_.mrope_section) {
  const auto& v = config_.vision;
  // The processor's patches must be the tower's: one pixel_values row is one Conv3d input.
  if (preprocess_.patch_size != v.patch_size ||
      preprocess_.temporal_patch_size != v.temporal_patch_size ||
      preprocess_.merge_size != v.spatial_merge_size)
    throw Error(fmt::format(
        "preprocessor_config.json: patch_size {}, temporal_patch_size {}, merge_size {} differ "
        "from config.json's vision_config ({}, {}, {})",
        preprocess_.patch_size, preprocess_.temporal_patch_size, preprocess_.merge_size,
        v.patch_size, v.temporal_patch_size, v.spatial_merge_size));
  if (v.in_channels != 3)
    throw Error(fmt::format("config.json: vision_config.in_channels {}: images have 3 channels",
                            v.in_channels));
  if (options.image_min_pixels > 0) preprocess_.min_pixels = options.image_min_pixels;
  if (options.image_max_pixels > 0) preprocess_.max_pixels = options.image_max_pixels;
  if (preprocess_.min_pixels > preprocess_.max_pixels)
    throw Error(fmt::format("image min pixels {} is larger than max pixels {}",
                            preprocess_.min_pixels, preprocess_.max_pixels));
  {
    ConstructInDtype in_load_dtype(options.float_dtype);
    net_ = Qwen2VLNet(config_);
  }
  net_->eval();
  spec_ = decoderSpec(config_.model_type, std::move(name), config_.text, options);
  spec_.parameters = countParameters(*net_);
  net_->to(options.device, options.float_dtype);
}

std::vector<GridThw> Qwen2VLModel::gridsOf(const at::Tensor& image_grid_thw) {
  if (!image_grid_thw.defined()) return {};
  if (image_grid_thw.dim() != 2 || image_grid_thw.size(1) != 3)
    throw Error(fmt::format("image_grid_thw has shape [{}]; expected [images, 3]",
                            fmt::join(image_grid_thw.sizes(), ", ")));
  auto g = image_grid_thw.to(torch::kInt64).contiguous();
  std::vector<GridThw> out;
  for (std::int64_t i = 0; i < g.size(0); ++i)
    out.push_back(
        {g[i][0].item<std::int64_t>(), g[i][1].item<std::int64_t>(), g[i][2].item<std::int64_t>()});
  return out;
}

at::Tensor Qwen2VLModel::imageEmbeds(const at::Tensor& pixel_values,
                                     const std::vector<GridThw>& grids, Qwen2VisionTrace* trace) {
  return net_->visual->forward(pixel_values.to(spec_.device, spec_.dtype), grids, trace);
}

at::Tensor Qwen2VLModel::embed(const at::Tensor& ids, const at::Tensor& pixel_values,
                               ImageOutputs* outputs) {
  PromptPlan plan;
  plan.pixel_values = pixel_values;
  return embedPlan(ids, plan, outputs);
}

at::Tensor Qwen2VLModel::embedPlan(const at::Tensor& ids, const PromptPlan& plan,
                                   ImageOutputs* outputs) {
  auto ids_dev = ids.to(spec_.device);
  if (ids_dev.numel() &&
      (ids_dev.min().item<int64_t>() < 0 || ids_dev.max().item<int64_t>() >= spec_.vocab_size))
    throw Error(fmt::format("input_ids: ids must lie in [0, {})", spec_.vocab_size));
  auto embeds = net_->model->embed_tokens(ids_dev);
  // A decode step (no pixels) embeds an image-pad id like any token, as transformers' cached
  // decode does.
  if (!plan.pixel_values.defined()) return embeds;
  auto image_mask = ids_dev == config_.image_token_id;
  const int64_t image_tokens = image_mask.sum().item<int64_t>();
  if (!plan.image_grid_thw.defined())
    throw Error("pixel_values without image_grid_thw: Qwen2-VL needs each image's (t, h, w) grid");
  Qwen2VisionTrace trace;
  auto image_embeds =
      imageEmbeds(plan.pixel_values, gridsOf(plan.image_grid_thw), outputs ? &trace : nullptr);
  if (image_embeds.size(0) != image_tokens)
    throw Error(
        fmt::format("input_ids hold {} image tokens (<|image_pad|>, id {}) but "
                    "image_grid_thw gives {}",
                    image_tokens, config_.image_token_id, image_embeds.size(0)));
  if (outputs) *outputs = {trace.hidden_states.back(), image_embeds, trace.hidden_states};
  return embeds.masked_scatter(image_mask.unsqueeze(-1), image_embeds.to(embeds.scalar_type()));
}

std::pair<at::Tensor, at::Tensor> Qwen2VLModel::rotary(const at::Tensor& positions, int) {
  return rope_.cosSin(positions.to(spec_.device), spec_.dtype);
}

at::Tensor Qwen2VLModel::layerForward(int layer, const at::Tensor& h, const at::Tensor& positions,
                                      const at::Tensor& cos, const at::Tensor& sin,
                                      LayerCache& cache, const std::vector<SlotMeta>& metas,
                                      AttentionTap* tap) {
  // `positions` are sequence indices (the causal mask); the rotation is in cos / sin.
  return net_->model->layer(layer).forward(h, positions.to(spec_.device), cos, sin, cache, metas,
                                           tap);
}

std::int64_t Qwen2VLModel::decodeWeightBytes() {
  return decodeReadBytes(*net_->model, net_->lm_head);
}

at::Tensor Qwen2VLModel::towerAttention(const PromptPlan& plan, bool* has_cls, std::string*) {
  torch::NoGradGuard no_grad;
  if (has_cls) *has_cls = false;
  auto ids = torch::tensor(plan.ids, torch::kInt64);
  auto image_mask = ids == config_.image_token_id;
  auto out = torch::zeros({ids.size(0)}, torch::kFloat32);
  const int64_t image_tokens = image_mask.sum().item<int64_t>();
  if (image_tokens == 0 || !plan.pixel_values.defined() || !plan.image_grid_thw.defined())
    return out;
  auto received = net_->visual->attentionReceived(plan.pixel_values.to(spec_.device, spec_.dtype),
                                                  gridsOf(plan.image_grid_thw));
  auto folded = received.cpu().view({-1, config_.vision.mergeUnit()}).sum(1);
  if (folded.size(0) != image_tokens) return out;  // embedPlan() reports the mismatch
  out.masked_scatter_(image_mask, folded);
  return out;
}

at::Tensor Qwen2VLModel::finalNorm(const at::Tensor& h) {
  return net_->model->norm(h);
}

at::Tensor Qwen2VLModel::logits(const at::Tensor& normed) {
  const auto& weight = net_->lm_head ? net_->lm_head->weight : net_->model->embed_tokens->weight;
  return linearRows(normed, weight, {});  // decoding's one row on the fast path (gemv.h)
}

std::string Qwen2VLModel::describe() const {
  const auto& v = config_.vision;
  const auto& t = config_.text;
  std::string fullatt;
  for (int b : v.fullatt_block_indexes)
    fullatt += (fullatt.empty() ? "" : ", ") + std::to_string(b);
  return fmt::format(
      "family: {} ({})\n"
      "vision: {} blocks ({}), width {}, {} heads, MLP {} ({}), patch {} x {} frames, 2-D RoPE{}\n"
      "merger: {}x{} patches -> 1 token, {} -> {}\n"
      "image size: smart_resize to multiples of {} px, {} to {} pixels\n"
      "language: Qwen2, {} layers, hidden {}, {} heads, {} KV heads, head dim {}, MLP {}, vocab "
      "{}, M-RoPE theta {} sections [{}, {}, {}]{}\n"
      "parameters: {}\ndtype: {}, device: {}",
      config_.model_type, spec_.name, v.depth, v.qwen25 ? "RMSNorm, SwiGLU" : "LayerNorm", v.width,
      v.num_heads, v.intermediate_size, v.hidden_act, v.patch_size, v.temporal_patch_size,
      v.qwen25
          ? fmt::format(", windows of {} px, full attention in blocks {}", v.window_size, fullatt)
          : std::string(),
      v.spatial_merge_size, v.spatial_merge_size, v.width * v.mergeUnit(), v.out_hidden_size,
      preprocess_.factor(), preprocess_.min_pixels, preprocess_.max_pixels, t.num_hidden_layers,
      t.hidden_size, t.num_attention_heads, t.num_key_value_heads, t.head_dim, t.intermediate_size,
      t.vocab_size, t.rope_theta, config_.mrope_section[0], config_.mrope_section[1],
      config_.mrope_section[2], t.tie_word_embeddings ? ", tied lm_head" : "", spec_.parameters,
      c10::toString(spec_.dtype), spec_.device.str());
}

namespace {

// Without preprocessor_config.json: the processor's defaults at the tower's patch sizes.
Qwen2VLPreprocessConfig defaultPreprocess(const Qwen2VLConfig& config) {
  Qwen2VLPreprocessConfig p;
  p.patch_size = config.vision.patch_size;
  p.temporal_patch_size = config.vision.temporal_patch_size;
  p.merge_size = config.vision.spatial_merge_size;
  return p;
}

}  // namespace

std::unique_ptr<Qwen2VLModel> loadQwen2VL(const std::string& dir, const LoadOptions& options) {
  const fs::path folder(dir);
  Qwen2VLConfig config = loadQwen2VLConfig(dir);
  const auto archive = openCheckpointFor(dir, qwen2vlManifest(config), options);
  std::optional<Tokenizer> tokenizer;
  if (fs::exists(folder / "tokenizer.json")) {
    tokenizer = Tokenizer::fromFile((folder / "tokenizer.json").string());
    checkImageToken(*tokenizer, config.image_token_id, "<|image_pad|>", dir, "image_token_id");
    checkImageToken(*tokenizer, config.vision_start_token_id, "<|vision_start|>", dir,
                    "vision_start_token_id");
    checkImageToken(*tokenizer, config.vision_end_token_id, "<|vision_end|>", dir,
                    "vision_end_token_id");
  }
  const Qwen2VLPreprocessConfig preprocess =
      fs::exists(folder / "preprocessor_config.json")
          ? loadQwen2VLPreprocessConfig((folder / "preprocessor_config.json").string())
          : defaultPreprocess(config);
  // generation_config.json's eos ([<|im_end|>, <|endoftext|>] for Instruct) wins, as in generate().
  if (auto generation = loadGenerationConfig(dir); generation && !generation->eos_token_ids.empty())
    config.text.eos_token_ids = generation->eos_token_ids;
  auto model = std::make_unique<Qwen2VLModel>(config, std::move(tokenizer), preprocess,
                                              folder.filename().string(), options);
  loadModuleWeights(*model->net(), archive, "", options);
  return model;
}

std::unique_ptr<Qwen2VLModel> randomQwen2VL(const Qwen2VLConfig& config, const LoadOptions& options,
                                            std::uint64_t seed) {
  auto model = std::make_unique<Qwen2VLModel>(config, std::nullopt, defaultPreprocess(config),
                                              "random-init", options);
  randomizeModuleWeights(*model->net(), seed, options);
  return model;
}

}  // namespace hae
