// `hae eval`: measure the demo model on held-out synthetic scenes through the inference path
// (full cache, greedy), print per-kind accuracy, and with --card write its evaluation card.
#include "cli_context.h"
#include "demo/evaluate.h"

namespace hae::cli {

void addEvalCommand(CLI::App& app, const GlobalOptions&) {
  auto opts = std::make_shared<demo::EvalOptions>();
  auto no_card = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand("eval", "Measure the demo model on held-out synthetic scenes");
  cmd->add_option("--model", opts->model_dir, "model folder (default: the embedded demo model)")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--samples,-n", opts->samples, "held-out samples")->capture_default_str();
  cmd->add_option("--max-new-tokens", opts->max_new_tokens, "longest answer")
      ->capture_default_str();
  cmd->add_flag("--attention", opts->attention,
                "also measure layer-0 question-to-image attention on the object asked about");
  cmd->add_flag("--no-card", *no_card,
                "do not write eval_card.json / eval_card.md into the model folder");
  cmd->callback([opts, no_card] {
    opts->write_card = !*no_card;
    demo::printEvaluation(demo::evaluateDemoModel(*opts));
  });
}

}  // namespace hae::cli
