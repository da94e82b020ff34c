#pragma once
// The vision tower's own attention for the engine's V hook (FasterVLM, VisionZip): recomputed from
// one encoder layer's input with that layer's weights, so the tower's forward stays as it is.
#include <torch/types.h>

#include "clip_vision.h"

namespace hae {

// [B, N] fp32: the softmax attention of `layer` on its input x [B, N, D], heads averaged, from the
// query row `query` (0: CLIP's CLS token) or, with query < 0, averaged over every query row
// (the attention each token receives: what VisPruner uses where there is no CLS token).
torch::Tensor encoderLayerAttention(ClipEncoderLayerImpl& layer, const torch::Tensor& x, int query);

}  // namespace hae
