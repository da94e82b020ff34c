// `hae dump`: run a checkpoint on reference inputs and write every intermediate in the fixtures'
// naming, so any checkpoint can be compared with any reference implementation.
#include <fmt/core.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "cli_context.h"
#include "engine/engine.h"
#include "hae/error.h"
#include "io/torch_tensors.h"
#include "models/vlm_model.h"
#include "policies/policy.h"

namespace hae::cli {

namespace {

struct DumpArgs {
  std::string model, inputs, out, dtype = "fp32";
  int greedy = 0;
};

at::Tensor required(const SafetensorsArchive& in, const std::string& name) {
  if (!in.contains(name)) throw Error(fmt::format("{}: missing input tensor '{}'", in.source(), name));
  return toTorch(in.get(name));
}

void runDump(const DumpArgs& a) {
  LoadOptions load;
  if (a.dtype == "bf16") load.float_dtype = torch::kBFloat16;
  else if (a.dtype != "fp32") throw Error("--dtype: expected fp32 or bf16, got '" + a.dtype + "'");
  std::shared_ptr<VlmModel> model = loadModel(a.model, load);
  const auto inputs = SafetensorsArchive::openFile(a.inputs);
  auto ids = required(inputs, "input_ids");
  if (ids.dim() != 2 || ids.size(0) != 1)
    throw Error(fmt::format("{}: input_ids must have shape [1, S]", a.inputs));
  at::Tensor pixels;
  if (inputs.contains("pixel_values")) pixels = toTorch(inputs.get("pixel_values")).to(torch::kFloat32);
  auto flat = ids[0].contiguous();
  const PromptPlan plan = model->planFromIds(
      std::vector<std::int64_t>(flat.data_ptr<std::int64_t>(), flat.data_ptr<std::int64_t>() + flat.numel()),
      pixels);

  Engine engine(model, makePolicy("full", {}));
  ForwardCapture cap;
  cap.enabled = true;
  auto last = engine.prefill(plan, &cap);
  std::map<std::string, at::Tensor> out;
  out["input_ids"] = ids;
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
