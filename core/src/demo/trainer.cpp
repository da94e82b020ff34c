#include "trainer.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "../io/torch_tensors.h"
#include "../models/weights.h"
#include "hae/demo/vocabulary.h"
#include "hae/error.h"
#include "hae/safetensors.h"
#include "train_forward.h"
#include "train_progress.h"

namespace hae::demo {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

void validateTrainOptions(const TrainOptions& o) {
  auto bad = [](const std::string& what) { throw Error(what); };
  if (o.steps <= 0) bad(fmt::format("--steps must be positive (got {})", o.steps));
  if (o.batch < 1) bad(fmt::format("--batch must be at least 1 (got {})", o.batch));
  if (!(o.lr > 0) || o.lr > 1) bad(fmt::format("--lr must lie in (0, 1] (got {})", o.lr));
  if (o.warmup < 0 || o.warmup > o.steps)
    bad(fmt::format("--warmup must lie in [0, --steps = {}] (got {})", o.steps, o.warmup));
  if (o.vision_steps < 0 || o.vision_steps >= o.steps)
    bad(fmt::format("--vision-steps must lie in [0, --steps = {}) (got {})", o.steps,
                    o.vision_steps));
  if (o.vision_steps > 0 && !(o.probe_weight > 0))
    bad("--vision-steps needs a positive --probe-weight: the vision stage trains on the probe");
  if (o.vision_batch < 1) bad(fmt::format("--vision-batch must be at least 1 (got {})", o.vision_batch));
  if (!(o.clip > 0)) bad(fmt::format("--clip must be positive (got {})", o.clip));
  if (!(o.weight_decay >= 0) || o.weight_decay >= 1)
    bad(fmt::format("--weight-decay must lie in [0, 1) (got {})", o.weight_decay));
  if (!(o.min_lr_ratio >= 0) || o.min_lr_ratio > 1)
    bad(fmt::format("--min-lr-ratio must lie in [0, 1] (got {})", o.min_lr_ratio));
  if (!(o.beta2 > 0) || o.beta2 >= 1)
    bad(fmt::format("--beta2 must lie in (0, 1) (got {})", o.beta2));
  if (!(o.probe_weight >= 0) || o.probe_weight > 100)
    bad(fmt::format("--probe-weight must lie in [0, 100] (got {})", o.probe_weight));
  if (!(o.focus_weight >= 0) || o.focus_weight > 100)
    bad(fmt::format("--focus-weight must lie in [0, 100] (got {})", o.focus_weight));
  if (!(o.retrieval_weight >= 0) || o.retrieval_weight > 100)
    bad(fmt::format("--retrieval-weight must lie in [0, 100] (got {})", o.retrieval_weight));
  if (!(o.readout_weight >= 0) || o.readout_weight > 100)
    bad(fmt::format("--readout-weight must lie in [0, 100] (got {})", o.readout_weight));
  if (o.checkpoint_every < 1)
    bad(fmt::format("--checkpoint-every must be at least 1 (got {})", o.checkpoint_every));
  if (o.out_dir.empty()) bad("--out must name a folder");
}

LlavaConfig demoModelConfig() {
  LlavaConfig c;
  c.vision.hidden_size = 128;
  c.vision.intermediate_size = 512;
  c.vision.num_hidden_layers = 4;
  c.vision.num_attention_heads = 4;
  c.vision.image_size = 168;
  c.vision.patch_size = 14;
  c.vision.projection_dim = 128;
  c.vision.hidden_act = "quick_gelu";
  c.text.vocab_size = static_cast<int>(demoVocabulary().size());
  c.text.hidden_size = 128;
  c.text.intermediate_size = 384;
  c.text.num_hidden_layers = 4;
  c.text.num_attention_heads = 4;
  c.text.num_key_value_heads = 2;
  c.text.head_dim = 32;
  c.text.max_position_embeddings = 2048;
  c.text.rms_norm_eps = 1e-5;
  c.text.rope_theta = 10000;
  c.text.bos_token_id = demoTokenId("<s>");
  c.text.eos_token_ids = {demoTokenId("</s>")};
  c.text.pad_token_id = demoTokenId("<pad>");
  c.image_token_index = demoTokenId("<image>");
  c.image_seq_length = c.vision.numPatches();
  c.pad_token_id = demoTokenId("<pad>");
  return c;
}

std::string llavaConfigJson(const LlavaConfig& c) {
  const auto& t = c.text;
  const auto& v = c.vision;
  Json text = {{"model_type", "llama"},
               {"vocab_size", t.vocab_size},
               {"hidden_size", t.hidden_size},
               {"intermediate_size", t.intermediate_size},
               {"num_hidden_layers", t.num_hidden_layers},
               {"num_attention_heads", t.num_attention_heads},
               {"num_key_value_heads", t.num_key_value_heads},
               {"head_dim", t.head_dim},
               {"hidden_act", t.hidden_act},
               {"max_position_embeddings", t.max_position_embeddings},
               {"rms_norm_eps", t.rms_norm_eps},
               {"rope_theta", t.rope_theta},
               {"rope_scaling", nullptr},
               {"attention_bias", false},
               {"mlp_bias", false},
               {"tie_word_embeddings", false},
               {"bos_token_id", t.bos_token_id.value_or(2)},
               {"eos_token_id", t.eos_token_ids.front()},
               {"pad_token_id", t.pad_token_id.value_or(0)},
               {"torch_dtype", "float32"}};
  Json vision = {{"model_type", "clip_vision_model"},
                 {"hidden_size", v.hidden_size},
                 {"intermediate_size", v.intermediate_size},
                 {"num_hidden_layers", v.num_hidden_layers},
                 {"num_attention_heads", v.num_attention_heads},
                 {"num_channels", v.num_channels},
                 {"image_size", v.image_size},
                 {"patch_size", v.patch_size},
                 {"projection_dim", v.projection_dim},
                 {"hidden_act", v.hidden_act},
                 {"layer_norm_eps", v.layer_norm_eps},
                 {"torch_dtype", "float32"}};
  Json j = {{"architectures", {"LlavaForConditionalGeneration"}},
            {"model_type", "llava"},
            {"image_token_index", c.image_token_index},
            {"image_seq_length", c.image_seq_length},
            {"projector_hidden_act", c.projector_hidden_act},
            {"multimodal_projector_bias", true},
            {"vision_feature_layer", c.vision_feature_layers.size() == 1
                                         ? Json(c.vision_feature_layers.front())
                                         : Json(c.vision_feature_layers)},
            {"vision_feature_select_strategy", c.vision_feature_select_strategy},
            {"ignore_index", -100},
            {"pad_token_id", c.pad_token_id.value_or(0)},
            {"tie_word_embeddings", false},
            {"torch_dtype", "float32"},
            {"transformers_version", "4.49.0"},
            {"text_config", text},
            {"vision_config", vision}};
  return j.dump(2) + "\n";
}

std::string preprocessorConfigJson(int size) {
  Json j = {{"crop_size", {{"height", size}, {"width", size}}},
            {"do_center_crop", true},
            {"do_convert_rgb", true},
            {"do_normalize", true},
            {"do_rescale", true},
            {"do_resize", true},
            {"image_mean", {0.48145466, 0.4578275, 0.40821073}},
            {"image_processor_type", "CLIPImageProcessor"},
            {"image_std", {0.26862954, 0.26130258, 0.27577711}},
            {"processor_class", "LlavaProcessor"},
            {"resample", 3},
            {"rescale_factor", 1.0 / 255.0},
            {"size", {{"shortest_edge", size}}}};
  return j.dump(2) + "\n";
}

std::string generationConfigJson() {
  Json j = {{"bos_token_id", demoTokenId("<s>")},
            {"eos_token_id", demoTokenId("</s>")},
            {"pad_token_id", demoTokenId("<pad>")},
            {"max_new_tokens", 96},
            {"transformers_version", "4.49.0"}};
  return j.dump(2) + "\n";
}

namespace {

// Group indices of the vision stage: far above any decoder-stage step * batch.
constexpr std::uint64_t kVisionStageData = std::uint64_t{1} << 30;

void writeText(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary);
    f << text;
    if (!f) throw Error("cannot write " + tmp.string());
  }
  fs::rename(tmp, path);
}

std::string readText(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("cannot read " + path.string());
  return {std::istreambuf_iterator<char>(f), {}};
}

// The vision tower's position table starts as a 2D sine-cosine code of each patch's row and column
// (as MAE does; the class slot stays zero). From a random table a from-scratch tower needs many
// steps before it knows where a patch is, and "where" is half of every question here.
void initPatchPositions(torch::Tensor table, const LlavaConfig& c) {
  const int grid = c.vision.image_size / c.vision.patch_size;
  const int64_t d = table.size(1), freqs = d / 4;
  if (freqs == 0 || table.size(0) != 1 + grid * grid) return;
  auto omega = torch::pow(10000.0, -torch::arange(freqs, torch::kFloat64) / freqs);
  auto cell = torch::arange(grid, torch::kFloat64);
  auto code = [&](const torch::Tensor& v) {
    auto angle = v.unsqueeze(1) * omega.unsqueeze(0);
    return torch::cat({angle.sin(), angle.cos()}, 1);  // [grid, d / 2]
  };
  auto rows = code(cell).unsqueeze(1).expand({grid, grid, 2 * freqs});
  auto cols = code(cell).unsqueeze(0).expand({grid, grid, 2 * freqs});
  auto patches = torch::cat({rows, cols}, 2).reshape({grid * grid, 4 * freqs});
  table.zero_();
  table.narrow(0, 1, grid * grid).narrow(1, 0, 4 * freqs).copy_(patches);
}

// HF-style init (normal 0.02) with the residual output projections scaled down by depth, which
// keeps a small pre-norm transformer stable at the high learning rates it trains fastest with.
void initWeights(LlavaNet& net, const LlavaConfig& c) {
  torch::NoGradGuard no_grad;
  const double residual =
      0.02 / std::sqrt(2.0 * std::max(c.text.num_hidden_layers, c.vision.num_hidden_layers));
  for (auto& item : net->named_parameters(true)) {
    const std::string& name = item.key();
    auto& p = item.value();
    const bool norm =
        name.find("norm") != std::string::npos || name.find("layrnorm") != std::string::npos;
    if (norm) {
      if (name.ends_with("weight"))
        p.fill_(1.0);
      else
        p.zero_();
    } else if (name.ends_with("bias")) {
      p.zero_();
    } else {
      const bool out =
          name.find("o_proj") != std::string::npos || name.find("down_proj") != std::string::npos ||
          name.find("out_proj") != std::string::npos || name.find("fc2") != std::string::npos;
      p.normal_(0.0, out ? residual : 0.02);
    }
  }
  initPatchPositions(net->vision_tower->vision_model->embeddings->position_embedding->weight, c);
}

std::map<std::string, at::Tensor> namedTensors(LlavaNet& net) {
  std::map<std::string, at::Tensor> out;
  for (auto& item : net->named_parameters(true)) out[item.key()] = item.value().detach();
  return out;
}

double scheduledLr(const TrainOptions& o, int step) {
  if (step < o.warmup) return o.lr * (step + 1) / o.warmup;
  const double span = std::max(1, o.steps - o.warmup);
  const double t = std::min(1.0, (step - o.warmup) / span);
  return o.lr * (o.min_lr_ratio + (1 - o.min_lr_ratio) * 0.5 * (1 + std::cos(M_PI * t)));
}

Json optionsJson(const TrainOptions& o) {
  return {{"steps", o.steps},
          {"batch", o.batch},
          {"lr", o.lr},
          {"warmup", o.warmup},
          {"vision_steps", o.vision_steps},
          {"vision_batch", o.vision_batch},
          {"min_lr_ratio", o.min_lr_ratio},
          {"weight_decay", o.weight_decay},
          {"clip", o.clip},
          {"beta2", o.beta2},
          {"probe_weight", o.probe_weight},
          {"focus_weight", o.focus_weight},
          {"retrieval_weight", o.retrieval_weight},
          {"readout_weight", o.readout_weight},
          {"seed", o.seed}};
}

struct TrainState {
  int step = 0;
  double wall_seconds = 0;
  Json loss_curve = Json::array();  // [step, mean loss of the steps since the previous entry]
  Json history = Json::array();     // {from_step, options} per run: a resumed run may change them
};

// A training-only module's tensors, named "<prefix>.<parameter>", and an optimizer's state.
void saveModule(const fs::path& file, torch::nn::Module& module, const std::string& prefix) {
  std::map<std::string, at::Tensor> tensors;
  for (auto& item : module.named_parameters(true))
    tensors[prefix + "." + item.key()] = item.value().detach();
  writeTorchSafetensors(file.string(), tensors, {{"format", "pt"}});
}

void saveOptimizer(const fs::path& file, torch::optim::Optimizer& opt) {
  const fs::path tmp = file.string() + ".tmp";
  torch::save(opt, tmp.string());
  fs::rename(tmp, file);
}

// The retrieval readouts keep their own optimizer and files, so a checkpoint written before they
// existed still resumes (they then start fresh).
void saveReadout(const fs::path& dir, demo::RetrievalReadout& readout,
                 torch::optim::Optimizer& opt) {
  saveModule(dir / "readout.safetensors", *readout, "readout");
  saveOptimizer(dir / "readout_optimizer.pt", opt);
}

void loadReadout(const fs::path& dir, demo::RetrievalReadout& readout,
                 torch::optim::Optimizer& opt) {
  if (!fs::exists(dir / "readout.safetensors")) {
    spdlog::info("{}: no retrieval readout saved; it starts fresh", dir.string());
    return;
  }
  loadModuleWeights(*readout, SafetensorsArchive::openFile((dir / "readout.safetensors").string()),
                    "readout.", LoadOptions{});
  torch::load(opt, (dir / "readout_optimizer.pt").string());
}

void saveCheckpoint(const fs::path& dir, LlavaNet& net, demo::PatchProbe& probe,
                    torch::optim::Optimizer& opt, const TrainState& st, const TrainOptions& o) {
  fs::create_directories(dir);
  writeTorchSafetensors((dir / "model.safetensors").string(), namedTensors(net),
                        {{"format", "pt"}});
  saveModule(dir / "probe.safetensors", *probe, "probe");
  saveOptimizer(dir / "optimizer.pt", opt);
  Json j = {{"step", st.step},
            {"wall_seconds", st.wall_seconds},
            {"options", optionsJson(o)},
            {"history", st.history},
            {"loss_curve", st.loss_curve}};
  writeText(dir / "state.json", j.dump(1) + "\n");
}

TrainState loadCheckpoint(const fs::path& dir, LlavaNet& net, demo::PatchProbe& probe,
                          torch::optim::Optimizer& opt) {
  const fs::path statePath = dir / "state.json";
  if (!fs::exists(statePath))
    throw Error("--resume: no checkpoint in " + dir.string() + " (state.json missing)");
  Json j;
  try {
    j = Json::parse(readText(statePath));
  } catch (const nlohmann::json::exception& e) {
    throw Error(statePath.string() + ": " + e.what());
  }
  loadModuleWeights(*net, SafetensorsArchive::openFile((dir / "model.safetensors").string()), "",
                    LoadOptions{});
  loadModuleWeights(*probe, SafetensorsArchive::openFile((dir / "probe.safetensors").string()),
                    "probe.", LoadOptions{});
  torch::load(opt, (dir / "optimizer.pt").string());
  TrainState st;
  st.step = j.at("step").get<int>();
  st.wall_seconds = j.at("wall_seconds").get<double>();
  st.loss_curve = j.at("loss_curve");
  st.history = j.value("history", Json::array());
  return st;
}

void exportModel(const fs::path& out, LlavaNet& net, const LlavaConfig& c, const TrainOptions& o,
                 const TrainState& st) {
  fs::create_directories(out);
  writeText(out / "config.json", llavaConfigJson(c));
  writeTorchSafetensors((out / "model.safetensors").string(), namedTensors(net),
                        {{"format", "pt"}});
  writeText(out / "tokenizer.json", demoTokenizerJson());
  writeText(out / "preprocessor_config.json", preprocessorConfigJson(c.vision.image_size));
  writeText(out / "generation_config.json", generationConfigJson());
  Json j = {{"steps", st.step},
            {"wall_seconds", st.wall_seconds},
            {"parameters", countParameters(*net)},
            {"options", optionsJson(o)},
            {"history", st.history},
            {"loss_curve", st.loss_curve}};
  writeText(out / "train_state.json", j.dump(1) + "\n");
}

}  // namespace

TrainReport trainDemoModel(const TrainOptions& o, const LlavaConfig& config) {
  validateTrainOptions(o);
  if (config.text.vocab_size != static_cast<int>(demoVocabulary().size()))
    throw Error(fmt::format("demo model: text vocab_size {} differs from the demo vocabulary's {}",
                            config.text.vocab_size, demoVocabulary().size()));
  const fs::path out(o.out_dir);
  const fs::path ckpt = out / "checkpoint";

  torch::manual_seed(o.seed);
  LlavaNet net(config);
  initWeights(net, config);
  net->train();
  PatchProbe probe(config.vision.hidden_size *
                   static_cast<int>(config.vision_feature_layers.size()));

  std::vector<torch::Tensor> decay, no_decay;
  for (auto& item : net->named_parameters(true))
    (item.value().dim() >= 2 ? decay : no_decay).push_back(item.value());
  for (auto& item : probe->named_parameters(true))
    (item.value().dim() >= 2 ? decay : no_decay).push_back(item.value());
  auto opts = [&](double wd) {
    auto a = std::make_unique<torch::optim::AdamWOptions>(o.lr);
    a->betas({0.9, o.beta2}).eps(1e-8).weight_decay(wd);
    return a;
  };
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, opts(o.weight_decay));
  groups.emplace_back(no_decay, opts(0.0));
  torch::optim::AdamW optimizer(std::move(groups), torch::optim::AdamWOptions(o.lr));

  demo::RetrievalReadout readout(config.text.num_hidden_layers - 1, config.text.head_dim);
  std::vector<torch::Tensor> readout_weights, readout_biases;
  for (auto& item : readout->named_parameters(true))
    (item.value().dim() >= 2 ? readout_weights : readout_biases).push_back(item.value());
  std::vector<torch::optim::OptimizerParamGroup> readout_groups;
  readout_groups.emplace_back(readout_weights, opts(o.weight_decay));
  readout_groups.emplace_back(readout_biases, opts(0.0));
  torch::optim::AdamW readout_optimizer(std::move(readout_groups),
                                        torch::optim::AdamWOptions(o.lr));

  TrainState st;
  if (o.resume) {
    st = loadCheckpoint(ckpt, net, probe, optimizer);
    loadReadout(ckpt, readout, readout_optimizer);
    spdlog::info("resuming from {} at step {}", ckpt.string(), st.step);
  }
  st.history.push_back({{"from_step", st.step}, {"options", optionsJson(o)}});

  const int scene_grid = Scene{}.grid();
  if (o.vision_steps > 0 && config.vision.numPatches() != scene_grid * scene_grid)
    throw Error(fmt::format(
        "--vision-steps: the vision stage needs the model's patch grid to be the scenes' {0} x {0} "
        "(the model has {1} patches); use --vision-steps 0",
        scene_grid, config.vision.numPatches()));
  ClipPreprocessConfig pre;
  pre.shortest_edge = pre.crop_width = pre.crop_height = config.vision.image_size;
  TrainDataSource data(Tokenizer::fromJson(demoTokenizerJson(), "demo tokenizer.json"), pre,
                       config.vision.numPatches(), o.seed);

  const std::int64_t params = countParameters(*net);
  spdlog::info("demo model: {} parameters; {} steps of {} scene groups, lr {} (warm-up {}), out {}",
               params, o.steps, o.batch, o.lr, o.warmup, out.string());
  TrainProgress progress(o.steps, st.step, o.progress);
  double loss_acc = 0;
  int loss_n = 0;
  double last_loss = 0;
  auto since = std::chrono::steady_clock::now();
  auto clockNow = [&] {
    const auto now = std::chrono::steady_clock::now();
    st.wall_seconds += std::chrono::duration<double>(now - since).count();
    since = now;
  };
  while (st.step < o.steps) {
    const double lr = scheduledLr(o, st.step);
    for (auto* opt : {&optimizer, &readout_optimizer})
      for (auto& g : opt->param_groups())
        static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
    // Vision-stage steps draw groups from a separate index range, so the decoder stage sees the
    // same data whether or not a vision stage ran before it.
    const bool vision_stage = st.step < o.vision_steps;
    const int groups = vision_stage ? o.vision_batch : o.batch;
    const std::uint64_t first = vision_stage
                                    ? kVisionStageData + static_cast<std::uint64_t>(st.step) * groups
                                    : static_cast<std::uint64_t>(st.step) * groups;
    std::vector<TrainGroup> batch;
    int answers = 0;
    for (int j = 0; j < groups; ++j) {
      batch.push_back(data.group(first + static_cast<std::uint64_t>(j)));
      if (!vision_stage) answers += static_cast<int>(batch.back().branches.size());
    }
    const TrainBatch tb = makeTrainBatch(batch, config.vision.image_size, demoTokenId("<pad>"));
    optimizer.zero_grad();
    readout_optimizer.zero_grad();
    LossParts parts;
    torch::Tensor loss;
    if (vision_stage) {
      loss = visionLoss(net, config, tb, probe, &parts);
    } else {
      loss = trainLoss(net, config, tb, &probe,
                       {o.probe_weight, o.focus_weight, o.retrieval_weight, o.readout_weight},
                       &parts, &readout);
    }
    loss.backward();
    std::vector<torch::Tensor> all = net->parameters();
    for (auto& p : probe->parameters()) all.push_back(p);
    for (auto& p : readout->parameters()) all.push_back(p);
    torch::nn::utils::clip_grad_norm_(all, o.clip);
    optimizer.step();
    readout_optimizer.step();
    last_loss = parts.answer;
    if (!std::isfinite(loss.item<double>()))
      throw Error(
          fmt::format("training diverged at step {} (loss {}); lower --lr", st.step, last_loss));
    if (!vision_stage) {
      loss_acc += last_loss;
      ++loss_n;
    }
    ++st.step;
    progress.update(st.step, last_loss, parts.probe, parts.focus, parts.retrieval, parts.readout, lr,
                    answers);
    if (loss_n > 0 && (st.step % 10 == 0 || st.step == o.steps)) {
      st.loss_curve.push_back({st.step, loss_acc / loss_n});
      loss_acc = 0;
      loss_n = 0;
    }
    if (st.step % o.checkpoint_every == 0 || st.step == o.steps || st.step == o.vision_steps) {
      std::string heads;
      for (int h = 0; h < kPatchLabelHeads; ++h)
        heads += fmt::format(" {} {:.1f}%", kPatchLabelNames[static_cast<std::size_t>(h)],
                             100 * parts.probe_accuracy[static_cast<std::size_t>(h)]);
      spdlog::info("step {}: patch probe on object patches:{}", st.step, heads);
      clockNow();
      saveCheckpoint(ckpt, net, probe, optimizer, st, o);
      saveReadout(ckpt, readout, readout_optimizer);
    }
  }
  progress.finish();
  clockNow();
  exportModel(out, net, config, o, st);
  spdlog::info("wrote {} ({} steps, {:.0f} s, final loss {:.4f})", out.string(), st.step,
               st.wall_seconds, last_loss);
  return {st.step, st.wall_seconds, last_loss, params};
}

}  // namespace hae::demo
