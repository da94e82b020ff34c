// `hae train-demo`: train the embedded demo model on synthetic scenes (see core/src/demo/trainer.h)
// and, with --eval N, measure it on held-out scenes and write its evaluation card.
#include <fmt/core.h>

#include "cli_context.h"
#include "demo/evaluate.h"
#include "demo/trainer.h"
#include "hae/report.h"

namespace hae::cli {

namespace {

struct TrainArgs {
  demo::TrainOptions train;
  int eval = 0;
  bool no_progress = false;
};

void runTrain(TrainArgs& a) {
  a.train.progress = !a.no_progress;
  checkOutputFolder("--out", a.train.out_dir);
  demo::validateTrainOptions(a.train);
  const demo::TrainReport report = demo::trainDemoModel(a.train);
  fmt::print("trained {} steps in {:.0f} s, final loss {:.4f}, {} parameters -> {}\n", report.steps,
             report.wall_seconds, report.final_loss, report.parameters, a.train.out_dir);
  if (a.eval > 0) {
    demo::EvalOptions e;
    e.model_dir = a.train.out_dir;
    e.samples = a.eval;
    e.write_card = true;
    demo::printEvaluation(demo::evaluateDemoModel(e));
  }
}

}  // namespace

void addTrainDemoCommand(CLI::App& app, const GlobalOptions&) {
  auto args = std::make_shared<TrainArgs>();
  auto& t = args->train;
  auto* cmd = app.add_subcommand("train-demo", "Train the embedded demo model on synthetic scenes");
  cmd->add_option("--out", t.out_dir, "output folder (Hugging Face LLaVA layout)")
      ->capture_default_str();
  cmd->add_option("--steps", t.steps, "optimizer steps")->capture_default_str();
  cmd->add_option("--batch", t.batch, "scene groups per step (each one scene with ~20 question/answer branches)")
      ->capture_default_str();
  cmd->add_option("--lr", t.lr, "peak learning rate")->capture_default_str();
  cmd->add_option("--warmup", t.warmup, "linear warm-up steps")->capture_default_str();
  cmd->add_option("--weight-decay", t.weight_decay, "AdamW weight decay")->capture_default_str();
  cmd->add_option("--clip", t.clip, "gradient-norm clip")->capture_default_str();
  cmd->add_option(
         "--probe-weight", t.probe_weight,
         "weight of the training-only patch probe loss that teaches the vision tower (0: off)")
      ->capture_default_str();
  cmd->add_option("--focus-weight", t.focus_weight,
                  "weight of the loss that pulls layer-0 attention of question words onto their "
                  "objects (0: off)")
      ->capture_default_str();
  cmd->add_option("--retrieval-weight", t.retrieval_weight,
                  "weight of the loss that pulls one head of each deeper layer from every answer "
                  "token onto the object it names (0: off)")
      ->capture_default_str();
  cmd->add_option("--readout-weight", t.readout_weight,
                  "weight of the loss that makes those retrieval heads bring back the colour and "
                  "shape of the object (0: off)")
      ->capture_default_str();
  cmd->add_option("--vision-steps", t.vision_steps,
                  "first steps train only the vision tower, on the patch probe (0: none)")
      ->capture_default_str();
  cmd->add_option("--vision-batch", t.vision_batch, "images per vision-stage step")
      ->capture_default_str();
  cmd->add_option("--min-lr-ratio", t.min_lr_ratio, "final learning rate / peak")
      ->capture_default_str();
  cmd->add_option("--checkpoint-every", t.checkpoint_every, "steps between checkpoints")
      ->capture_default_str();
  cmd->add_option("--seed", t.seed, "initialisation and data seed")->capture_default_str();
  cmd->add_flag("--resume", t.resume, "continue from OUT/checkpoint");
  cmd->add_option("--eval", args->eval, "then evaluate on N held-out samples and write the card");
  cmd->add_flag("--no-progress", args->no_progress, "no progress bar");
  cmd->callback([args] { runTrain(*args); });
}

}  // namespace hae::cli
