// `hae dump`: run a checkpoint on reference inputs and write every intermediate in the fixtures'
// naming, so any checkpoint can be compared with any reference implementation.
#include <fmt/core.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "cli_context.h"
#include "engine/engine.h"
#include "hae/error.h"
#include "hae/idefics3_config.h"
#include "hae/model_config.h"
#include "hae/phi3v_preprocess.h"
#include "hae/qwen2vl_config.h"
#include "hae/report.h"
#include "io/torch_tensors.h"
#include "models/vlm_model.h"
#include "policies/policy.h"

namespace hae::cli {

namespace {

struct DumpArgs {
  std::string model, inputs, out, dtype = "fp32";
  int greedy = 0;
};

std::string shapeText(const std::vector<std::int64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

// input_ids as transformers writes them: int64 [1, S], S >= 1. Checked before any tensor op, so a
// wrong file gives one line instead of a LibTorch trace.
std::vector<std::int64_t> readInputIds(const SafetensorsArchive& in, const std::string& file,
                                       const VlmModel& model) {
  if (!in.contains("input_ids"))
    throw Error(fmt::format("{}: missing input tensor 'input_ids'", file));
  const TensorView& v = in.get("input_ids");
  if (v.dtype != DType::I64 || v.shape.size() != 2 || v.shape[0] != 1 || v.shape[1] < 1)
    throw Error(
        fmt::format("{}: input_ids is {} {}; expected I64 token ids of shape [1, S] with S >= 1",
                    file, dtypeName(v.dtype), shapeText(v.shape)));
  const at::Tensor ids = toTorch(v).contiguous();
  std::vector<std::int64_t> out(ids.data_ptr<std::int64_t>(),
                                ids.data_ptr<std::int64_t>() + ids.numel());
  const ModelSpec& spec = model.spec();
  for (std::int64_t id : out) {
    // Phi-3.5-V's processor marks image k's positions with -k; every other id is a token.
    const bool image_mark = spec.family == "phi3_v" && id < 0;
    if ((id < 0 && !image_mark) || id >= spec.vocab_size)
      throw Error(
          fmt::format("{}: input_ids holds id {}; the model's ids lie in [0, {}) (vocab_size)",
                      file, id, spec.vocab_size));
  }
  return out;
}

// pixel_values in the layout of the family's image processor, image size from config.json.
at::Tensor readPixelValues(const SafetensorsArchive& in, const std::string& file,
                           const VlmModel& model, const std::string& model_dir) {
  if (!in.contains("pixel_values")) return {};
  const TensorView& v = in.get("pixel_values");
  const std::string& family = model.spec().family;
  std::string expected;
  bool ok = false;
  const auto& s = v.shape;
  if (family == "llava") {
    const int size = loadLlavaConfig(model_dir).vision.image_size;
    expected = fmt::format("[images, 3, {}, {}]", size, size);
    ok = s.size() == 4 && s[0] >= 1 && s[1] == 3 && s[2] == size && s[3] == size;
  } else if (family == "phi3_v") {
    expected = fmt::format("[images, crops, 3, {}, {}]", kPhi3vCropSize, kPhi3vCropSize);
    ok = s.size() == 5 && s[0] >= 1 && s[1] >= 1 && s[2] == 3 && s[3] == kPhi3vCropSize &&
         s[4] == kPhi3vCropSize;
  } else if (family == "idefics3") {
    const int size = loadIdefics3Config(model_dir).vision.image_size;
    expected = fmt::format("[1, tiles, 3, {}, {}] or [tiles, 3, {}, {}]", size, size, size, size);
    const std::size_t r = s.size();
    ok = (r == 5 || r == 4) && s[0] >= 1 && s[r - 4] >= 1 && s[r - 3] == 3 && s[r - 2] == size &&
         s[r - 1] == size;
  } else if (family == "qwen2_vl" || family == "qwen2_5_vl") {
    const int row = loadQwen2VLConfig(model_dir).vision.patchRow();
    expected = fmt::format("[patches, {}] with image_grid_thw [images, 3]", row);
    ok = s.size() == 2 && s[0] >= 1 && s[1] == row;
  } else {
    spdlog::warn("{}: pixel_values ignored: {} has no vision tower", file, model.spec().name);
    return {};
  }
  const bool floating = v.dtype == DType::F32 || v.dtype == DType::F16 || v.dtype == DType::BF16 ||
                        v.dtype == DType::F64;
  if (!ok || !floating)
    throw Error(fmt::format("{}: pixel_values is {} {}; expected a float tensor of shape {} ({})",
                            file, dtypeName(v.dtype), shapeText(v.shape), expected, family));
  return toTorch(v).to(torch::kFloat32);
}

// The forward pass and greedy decode; what the dump file holds.
std::map<std::string, at::Tensor> runDumpOn(const DumpArgs& a,
                                            const std::shared_ptr<VlmModel>& model,
                                            const at::Tensor& ids,
                                            const std::vector<std::int64_t>& id_list,
                                            const at::Tensor& pixels, const at::Tensor& grid_thw) {
  const PromptPlan plan = model->planFromInputs(id_list, pixels, grid_thw);
  Engine engine(model, makePolicy("full", {}));
  ForwardCapture cap;
  cap.enabled = true;
  auto last = engine.prefill(plan, &cap);
  std::map<std::string, at::Tensor> out;
  out["input_ids"] = ids;
  if (!plan.mrope_positions.empty()) {  // M-RoPE: transformers' position_ids [3, 1, S], rope_deltas
    std::vector<std::int64_t> flat(3 * plan.mrope_positions.size());
    const std::size_t n = plan.mrope_positions.size();
    for (std::size_t i = 0; i < n; ++i)
      for (int a = 0; a < 3; ++a) flat[a * n + i] = plan.mrope_positions[i][a];
    out["position_ids"] = torch::tensor(flat, torch::kInt64).view({3, 1, static_cast<std::int64_t>(n)});
    out["rope_deltas"] = torch::full({1, 1}, plan.rope_delta, torch::kInt64);
    out["image_grid_thw"] = plan.image_grid_thw.defined() ? plan.image_grid_thw : torch::zeros({0, 3}, torch::kInt64);
  }
  out["logits"] = cap.logits;
  out["inputs_embeds"] = cap.inputs_embeds.to(torch::kFloat32);
  out["last_layer_output_prenorm"] = cap.last_layer_output_prenorm.to(torch::kFloat32);
  for (std::size_t i = 0; i < cap.hidden_states.size(); ++i)
    out[fmt::format("hidden_states.{}", i + 1)] = cap.hidden_states[i].to(torch::kFloat32);
  if (cap.image.image_embeds.defined()) {
    out["pixel_values"] = pixels;
    out["image_embeds"] = cap.image.image_embeds.to(torch::kFloat32);
    out["vision_features"] = cap.image.vision_features.to(torch::kFloat32);
    for (std::size_t i = 0; i < cap.image.vision_hidden_states.size(); ++i)
      out[fmt::format("vision_hidden_states.{}", i)] = cap.image.vision_hidden_states[i].to(torch::kFloat32);
  }
  if (a.greedy > 0) {
    std::vector<std::int64_t> gen;
    std::vector<at::Tensor> gen_logits;
    for (int s = 0; s < a.greedy; ++s) {
      gen_logits.push_back(last);
      gen.push_back(last.argmax().item<std::int64_t>());
      if (s + 1 < a.greedy) last = engine.decode(gen.back());
    }
    out["gen_ids"] = torch::tensor(gen, torch::kInt64).unsqueeze(0);
    out["gen_logits"] = torch::stack(gen_logits).unsqueeze(0);
  }
  return out;
}

void runDump(const DumpArgs& a) {
  checkOutputFile("--out", a.out);
  LoadOptions load;
  if (a.dtype == "bf16")
    load.float_dtype = torch::kBFloat16;
  else if (a.dtype != "fp32")
    throw Error("--dtype: expected fp32 or bf16, got '" + a.dtype + "'");
  std::shared_ptr<VlmModel> model = loadModel(a.model, load);
  const auto inputs = SafetensorsArchive::openFile(a.inputs);
  const std::vector<std::int64_t> id_list = readInputIds(inputs, a.inputs, *model);
  const at::Tensor ids = torch::tensor(id_list, torch::kInt64).unsqueeze(0);
  const at::Tensor pixels = readPixelValues(inputs, a.inputs, *model, a.model);
  at::Tensor grid_thw;  // Qwen2-VL: each image's (t, h, w) patches
  if (pixels.defined() && inputs.contains("image_grid_thw")) {
    const TensorView& g = inputs.get("image_grid_thw");
    if (g.dtype != DType::I64 || g.shape.size() != 2 || g.shape[1] != 3)
      throw Error(fmt::format("{}: image_grid_thw is {} {}; expected I64 of shape [images, 3]",
                              a.inputs, dtypeName(g.dtype), shapeText(g.shape)));
    grid_thw = toTorch(g).clone();
  }
  std::map<std::string, at::Tensor> out;
  try {
    out = runDumpOn(a, model, ids, id_list, pixels, grid_thw);
  } catch (const c10::Error& e) {
    // What the checks above cannot see (a crop count that does not match the ids, ...): one line
    // naming the inputs, not LibTorch's trace.
    const std::string what = e.what_without_backtrace();
    throw Error(fmt::format("{}: the model cannot run these inputs: {}", a.inputs,
                            what.substr(0, what.find('\n'))));
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", a.inputs, e.what()));
  }
  writeTorchSafetensors(a.out, out, {{"producer", "hae dump"}});
  spdlog::info("wrote {} tensors to {}", out.size(), a.out);
}

}  // namespace

void addDumpCommand(CLI::App& app, const GlobalOptions&) {
  auto args = std::make_shared<DumpArgs>();
  auto* cmd = app.add_subcommand(
      "dump", "Run a checkpoint on reference inputs; write logits, hidden states, image embeddings "
              "and a greedy decode in the Hugging Face fixtures' naming");
  cmd->add_option("--model", args->model, "Hugging Face model folder")->required()->check(CLI::ExistingDirectory);
  cmd->add_option("--inputs", args->inputs, "safetensors with input_ids [1,S] and pixel_values")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--out", args->out, "output .safetensors (written atomically)")->required();
  cmd->add_option("--greedy", args->greedy, "also decode N tokens greedily with the KV cache")
      ->check(CLI::Range(0, 100000));
  cmd->add_option("--dtype", args->dtype, "fp32 or bf16")->check(CLI::IsMember({"fp32", "bf16"}));
  cmd->callback([args] { runDump(*args); });
}

}  // namespace hae::cli
