#pragma once
// The demo trainer's batched forward over LlavaNet's modules: groups of one shared image prefix and
// several question branches, right-padded into one batch. Per branch it is the same math as the
// inference path (RMSNorm, halves-layout RoPE at the token's own positions, GQA, SwiGLU, fp32
// softmax): a branch token attends to the prefix and to the earlier tokens of its own branch only,
// and its positions continue from the prefix, so it sees exactly what a single prompt would.
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/types.h>

#include <array>
#include <vector>

#include "../models/llava.h"
#include "train_data.h"

namespace hae::demo {

struct TrainBatch {
  torch::Tensor ids;           // [B, S] int64, pad id where empty
  torch::Tensor positions;     // [B, S] int64
  torch::Tensor allowed;       // [B, S, S] bool: query row may attend to key column
  torch::Tensor pixels;        // [images, 3, H, W] in batch order
  torch::Tensor label_rows;    // [T] int64 flat indices b * S + s whose logits predict a target
  torch::Tensor labels;        // [T] int64 the target ids
  torch::Tensor patch_labels;  // [images, patches, kPatchLabelHeads] int64, undefined if absent
  // Attention focus items, one per branch with a focus: the group, its question-word rows and
  // the key columns of its objects' patches (float masks [F, S]). Undefined when there are none.
  torch::Tensor focus_group, focus_rows, focus_cols;
  // Answer retrieval items, one per target token that reads out an object: its flat row
  // b * S + s (the logits row predicting it) and the key columns of that object's patches
  // (float mask [R, S]). Undefined when there are none.
  torch::Tensor retrieval_rows, retrieval_cols;
  // [R, 2] int64: colour and shape of the object each retrieval row reads out, or kNoAttribute.
  torch::Tensor retrieval_attributes;
};

// Training-only linear probe on the vision features the projector consumes: predicting what
// covers each patch (colour, shape, size, place) gives the tower dense supervision, which gets a
// from-scratch model past the plateau where it answers from the question alone. Not exported.
struct PatchProbeImpl : torch::nn::Module {
  explicit PatchProbeImpl(int in_features);
  torch::nn::Linear head{nullptr};
};
TORCH_MODULE(PatchProbe);

// Training-only linear readouts of the retrieval head (head 0) of every deeper layer: from what
// the head brings back to an answer token they predict the colour and shape of the object the
// token reads out. Without them the decoder learned to bring back where an object is and what
// shape it has long before its colour. Not exported.
struct RetrievalReadoutImpl : torch::nn::Module {
  RetrievalReadoutImpl(int layers, int head_dim);  // layers: the deeper layers (all but layer 0)
  std::vector<torch::nn::Linear> heads;
};
TORCH_MODULE(RetrievalReadout);

struct LossParts {
  double answer = 0;  // cross-entropy on the answer tokens
  double probe = 0;   // mean cross-entropy of the patch probe heads
  double focus = 0;   // mean -log(layer-0 attention share of the question words on their objects)
  double retrieval = 0;  // mean -log(deeper layers' retrieval-head share on the object read out)
  double readout = 0;    // mean cross-entropy of the retrieval readouts (colour, shape)
  // Per probe head, the share of object patches it labels right.
  std::array<double, kPatchLabelHeads> probe_accuracy{};
};

struct AuxWeights {
  double probe = 0;
  double focus = 0;
  double retrieval = 0;
  double readout = 0;
};

TrainBatch makeTrainBatch(const std::vector<TrainGroup>& groups, int image_size, int pad_id);

// Mean cross-entropy over the target tokens, plus weights.probe times the probe's loss when a
// probe and patch labels are given.
// Also, with weights.focus, pulls layer 0's head-averaged attention from each question's words
// onto the patches of the objects it asks about: the attention an eviction policy should find.
// And, with weights.retrieval, pulls one head (head 0) of every deeper layer from each answer
// token onto the object that token reads out: a direct path from the question to the pixels that
// gets a from-scratch model past the plateau where it answers from the question alone.
// And, with weights.readout and readouts, makes what those heads bring back carry the object's
// colour and shape.
// The probe's loss alone, through the vision tower only: the cheap first stage that teaches the
// tower what is where before the decoder has anything to read.
torch::Tensor visionLoss(LlavaNet& net, const LlavaConfig& config, const TrainBatch& batch,
                         PatchProbe& probe, LossParts* parts = nullptr);

torch::Tensor trainLoss(LlavaNet& net, const LlavaConfig& config, const TrainBatch& batch,
                        PatchProbe* probe = nullptr, AuxWeights weights = {},
                        LossParts* parts = nullptr, RetrievalReadout* readouts = nullptr);

}  // namespace hae::demo
