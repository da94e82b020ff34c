#include "idefics3.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <filesystem>

#include "hae/error.h"
#include "tower_attention.h"
#include "weights.h"

namespace hae {

namespace nn = torch::nn;
namespace fs = std::filesystem;

at::Tensor idefics3PixelShuffle(const at::Tensor& x, int r) {
  const int64_t b = x.size(0), seq = x.size(1), d = x.size(2);
  const auto side = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(seq))));
  if (side * side != seq || side % r != 0)
    throw Error(
        fmt::format("pixel shuffle: {} patches are not a square grid divisible by {}", seq, r));
  // The same view/permute sequence as transformers, so the channel order matches bit for bit.
  auto y = x.reshape({b, side, side, d}).reshape({b, side, side / r, d * r}).permute({0, 2, 1, 3});
  y = y.reshape({b, side / r, side / r, d * r * r}).permute({0, 2, 1, 3});
  return y.reshape({b, seq / (r * r), d * r * r});
}

Idefics3ProjectionImpl::Idefics3ProjectionImpl(int in_features, int out_features) {
  proj =
      register_module("proj", nn::Linear(nn::LinearOptions(in_features, out_features).bias(false)));
}

Idefics3ConnectorImpl::Idefics3ConnectorImpl(const Idefics3Config& c)
    : scale_factor(c.scale_factor) {
  modality_projection =
      register_module("modality_projection",
                      Idefics3Projection(c.vision.hidden_size * c.scale_factor * c.scale_factor,
                                         c.text.hidden_size));
}

torch::Tensor Idefics3ConnectorImpl::forward(const torch::Tensor& vision_features) {
  return modality_projection->proj(idefics3PixelShuffle(vision_features, scale_factor));
}

Idefics3InnerImpl::Idefics3InnerImpl(const Idefics3Config& c) {
  vision_model = register_module("vision_model", SiglipVisionTransformer(c.vision));
  connector = register_module("connector", Idefics3Connector(c));
  text_model = register_module("text_model", LlamaModel(c.text));
}

Idefics3NetImpl::Idefics3NetImpl(const Idefics3Config& c) {
  model = register_module("model", Idefics3Inner(c));
  if (!c.tiedEmbeddings())
    lm_head = register_module(
        "lm_head",
        nn::Linear(nn::LinearOptions(c.text.hidden_size, c.text.vocab_size).bias(false)));
}

Idefics3Model::Idefics3Model(Idefics3Config config, std::optional<Tokenizer> tokenizer,
                             Idefics3PreprocessConfig preprocess, std::string name,
                             const LoadOptions& options)
    : config_(std::move(config)),
      tokenizer_(std::move(tokenizer)),
      preprocess_(preprocess),
      rope_(config_.text) {
  if (options.image_longest_edge != 0) {
    if (options.image_longest_edge < 1 || options.image_longest_edge > kIdefics3MaxLongestEdge)
      throw Error(fmt::format("image longest edge {} must lie in [1, {}]",
                              options.image_longest_edge, kIdefics3MaxLongestEdge));
    preprocess_.longest_edge = options.image_longest_edge;
  }
  // The vision tower has position embeddings for exactly one tile size.
  if (preprocess_.tile_size != config_.vision.image_size)
    throw Error(
        fmt::format("preprocessor_config.json: max_image_size.longest_edge {} differs from the "
                    "vision tower's image_size {}",
                    preprocess_.tile_size, config_.vision.image_size));
  {
    ConstructInDtype in_load_dtype(options.float_dtype);
    net_ = Idefics3Net(config_);
  }
  net_->eval();
  const auto& t = config_.text;
  spec_ = decoderSpec("idefics3", std::move(name), t, options);
  spec_.parameters = countParameters(*net_);
  net_->to(options.device, options.float_dtype);
}

at::Tensor Idefics3Model::visionFeatures(const at::Tensor& pixel_values) {
  auto tiles = pixel_values.dim() == 5 ? pixel_values.flatten(0, 1) : pixel_values;
  // The reference drops all-zero tiles (batch padding) before the tower; keep one if all are.
  auto real = (tiles != 0).flatten(1).any(1);
  if (!real.any().item<bool>()) real[0] = true;
  if (!real.all().item<bool>()) tiles = tiles.index({real});
  return net_->model->vision_model(tiles.to(spec_.device, spec_.dtype));
}

// SigLIP has no CLS token: the attention each patch receives in the last encoder layer (the one
// the connector's features come from), averaged over query rows and heads, as VisPruner does;
// each token sums the scale_factor x scale_factor patches the pixel shuffle folds into it. Tiles
// fill the image rows in order, as embed() does.
at::Tensor Idefics3Model::towerAttention(const PromptPlan& plan, bool* has_cls, std::string*) {
  torch::NoGradGuard no_grad;
  if (has_cls) *has_cls = false;
  auto ids = torch::tensor(plan.ids, torch::kInt64);
  auto image_mask = ids == config_.image_token_id;
  auto out = torch::zeros({ids.size(0)}, torch::kFloat32);
  const int64_t image_tokens = image_mask.sum().item<int64_t>();
  if (image_tokens == 0 || !plan.pixel_values.defined()) return out;
  auto tiles = plan.pixel_values.dim() == 5 ? plan.pixel_values.flatten(0, 1) : plan.pixel_values;
  auto real = (tiles != 0).flatten(1).any(1);  // as visionFeatures: padding tiles dropped
  if (!real.any().item<bool>()) real[0] = true;
  if (!real.all().item<bool>()) tiles = tiles.index({real});
  auto& tower = *net_->model->vision_model;
  const auto layers = tower.encoder->layers->size();
  auto h = tower.embeddings(tiles.to(spec_.device, spec_.dtype));
  for (std::size_t i = 0; i + 1 < layers; ++i) h = tower.encoder->layers->at<ClipEncoderLayerImpl>(i).forward(h);
  auto mean = encoderLayerAttention(tower.encoder->layers->at<ClipEncoderLayerImpl>(layers - 1), h, -1).cpu();
  const int64_t side = static_cast<int64_t>(std::llround(std::sqrt(double(mean.size(1))))), s = config_.scale_factor;
  if (side * side != mean.size(1) || side % s != 0) return out;
  auto folded = mean.reshape({mean.size(0), side / s, s, side / s, s}).sum({2, 4}).reshape({-1});
  if (folded.size(0) != image_tokens) return out;  // embed() reports the mismatch
  out.masked_scatter_(image_mask, folded);
  return out;
}

at::Tensor Idefics3Model::embed(const at::Tensor& ids, const at::Tensor& pixel_values,
                                ImageOutputs* outputs) {
  auto& inner = net_->model;
  auto ids_dev = ids.to(spec_.device);
  if (ids_dev.numel() &&
      (ids_dev.min().item<int64_t>() < 0 || ids_dev.max().item<int64_t>() >= spec_.vocab_size))
    throw Error(fmt::format("input_ids: ids must lie in [0, {})", spec_.vocab_size));
  auto embeds = inner->text_model->embed_tokens(ids_dev);
  auto image_mask = ids_dev == config_.image_token_id;
  const int64_t image_tokens = image_mask.sum().item<int64_t>();
  if (image_tokens == 0) return embeds;
  if (!pixel_values.defined())
    throw Error(
        fmt::format("input_ids hold {} image tokens but no pixel_values were given", image_tokens));
  auto features = visionFeatures(pixel_values);
  auto image_embeds = inner->connector(features);
  if (outputs) *outputs = {features, image_embeds, {}};
  if (image_embeds.size(0) * image_embeds.size(1) != image_tokens)
    throw Error(fmt::format("input_ids hold {} image tokens but {} tile(s) give {} features",
                            image_tokens, image_embeds.size(0),
                            image_embeds.size(0) * image_embeds.size(1)));
  // inputs_merger: tile features fill the <image> positions in order.
  return embeds.masked_scatter(image_mask.unsqueeze(-1),
                               image_embeds.reshape({-1, embeds.size(-1)}));
}

std::pair<at::Tensor, at::Tensor> Idefics3Model::rotary(const at::Tensor& positions, int) {
  return rope_.cosSin(positions.to(spec_.device), spec_.dtype);
}

at::Tensor Idefics3Model::layerForward(int layer, const at::Tensor& h, const at::Tensor& positions,
                                       const at::Tensor& cos, const at::Tensor& sin,
                                       LayerCache& cache, const std::vector<SlotMeta>& metas,
                                       AttentionTap* tap) {
  return net_->model->text_model->layer(layer).forward(h, positions.to(spec_.device), cos, sin,
                                                       cache, metas, tap);
}

at::Tensor Idefics3Model::finalNorm(const at::Tensor& h) {
  return net_->model->text_model->norm(h);
}

at::Tensor Idefics3Model::logits(const at::Tensor& normed) {
  const auto& weight =
      net_->lm_head ? net_->lm_head->weight : net_->model->text_model->embed_tokens->weight;
  return linearRows(normed, weight, {});  // decoding's one row on the fast path (gemv.h)
}

std::string Idefics3Model::describe() const {
  const auto& v = config_.vision;
  const auto& t = config_.text;
  return fmt::format(
      "family: idefics3 ({})\n"
      "vision: SigLIP, {} layers, hidden {}, {} heads, tile {} px, patch {} -> {} patches per "
      "tile\n"
      "connector: pixel shuffle x{} -> {} tokens per tile, Linear {} -> {}\n"
      "tiling: longest edge {} px, tiles of {} px plus a global image when split\n"
      "language: Llama, {} layers, hidden {}, {} heads, {} KV heads, head dim {}, MLP {}, vocab "
      "{}, "
      "rope theta {}{}\n"
      "parameters: {}\ndtype: {}, device: {}",
      spec_.name, v.num_hidden_layers, v.hidden_size, v.num_attention_heads, v.image_size,
      v.patch_size, v.numPatches(), config_.scale_factor, config_.tokensPerTile(),
      v.hidden_size * config_.scale_factor * config_.scale_factor, t.hidden_size,
      preprocess_.longest_edge, preprocess_.tile_size, t.num_hidden_layers, t.hidden_size,
      t.num_attention_heads, t.num_key_value_heads, t.head_dim, t.intermediate_size, t.vocab_size,
      t.rope_theta, config_.tiedEmbeddings() ? ", tied lm_head" : "", spec_.parameters,
      c10::toString(spec_.dtype), spec_.device.str());
}

namespace {

// Without preprocessor_config.json: SmolVLM's proportions (tiles of the tower's size, longest edge
// four tiles).
Idefics3PreprocessConfig defaultPreprocess(const Idefics3Config& config) {
  Idefics3PreprocessConfig p;
  p.tile_size = config.vision.image_size;
  p.longest_edge = 4 * config.vision.image_size;
  return p;
}

}  // namespace

std::unique_ptr<Idefics3Model> loadIdefics3(const std::string& dir, const LoadOptions& options) {
  const fs::path folder(dir);
  Idefics3Config config = loadIdefics3Config(dir);
  const auto archive = openCheckpointFor(dir, idefics3Manifest(config), options);
  std::optional<Tokenizer> tokenizer;
  if (fs::exists(folder / "tokenizer.json")) {
    tokenizer = Tokenizer::fromFile((folder / "tokenizer.json").string());
    checkImageToken(*tokenizer, config.image_token_id, "<image>", dir, "image_token_id");
  }
  const Idefics3PreprocessConfig preprocess =
      fs::exists(folder / "preprocessor_config.json")
          ? loadIdefics3PreprocessConfig((folder / "preprocessor_config.json").string())
          : defaultPreprocess(config);
  // generation_config.json's eos (SmolVLM: <end_of_utterance>) wins, as in transformers'
  // generate().
  if (auto generation = loadGenerationConfig(dir); generation && !generation->eos_token_ids.empty())
    config.text.eos_token_ids = generation->eos_token_ids;
  auto model = std::make_unique<Idefics3Model>(config, std::move(tokenizer), preprocess,
                                               folder.filename().string(), options);
  // fp16 / bf16 checkpoints are converted to the load dtype here (CPU LibTorch has no fp16 GEMM).
  loadModuleWeights(*model->net(), archive, "", options);
  return model;
}

std::unique_ptr<Idefics3Model> randomIdefics3(const Idefics3Config& config,
                                              const LoadOptions& options, std::uint64_t seed) {
  auto model = std::make_unique<Idefics3Model>(config, std::nullopt, defaultPreprocess(config),
                                               "random-init", options);
  randomizeModuleWeights(*model->net(), seed, options);
  return model;
}

}  // namespace hae
