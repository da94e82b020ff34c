// `hae inspect`: the architecture, parameter count and KV bytes per token of a checkpoint.
#include <fmt/core.h>

#include "cli_context.h"
#include "hae/session.h"
#include "models/vlm_model.h"

namespace hae::cli {

void addInspectCommand(CLI::App& app, const GlobalOptions&) {
  struct Args {
    std::string model, random_init;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("inspect", "Print a model's architecture, parameter count and KV bytes per token");
  auto* model = cmd->add_option("--model", args->model, "Hugging Face model folder (default: the demo model)")
                    ->check(CLI::ExistingDirectory);
  cmd->add_option("--random-init", args->random_init, "config.json: the same architecture with random weights")
      ->check(CLI::ExistingFile)
      ->excludes(model);
  cmd->callback([args] {
    LoadOptions load;
    auto m = !args->random_init.empty()
                 ? randomModel(args->random_init, load, 0)
                 : loadModel(args->model.empty() ? demoModelDir() : args->model, load);
    const ModelSpec& s = m->spec();
    fmt::print("{}\n", m->describe());
    fmt::print("KV cache: {} bytes per token ({} layers x {} KV heads x {} head dim x K+V x {} bytes)\n",
               s.kvBytesPerToken(), s.num_layers, s.num_kv_heads, s.head_dim, c10::elementSize(s.dtype));
  });
}

}  // namespace hae::cli
