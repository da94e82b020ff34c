#pragma once
// What a policy or the telemetry asked to see of one layer's attention in one forward. Kept apart
// from llama.h so policy files need only ATen's Tensor, not the nn module headers.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace hae {

// Filled only when requested, so the normal path never keeps attention probabilities around.
struct AttentionTap {
  std::vector<std::int64_t> query_rows;  // rows of this chunk to aggregate over; empty = all
  bool keep_probs = false;               // also keep probs [q_heads, |Q|, slots]
  // Also compute col_sum as if masked slots (an unattended recycle bin) were attended, so a
  // policy can score slots that take no part in the real attention.
  bool peek_masked = false;
  // Only col_sum (col_max and head_col_sum stay undefined): a decode step's scorer that needs no
  // more saves the other reductions on every step.
  bool col_sum_only = false;
  // The engine's own observers (the full-cache shadow, recorded attention), whatever query_rows
  // and reductions the policy chose: the probabilities of this chunk's last row, per query head.
  bool keep_last_row = false;
  // Outputs, float32, over the layer's cache slots at the time of the forward:
  at::Tensor col_sum;       // [slots]   sum over Q of the head-mean probability
  at::Tensor col_max;       // [slots]   max over Q of the head-mean probability
  at::Tensor head_col_sum;  // [kv_heads, slots]  sum over Q and the heads of each KV group
  at::Tensor probs;
  at::Tensor col_sum_peek;  // [slots] only with peek_masked and a mask present
  // Per-KV-head caches (LayerCache::perHead): per KV head h, [head h's slots], summed over Q and
  // the heads of the group; the other outputs stay undefined (the heads share no slot axis).
  std::vector<at::Tensor> ragged_head_col_sum;
  // With keep_last_row: [q_heads, slots]; per-KV-head caches: one [group heads, head h's slots]
  // per KV head in ragged_last_row (last_row stays undefined).
  at::Tensor last_row;
  std::vector<at::Tensor> ragged_last_row;
};

}  // namespace hae
