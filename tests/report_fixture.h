#pragma once
// A small synthetic run for the report tests (gtest and QtTest): one image with a 4x6 grid and a
// 2x2 global grid, 4 layers, a prefill and 5 decode steps with evictions, bin traffic, a token
// that needs CSV quoting, and one step whose layer times add up to more than its forward.
#include <algorithm>
#include <string>
#include <vector>

#include "hae/telemetry.h"

namespace hae::test {

struct SyntheticRun {
  RunInfo info;
  std::vector<StepTelemetry> steps;
  std::string answer;
};

inline SyntheticRun syntheticRun(const std::string& image_path) {
  SyntheticRun r;
  RunInfo& info = r.info;
  info.model_name = "synthetic-llava";
  info.model_path = "models/synthetic";
  info.policy_name = "hae";
  info.knobs = {{"r", "0.5"}, {"bin", "8"}};
  info.prompt = "<image>\nWhat is this?";
  info.num_layers = 4;
  info.kv_bytes_per_token = 4 * 2 * 2 * 16 * 4;  // layers x K/V x heads x head_dim x fp32
  info.device = "cpu";
  info.threads = 2;
  ImageInfo im;
  im.path = image_path;
  im.width = 640;
  im.height = 427;
  im.grids.push_back({0, 0, 4, 6, {0, 0, 640, 427}, false});
  im.grids.push_back({0, 1, 2, 2, {0, 0, 640, 427}, true});
  info.images.push_back(im);

  auto add = [&](Modality m, const std::string& text) {
    TokenInfo t;
    t.position = static_cast<int>(info.tokens.size());
    t.id = 100 + t.position;
    t.modality = m;
    t.text = text;
    info.tokens.push_back(t);
    return static_cast<int>(info.tokens.size()) - 1;
  };
  add(Modality::Prefix, "<s>");
  add(Modality::Prefix, "USER:");
  for (int crop = 0; crop < 2; ++crop) {
    const int rows = crop == 0 ? 4 : 2, cols = crop == 0 ? 6 : 2;
    for (int row = 0; row < rows; ++row)
      for (int col = 0; col < cols; ++col) {
        const int i = add(Modality::Visual, "");
        info.tokens[i].image = 0;
        info.tokens[i].crop = crop;
        info.tokens[i].row = row;
        info.tokens[i].col = col;
        info.visual_tokens.push_back(i);
      }
  }
  add(Modality::Separator, "\n");
  for (const char* w : {"What", " is", " this", "?", " ASSISTANT:"}) add(Modality::Text, w);

  const int prompt = static_cast<int>(info.tokens.size());
  const int visual = static_cast<int>(info.visual_tokens.size());
  const char* words[] = {"", "A", " rose", ", \"red\"", "\n", "."};
  int bin_total = 0, evicted = 0;
  for (int s = 0; s <= 5; ++s) {
    StepTelemetry t;
    t.step = s;
    t.token_id = s == 0 ? -1 : 500 + s;
    t.token_text = words[s];
    t.context_length = prompt + s;
    t.model_ms = s == 0 ? 40.0 : 2.0 + 0.25 * s;
    t.policy_ms = s == 0 ? 1.5 : 0.125 * s;
    if (s == 0) {
      for (int v = 0; v < 8; ++v)
        t.events.push_back({EventKind::Evict, 0, v < 4 ? 2 : -1, -1, info.visual_tokens[v],
                            Modality::Visual, 0.01f * v});
      for (int v = 8; v < 12; ++v)
        t.events.push_back(
            {EventKind::Demote, 0, -1, -1, info.visual_tokens[v], Modality::Visual, 0.1f});
      evicted = 8;
      bin_total = 4;
    } else if (s == 2) {
      t.events.push_back(
          {EventKind::Restore, 2, -1, -1, info.visual_tokens[8], Modality::Visual, 0.9f});
      bin_total = 3;
    } else if (s == 4) {
      t.events.push_back(
          {EventKind::Purge, 4, -1, -1, info.visual_tokens[9], Modality::Visual, 0.0f});
      t.events.push_back(
          {EventKind::Demote, 4, -1, -1, info.visual_tokens[12], Modality::Visual, 0.2f});
      bin_total = 3;
      evicted = 9;
    }
    for (int l = 0; l < 4; ++l) {
      LayerStats ls;
      const int gone = l >= 2 ? evicted : 0;
      const int binned = l >= 1 ? bin_total : 0;
      ls.live[static_cast<int>(Modality::Prefix)] = 2;
      ls.live[static_cast<int>(Modality::Visual)] = visual - gone - binned;
      ls.live[static_cast<int>(Modality::Separator)] = 1;
      ls.live[static_cast<int>(Modality::Text)] = 5;
      ls.live[static_cast<int>(Modality::Generated)] = s;
      ls.bin = binned;
      ls.bytes = static_cast<std::int64_t>(prompt + s - gone) * (info.kv_bytes_per_token / 4);
      // Step 3's layers add up to more than its forward (timer noise): the trace must scale them.
      ls.ms = s == 0 ? 8.0 + l : s == 3 ? 1.0 : 0.4;
      t.layers.push_back(ls);
      std::vector<PatchState> states(visual, PatchState::Kept);
      for (int v = 0; v < visual; ++v) {
        if (v < std::min(gone, 8) || (s >= 4 && v == 9 && l >= 1))
          states[v] = PatchState::Evicted;
        else if (l >= 1 && ((v >= 8 && v < 12 && !(s >= 2 && v == 8)) || (s >= 4 && v == 12)))
          states[v] = PatchState::InBin;
      }
      t.patch_states.push_back(states);
    }
    r.steps.push_back(t);
  }
  r.answer = "A rose, \"red\"\n.";
  return r;
}

}  // namespace hae::test
