#include "llava.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <filesystem>

#include "activations.h"
#include "hae/error.h"
#include "tower_attention.h"
#include "weights.h"

namespace hae {

namespace nn = torch::nn;
namespace fs = std::filesystem;

LlavaProjectorImpl::LlavaProjectorImpl(int in_features, int hidden, bool bias, std::string act_)
    : act(std::move(act_)) {
  checkActivation(act, "projector_hidden_act");
  linear_1 = register_module("linear_1", nn::Linear(nn::LinearOptions(in_features, hidden).bias(bias)));
  linear_2 = register_module("linear_2", nn::Linear(nn::LinearOptions(hidden, hidden).bias(bias)));
}

torch::Tensor LlavaProjectorImpl::forward(const torch::Tensor& x) {
  return linear_2(activate(linear_1(x), act));
}

LlavaNetImpl::LlavaNetImpl(const LlavaConfig& c) {
  vision_tower = register_module("vision_tower", ClipVisionModel(c.vision));
  const int in_features = c.vision.hidden_size * static_cast<int>(c.vision_feature_layers.size());
  multi_modal_projector = register_module(
      "multi_modal_projector",
      LlavaProjector(in_features, c.text.hidden_size, c.multimodal_projector_bias, c.projector_hidden_act));
  language_model = register_module("language_model", LlamaForCausalLM(c.text));
}

LlavaModel::LlavaModel(LlavaConfig config, std::optional<Tokenizer> tokenizer,
                       ClipPreprocessConfig preprocess, std::string name, const LoadOptions& options)
    : config_(std::move(config)), tokenizer_(std::move(tokenizer)), preprocess_(preprocess) {
  for (int layer : config_.vision_feature_layers) {
    const int n = config_.vision.num_hidden_layers;
    if (layer < -(n + 1) || layer > n)
      throw Error(fmt::format("config.json: vision_feature_layer {} is outside [-{}, {}]", layer, n + 1, n));
  }
  // transformers' legacy merge accepted an image token past the vocabulary; this engine embeds
  // the prompt's ids before merging, so the image token needs a row of embed_tokens.
  if (config_.image_token_index >= config_.text.vocab_size)
    throw Error(fmt::format("config.json: image_token_index {} is beyond text_config.vocab_size {}",
                            config_.image_token_index, config_.text.vocab_size));
  if (config_.vision_feature_select_strategy != "default" && config_.vision_feature_select_strategy != "full")
    throw Error("config.json: vision_feature_select_strategy '" + config_.vision_feature_select_strategy +
                "' is not supported (default, full)");
  {
    ConstructInDtype in_load_dtype(options.float_dtype);
    net_ = LlavaNet(config_);
  }
  net_->eval();
  const auto& t = config_.text;
  spec_ = decoderSpec("llava", std::move(name), t, options);
  spec_.parameters = countParameters(*net_);
  net_->to(options.device, options.float_dtype);
}

int LlavaModel::imageTokensPerImage() const {
  const int side = config_.vision.image_size / config_.vision.patch_size;
  return side * side + (config_.vision_feature_select_strategy == "full" ? 1 : 0);
}

at::Tensor LlavaModel::visionFeatures(const at::Tensor& pixel_values, std::vector<at::Tensor>* hidden) {
  const int n = config_.vision.num_hidden_layers;
  std::vector<int> indices;
  int upto = 0;
  for (int layer : config_.vision_feature_layers) {
    indices.push_back(layer < 0 ? n + 1 + layer : layer);
    upto = std::max(upto, indices.back());
  }
  auto states = net_->vision_tower->vision_model->hiddenStates(
      pixel_values.to(spec_.device, spec_.dtype), hidden ? n : upto);
  std::vector<at::Tensor> picked;
  for (int i : indices) {
    auto s = states[i];
    if (config_.vision_feature_select_strategy == "default") s = s.narrow(1, 1, s.size(1) - 1);
    picked.push_back(s);
  }
  if (hidden) *hidden = states;
  return torch::cat(picked, -1);
}

at::Tensor LlavaModel::embed(const at::Tensor& ids, const at::Tensor& pixel_values, ImageOutputs* outputs) {
  auto& lm = net_->language_model;
  auto ids_dev = ids.to(spec_.device);
  if (ids_dev.numel() && (ids_dev.min().item<int64_t>() < 0 || ids_dev.max().item<int64_t>() >= spec_.vocab_size))
    throw Error(fmt::format("input_ids: ids must lie in [0, {})", spec_.vocab_size));
  auto embeds = lm->model->embed_tokens(ids_dev);
  auto image_mask = ids_dev == config_.image_token_index;
  const int64_t image_tokens = image_mask.sum().item<int64_t>();
  if (image_tokens == 0) return embeds;
  if (!pixel_values.defined())
    throw Error(fmt::format("input_ids hold {} image tokens but no pixel_values were given", image_tokens));
  std::vector<at::Tensor> hidden;
  auto features = visionFeatures(pixel_values, outputs ? &hidden : nullptr);
  auto image_embeds = net_->multi_modal_projector(features);
  if (outputs) *outputs = {features, image_embeds, hidden};
  if (image_embeds.size(0) * image_embeds.size(1) != image_tokens)
    throw Error(fmt::format("input_ids hold {} image tokens but {} image(s) give {} features", image_tokens,
                            image_embeds.size(0), image_embeds.size(0) * image_embeds.size(1)));
  return embeds.masked_scatter(image_mask.unsqueeze(-1), image_embeds.reshape({-1, embeds.size(-1)}));
}

// The CLS row of the feature layer's attention (the layer whose output the projector consumes;
// with several feature layers, the deepest), heads averaged, over the patches: what FasterVLM and
// VisionZip rank by. Under the "full" strategy the CLS feature's own row gets its self-attention.
at::Tensor LlavaModel::towerAttention(const PromptPlan& plan, bool* has_cls, std::string* missing) {
  torch::NoGradGuard no_grad;
  if (has_cls) *has_cls = true;
  const auto& pixel_values = plan.pixel_values;
  auto ids = torch::tensor(plan.ids, torch::kInt64);
  auto image_mask = ids == config_.image_token_index;
  auto out = torch::zeros({ids.size(0)}, torch::kFloat32);
  if (image_mask.sum().item<int64_t>() == 0 || !pixel_values.defined()) return out;
  const int n = config_.vision.num_hidden_layers;
  int upto = 0;
  for (int layer : config_.vision_feature_layers) upto = std::max(upto, layer < 0 ? n + 1 + layer : layer);
  if (upto < 1) {
    if (missing) *missing = "the feature layer is the tower's embeddings, which have no attention";
    return {};
  }
  auto& tower = *net_->vision_tower->vision_model;
  auto states = tower.hiddenStates(pixel_values.to(spec_.device, spec_.dtype), upto - 1);
  auto cls = encoderLayerAttention(tower.encoder->layers->at<ClipEncoderLayerImpl>(upto - 1),
                                   states.back(), 0)
                 .cpu();  // [images, 1 + P]
  if (config_.vision_feature_select_strategy == "default") cls = cls.narrow(1, 1, cls.size(1) - 1);
  auto flat = cls.reshape({-1});
  if (flat.size(0) != image_mask.sum().item<int64_t>()) return out;  // embed() reports the mismatch
  out.masked_scatter_(image_mask, flat);
  return out;
}

std::pair<at::Tensor, at::Tensor> LlavaModel::rotary(const at::Tensor& positions, int) {
  return net_->language_model->rope.cosSin(positions.to(spec_.device), spec_.dtype);
}

at::Tensor LlavaModel::layerForward(int layer, const at::Tensor& h, const at::Tensor& positions,
                                    const at::Tensor& cos, const at::Tensor& sin, LayerCache& cache,
                                    const std::vector<SlotMeta>& metas, AttentionTap* tap) {
  return net_->language_model->model->layer(layer).forward(h, positions.to(spec_.device), cos, sin,
                                                           cache, metas, tap);
}

at::Tensor LlavaModel::finalNorm(const at::Tensor& h) { return net_->language_model->model->norm(h); }

at::Tensor LlavaModel::logits(const at::Tensor& normed) { return net_->language_model->logits(normed); }

std::string LlavaModel::describe() const {
  const auto& v = config_.vision;
  const auto& t = config_.text;
  return fmt::format(
      "family: llava ({})\n"
      "vision: CLIP, {} layers, hidden {}, {} heads, image {} px, patch {} -> {} tokens per image, "
      "feature layer(s) {}, strategy {}\n"
      "projector: {} -> {} -> {} ({})\n"
      "language: Llama, {} layers, hidden {}, {} heads, {} KV heads, head dim {}, MLP {}, vocab {}, "
      "rope theta {}\n"
      "parameters: {}\ndtype: {}, device: {}",
      spec_.name, v.num_hidden_layers, v.hidden_size, v.num_attention_heads, v.image_size, v.patch_size,
      imageTokensPerImage(), fmt::join(config_.vision_feature_layers, ","),
      config_.vision_feature_select_strategy,
      v.hidden_size * config_.vision_feature_layers.size(), t.hidden_size, t.hidden_size,
      config_.projector_hidden_act, t.num_hidden_layers, t.hidden_size, t.num_attention_heads,
      t.num_key_value_heads, t.head_dim, t.intermediate_size, t.vocab_size, t.rope_theta,
      spec_.parameters, c10::toString(spec_.dtype), spec_.device.str());
}

std::unique_ptr<LlavaModel> loadLlava(const std::string& dir, const LoadOptions& options) {
  const fs::path folder(dir);
  LlavaConfig config = loadLlavaConfig(dir);
  const auto archive = openCheckpointFor(dir, llavaManifest(config), options);
  std::optional<Tokenizer> tokenizer;
  if (fs::exists(folder / "tokenizer.json")) {
    tokenizer = Tokenizer::fromFile((folder / "tokenizer.json").string());
    checkImageToken(*tokenizer, config.image_token_index, "<image>", dir, "image_token_index");
  }
  ClipPreprocessConfig preprocess;
  if (fs::exists(folder / "preprocessor_config.json")) {
    preprocess = loadClipPreprocessConfig((folder / "preprocessor_config.json").string());
    // The tower's position embeddings cover exactly one image size.
    if (preprocess.do_center_crop && (preprocess.crop_width != config.vision.image_size ||
                                      preprocess.crop_height != config.vision.image_size))
      throw Error(fmt::format(
          "{}/preprocessor_config.json: crop_size {}x{} differs from config.json's "
          "vision_config.image_size {}",
          dir, preprocess.crop_width, preprocess.crop_height, config.vision.image_size));
  } else {
    preprocess.shortest_edge = preprocess.crop_width = preprocess.crop_height = config.vision.image_size;
  }
  // generation_config.json's eos wins over the decoder config's, as in transformers' generate().
  if (auto generation = loadGenerationConfig(dir); generation && !generation->eos_token_ids.empty())
    config.text.eos_token_ids = generation->eos_token_ids;
  auto model = std::make_unique<LlavaModel>(config, std::move(tokenizer), preprocess,
                                            folder.filename().string(), options);
  loadModuleWeights(*model->net(), archive, "", options);
  return model;
}

std::unique_ptr<LlavaModel> randomLlava(const LlavaConfig& config, const LoadOptions& options,
                                        std::uint64_t seed) {
  ClipPreprocessConfig preprocess;
  preprocess.shortest_edge = preprocess.crop_width = preprocess.crop_height = config.vision.image_size;
  auto model = std::make_unique<LlavaModel>(config, std::nullopt, preprocess, "random-init", options);
  randomizeModuleWeights(*model->net(), seed, options);
  return model;
}

}  // namespace hae
