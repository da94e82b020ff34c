#pragma once
// `hae train-demo`: trains the embedded demo model (a small LLaVA-1.5-layout VLM) on synthetic
// scenes generated on the fly, checkpointing so a run can resume, and writes a Hugging Face LLaVA
// folder the runtime loads like any other checkpoint.
#include <cstdint>
#include <string>

#include "hae/model_config.h"

namespace hae::demo {

struct TrainOptions {
  std::string out_dir = "resources/demo/model";
  int steps = 8000;
  int batch = 8;               // scene groups per step (each ~20 supervised answers)
  double lr = 2e-3;            // peak learning rate
  int warmup = 100;            // linear warm-up steps
  int vision_steps = 1000;     // first steps train the vision tower on the patch probe alone
  int vision_batch = 32;       // images per vision-stage step
  double min_lr_ratio = 0.05;  // cosine decays to lr * this
  double weight_decay = 0.05;
  double clip = 1.0;  // global gradient-norm clip
  double beta2 = 0.98;
  double probe_weight = 1.0;  // weight of the training-only patch probe loss (0: off)
  double focus_weight = 0.2;  // weight of the layer-0 question-to-object attention loss (0: off)
  double retrieval_weight = 1.0;  // weight of the answer-to-object retrieval attention loss (0: off)
  double readout_weight = 1.0;  // weight of the colour/shape readout of the retrieval heads (0: off)
  std::uint64_t seed = 1;
  bool resume = false;
  int checkpoint_every = 50;  // steps
  bool progress = true;       // progress bar on stderr
};

// Throws hae::Error naming the option (--steps, --lr, ...) for a nonsense value.
void validateTrainOptions(const TrainOptions& options);

// The demo architecture: 168 px images in 14 px patches (144 tokens), a 4-layer CLIP tower, a
// 4-layer Llama decoder with GQA, the demo vocabulary.
LlavaConfig demoModelConfig();

struct TrainReport {
  int steps = 0;
  double wall_seconds = 0;  // this run and the runs it resumed
  double final_loss = 0;
  std::int64_t parameters = 0;
};

// Trains and writes config.json, model.safetensors, tokenizer.json, preprocessor_config.json,
// generation_config.json and train_state.json into options.out_dir (checkpoints in
// out_dir/checkpoint). `config` sets the architecture (tests use a smaller one).
TrainReport trainDemoModel(const TrainOptions& options,
                           const LlavaConfig& config = demoModelConfig());

// The Hugging Face files for a config (without weights); used by the trainer and the tests.
std::string llavaConfigJson(const LlavaConfig& config);
std::string preprocessorConfigJson(int image_size);
std::string generationConfigJson();

}  // namespace hae::demo
