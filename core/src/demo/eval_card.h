#pragma once
// The demo model's evaluation card: eval_card.json (machine-readable) and eval_card.md, written
// next to the weights from what `hae eval` measured and what the trainer recorded
// (train_state.json: seed, steps, wall time, hyperparameters).
#include "evaluate.h"

namespace hae::demo {

void writeEvalCard(const EvalResult& result, const EvalOptions& options);

}  // namespace hae::demo
