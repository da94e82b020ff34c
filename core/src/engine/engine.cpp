#include "engine.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>

#include "../models/prompt_text.h"
#include "../text/rope.h"
#include "hae/build_info.h"
#include "overrides.h"
#include "hae/error.h"
#include "hae/weight_manifest.h"

namespace hae {

namespace {

using Clock = std::chrono::steady_clock;
double msSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

void syncDevice(const c10::Device& device) {
  // CUDA kernels are asynchronous; without a sync the per-layer times would measure launches.
  if (device.is_cuda()) torch::cuda::synchronize();
}

// A prompt too long for this machine fails inside LibTorch's allocator after minutes of work;
// refuse it up front. Prefill holds one layer's attention weights (heads x n x n, fp32) and the
// whole cache at once.
void requirePrefillFits(const ModelSpec& spec, std::int64_t n) {
  if (!spec.device.is_cpu()) return;
  const auto available = availableMemoryBytes();
  const double attention = 4.0 * spec.num_heads * double(n) * double(n);
  const double cache = double(spec.kvBytesPerToken()) * double(n);
  if (!available || attention + cache <= double(*available)) return;
  throw Error(fmt::format(
      "prompt of {} tokens: prefill needs about {:.1f} GB for one layer's attention ({} heads x "
      "{}^2 x 4 bytes) and {:.1f} GB of KV cache, but {:.1f} GB are available; shorten the "
      "prompt or use fewer image crops/tiles (--num-crops, --image-longest-edge)",
      n, attention / 1e9, spec.num_heads, n, cache / 1e9, double(*available) / 1e9));
}

// NaN or Inf logits (broken weights, an overflow in fp16/bf16) would be sampled as some token
// and printed as an answer; stop the run instead.
void requireFiniteLogits(const at::Tensor& logits, const std::string& where) {
  const auto bad = (~torch::isfinite(logits)).sum().item<std::int64_t>();
  if (bad > 0)
    throw Error(fmt::format("{}: the model produced {} NaN or Inf logits of {}; the run is stopped "
                            "(check the weights for NaN/Inf and the load dtype)",
                            where, bad, logits.numel()));
}

// The rotary positions of the rows `metas`: an M-RoPE model (Qwen2-VL) rotates each row by its
// slot's (t, h, w), int64 [3, n]; the others by the 1-D `positions`.
at::Tensor ropePositions(const std::vector<SlotMeta>& metas, const at::Tensor& positions, bool mrope) {
  if (!mrope) return positions;
  const auto n = static_cast<std::int64_t>(metas.size());
  std::vector<std::int64_t> flat(3 * metas.size());
  for (std::int64_t i = 0; i < n; ++i)
    for (int a = 0; a < 3; ++a) flat[a * n + i] = metas[i].mrope[a];
  return torch::tensor(flat, torch::kInt64).view({3, n});
}

}  // namespace

Engine::Engine(std::shared_ptr<VlmModel> model, std::unique_ptr<Policy> policy)
    : model_(std::move(model)), policy_(std::move(policy)) {}

void Engine::checkCancel() const {
  if (cancel_) throw Cancelled();
}

at::Tensor Engine::runLayers(at::Tensor h, at::Tensor positions, std::vector<SlotMeta> metas,
                             bool prefill, ForwardCapture* capture) {
  const ModelSpec& spec = model_->spec();
  telemetry_.layers.assign(spec.num_layers, {});
  std::vector<AttentionTap> taps(spec.num_layers);
  // The observers' taps sit apart from `taps`, which the policy's hooks read.
  std::vector<AttentionTap> own_taps(observe_.attention ? spec.num_layers : 0);
  const bool observing = observe_.visibility || observe_.attention;
  views_.assign(observing ? spec.num_layers : 0, {});
  observe_ms_ = 0;
  PolicyContext ctx{cache_, spec, tokens_, step_, telemetry_.events, telemetry_.probes,
                    prefill ? &telemetry_.merged : nullptr};
  const int kv_length = static_cast<int>(cache_.layer(0).size() + metas.size());
  auto [cos, sin] = model_->rotary(ropePositions(metas, positions, mrope_), kv_length);
  double policy_ms = 0;
  for (int layer = 0; layer < spec.num_layers; ++layer) {
    checkCancel();
    AttentionTap* tap = nullptr;
    if (prefill ? policy_->wantsPrefillTap(layer) : policy_->wantsDecodeTap(layer)) {
      tap = &taps[layer];
      if (prefill) tap->query_rows = policy_->prefillQueryRows(metas);
      policy_->configureTap(layer, prefill, *tap);
    }
    AttentionTap* const policy_tap = tap;
    if (observe_.attention) {
      if (!tap) {
        tap = &own_taps[layer];
        tap->col_sum_only = true;
        if (prefill) tap->query_rows = {static_cast<std::int64_t>(metas.size()) - 1};
      }
      tap->keep_last_row = true;
    }
    const auto start = Clock::now();
    h = model_->layerForward(layer, h, positions, cos, sin, cache_.layer(layer), metas, tap);
    syncDevice(spec.device);
    telemetry_.layers[layer].ms = msSince(start);
    if (observing) {
      const auto observe_start = Clock::now();
      observeLayer(cache_.layer(layer), static_cast<int>(tokens_.size()), observe_, tap, views_[layer]);
      observe_ms_ += msSince(observe_start);
    }
    if (capture && capture->enabled) capture->hidden_states.push_back(h.unsqueeze(0));
    if (prefill && policy_tap) {
      const auto policy_start = Clock::now();
      at::Tensor normed;  // this layer's output rows after the final norm (DART's similarity)
      ctx.hidden = nullptr;
      if (policy_->wantsPrefillHidden(layer)) normed = model_->finalNorm(h), ctx.hidden = &normed;
      ctx.output = &h;
      ctx.replace.clear();
      if (auto keep = policy_->afterPrefillLayer(layer, metas, tap, ctx)) {
        if (!ctx.replace.empty()) {  // new hidden rows (SparseVLM's recycled tokens)
          h = h.clone();             // the capture keeps the layer's own output
          for (const auto& [row, value] : ctx.replace) h[row].copy_(value);
        }
        *keep = withPinnedRows(*keep, metas);
        auto index = torch::tensor(*keep, torch::kInt64).to(h.device());
        h = h.index_select(0, index);
        positions = positions.index_select(0, index.to(positions.device()));
        std::vector<SlotMeta> kept;
        for (auto r : *keep) kept.push_back(metas[r]);
        metas = std::move(kept);
        if (policy_->renumbersPositions()) {
          // The prompt starts at 0: the kept rows become 0..n-1 for the layers after this one.
          positions = torch::arange(static_cast<std::int64_t>(metas.size()), positions.options());
          for (std::size_t i = 0; i < metas.size(); ++i) metas[i].position = static_cast<int>(i);
        }
        std::tie(cos, sin) = model_->rotary(ropePositions(metas, positions, mrope_), kv_length);
      }
      policy_ms += msSince(policy_start);
    }
  }
  const auto policy_start = Clock::now();
  if (prefill) {
    policy_->endPrefill(taps, ctx);
    applyForceEvict(overrides_, ctx);
  } else
    policy_->afterDecodeStep(taps, ctx);
  telemetry_.policy_ms = policy_ms + msSince(policy_start);
  return h;
}

void Engine::shareCores() {
  const int threads = core_share_.threadsNow(requestedThreads());
  if (threads != at::get_num_threads()) at::set_num_threads(threads);
}

at::Tensor Engine::prefill(const PromptPlan& plan, ForwardCapture* capture) {
  torch::NoGradGuard no_grad;
  shareCores();
  const ModelSpec& spec = model_->spec();
  requirePrefillFits(spec, static_cast<std::int64_t>(plan.ids.size()));
  cache_.reset(spec.num_layers);
  tokens_ = plan.tokens;
  checkOverrides(overrides_, tokens_);
  prompt_pixels_ = plan.pixel_values;
  prompt_grid_thw_ = plan.image_grid_thw;
  // M-RoPE: positions are per-token metadata, and decoding continues at the sequence index plus
  // rope_deltas, counted here, whatever the cache holds after an eviction.
  mrope_ = !plan.mrope_positions.empty();
  prompt_mrope_ = plan.mrope_positions;
  rope_delta_ = mrope_ ? plan.rope_delta : 0;
  if (mrope_ && plan.mrope_positions.size() != plan.tokens.size())
    throw Error(fmt::format("prompt plan: {} M-RoPE positions for {} tokens",
                            plan.mrope_positions.size(), plan.tokens.size()));
  if (mrope_ && policy_->renumbersPositions())
    throw Error(fmt::format(
        "policy {}: pos.mode=renumber is not defined for M-RoPE models ({}): a token's rotary "
        "position is an image's (t, h, w) cell, not its index, so renumbering kept tokens 0..n-1 "
        "would move the image; use pos.mode=original (kept tokens keep their 3-D positions)",
        policy_->name(), spec.family));
  answer_start_ = 0;
  visual_tokens_.clear();
  for (std::size_t i = 0; i < tokens_.size(); ++i)
    if (tokens_[i].modality == Modality::Visual) visual_tokens_.push_back(static_cast<int>(i));
  step_ = 0;
  telemetry_ = {};
  const auto start = Clock::now();

  auto ids = torch::tensor(plan.ids, torch::kInt64);
  ImageOutputs* image_out = capture && capture->enabled ? &capture->image : nullptr;
  auto h = model_->embedPlan(ids, plan, image_out);
  embed_ms_ = msSince(start);
  std::vector<SlotMeta> metas;
  std::vector<std::int64_t> positions;
  for (std::size_t i = 0; i < tokens_.size(); ++i) {
    metas.push_back({tokens_[i].position, tokens_[i].modality, static_cast<int>(i)});
    metas.back().pinned = isForceKept(overrides_, tokens_[i].position);
    if (mrope_) metas.back().mrope = plan.mrope_positions[i];
    positions.push_back(tokens_[i].position);
  }
  const double vision_ms = policy_->decidesOnVision() ? visionHook(plan, h, metas, positions) : 0;
  if (capture && capture->enabled) {
    capture->inputs_embeds = h.unsqueeze(0);  // what the decoder got (after the V hook)
    capture->hidden_states.clear();
  }
  h = runLayers(h, torch::tensor(positions, torch::kInt64), metas, true, capture);
  telemetry_.policy_ms += vision_ms;
  auto normed = model_->finalNorm(h);
  at::Tensor logits;
  if (capture && capture->enabled) {
    capture->last_layer_output_prenorm = h.unsqueeze(0);
    capture->hidden_states.back() = normed.unsqueeze(0);  // HF: the last entry is after the norm
    capture->logits = model_->logits(normed).unsqueeze(0).to(torch::kFloat32).cpu();
    logits = capture->logits[0][-1];
  } else {
    logits = model_->logits(normed.narrow(0, normed.size(0) - 1, 1))[0].to(torch::kFloat32).cpu();
  }
  syncDevice(spec.device);
  requireFiniteLogits(logits, "prefill");
  telemetry_.model_ms = msSince(start) - telemetry_.policy_ms - observe_ms_;
  next_position_ = tokens_.empty() ? 0 : tokens_.back().position + 1;
  rope_shift_ = policy_->renumbersPositions() ? renumberCache() : 0;
  recordTelemetry(0);
  return logits;
}

at::Tensor Engine::decode(std::int64_t token, const TokenInfo* prompt_token) {
  torch::NoGradGuard no_grad;
  shareCores();
  const ModelSpec& spec = model_->spec();
  ++step_;
  telemetry_ = {};
  const auto start = Clock::now();
  TokenInfo info;
  info.id = static_cast<int>(token);
  info.position = next_position_;
  info.modality = Modality::Generated;
  if (prompt_token) {
    info.modality = prompt_token->modality;
    info.text = prompt_token->text;
  } else if (const Tokenizer* tok = model_->tokenizer()) {
    std::vector<int> answer;  // the generated tokens so far: the context of this one's text
    for (std::size_t i = answer_start_; i < tokens_.size(); ++i)
      if (tokens_[i].modality == Modality::Generated) answer.push_back(tokens_[i].id);
    info.text = addedText(*tok, answer, static_cast<int>(token));
  }
  tokens_.push_back(info);
  const int held = cache_.layer(0).size();
  if (model_->rotaryRegime(held + 1) != model_->rotaryRegime(held)) recomputeCache(held + 1);
  auto ids = torch::tensor({token}, torch::kInt64);
  auto h = model_->embed(ids, {});
  std::vector<SlotMeta> metas = {{info.position - rope_shift_, info.modality, static_cast<int>(tokens_.size() - 1)}};
  if (mrope_) metas[0].mrope.fill(info.position + rope_delta_);  // i + rope_deltas on every axis
  h = runLayers(h, torch::tensor({static_cast<std::int64_t>(metas[0].position)}, torch::kInt64), metas, false,
                nullptr);
  auto logits = model_->logits(model_->finalNorm(h))[0].to(torch::kFloat32).cpu();
  requireFiniteLogits(logits, fmt::format("decode step {}", step_));
  telemetry_.model_ms = msSince(start) - telemetry_.policy_ms - observe_ms_;
  ++next_position_;
  telemetry_.token_id = info.id;
  telemetry_.token_text = info.text;
  recordTelemetry(step_);
  return logits;
}

void Engine::forgetFrom(int first) {
  if (first <= 0 || first >= static_cast<int>(tokens_.size()))
    throw Error(fmt::format("forgetFrom({}): the run holds {} tokens", first, tokens_.size()));
  if (rope_shift_ != 0)
    throw Error(fmt::format("policy {}: compress once, ask many is not defined with "
                            "pos.mode=renumber (the kept tokens moved, so a new question has no "
                            "position to take); use pos.mode=original",
                            policy_->name()));
  for (std::size_t i = first; i < tokens_.size(); ++i)
    if (tokens_[i].modality != Modality::Generated && isForceKept(overrides_, tokens_[i].position))
      throw Error(fmt::format("what-if edit: position {} is force-kept but belongs to the question "
                              "that compress once, ask many replaces",
                              tokens_[i].position));
  const int forgotten_from = static_cast<int>(tokens_.size());
  for (int l = 0; l < cache_.numLayers(); ++l) {
    LayerCache& lc = cache_.layer(l);
    auto before = [&](const std::vector<SlotMeta>& slots) {
      std::vector<std::int64_t> keep;
      for (std::size_t i = 0; i < slots.size(); ++i)
        if (slots[i].token < first) keep.push_back(static_cast<std::int64_t>(i));
      return keep;
    };
    if (lc.perHead())
      for (int h = 0; h < lc.numHeads(); ++h) lc.keepHead(h, before(lc.headSlots(h)));
    else
      lc.keep(before(lc.slots()));
  }
  next_position_ = tokens_[first].position;
  answer_start_ = forgotten_from;
}

// The V hook: a stage-V policy picks the prompt rows the decoder sees, after the vision tower and
// projector and before layer 0, so a dropped image token is computed by no layer and cached in
// none. Kept rows keep their original positions unless the policy renumbers them (the prompt
// starts at 0, so the kept rows become 0..n-1 and decoding continues at n). Returns its time.
double Engine::visionHook(const PromptPlan& plan, at::Tensor& h,
                          std::vector<SlotMeta>& metas, std::vector<std::int64_t>& positions) {
  const auto start = Clock::now();
  VisionInput in{h, metas, {}, false, {}};
  if (policy_->wantsTowerAttention())
    in.tower_attention = model_->towerAttention(plan, &in.tower_has_cls, &in.tower_missing);
  PolicyContext ctx{cache_, model_->spec(), tokens_, 0, telemetry_.events, telemetry_.probes,
                    &telemetry_.merged};
  auto decision = policy_->selectVisionRows(in, ctx);
  if (!decision) return msSince(start);
  for (std::size_t i = 0; i < decision->keep.size(); ++i)
    if (decision->keep[i] < 0 || decision->keep[i] >= static_cast<std::int64_t>(metas.size()) ||
        (i > 0 && decision->keep[i] <= decision->keep[i - 1]))
      throw Error(fmt::format("policy {}: the V hook's kept rows must be ascending rows of the prompt",
                              policy_->name()));
  decision->keep = withPinnedRows(decision->keep, metas);
  if (!decision->replace.empty()) {
    h = h.clone();
    for (const auto& [row, embedding] : decision->replace) h[row].copy_(embedding);
  }
  h = h.index_select(0, torch::tensor(decision->keep, torch::kInt64).to(h.device()));
  std::vector<SlotMeta> kept;
  std::vector<std::int64_t> kept_positions;
  for (auto r : decision->keep) {
    kept.push_back(metas[r]);
    kept_positions.push_back(positions[r]);
  }
  if (policy_->renumbersPositions())
    for (std::size_t i = 0; i < kept.size(); ++i)
      kept[i].position = static_cast<int>(i), kept_positions[i] = static_cast<std::int64_t>(i);
  metas = std::move(kept);
  positions = std::move(kept_positions);
  return msSince(start);
}

// The rotary tables change with the cache length (LongRoPE crossing
// original_max_position_embeddings): keys cached so far were rotated with the old set, and every
// later layer's input depended on them. Recomputing the earlier tokens with the new set, causally,
// makes this and all later steps equal a full forward over the sequence (what transformers'
// generate() intends when it drops its cache at the crossing). Only possible while the cache
// still holds every earlier token; after an eviction the old keys stay as they are.
void Engine::recomputeCache(int kv_length) {
  const int earlier = static_cast<int>(tokens_.size()) - 1;  // the new token is already in tokens_
  for (int l = 0; l < cache_.numLayers(); ++l) {
    const LayerCache& lc = cache_.layer(l);
    const bool binned = std::any_of(lc.slots().begin(), lc.slots().end(),
                                    [](const SlotMeta& s) { return s.binned; });
    if (lc.perHead() || lc.size() != earlier || lc.maskedCount() > 0 || binned) {
      spdlog::warn("rotary tables change at cache length {}, but the cache no longer holds every "
                   "token; earlier keys keep their old rotation",
                   kv_length);
      return;
    }
  }
  spdlog::info("rotary tables change at cache length {}: recomputing the {} cached tokens",
               kv_length, earlier);
  std::vector<std::int64_t> ids, positions;
  std::vector<SlotMeta> metas;
  for (int i = 0; i < earlier; ++i) {
    ids.push_back(tokens_[i].id);
    positions.push_back(tokens_[i].position);
    metas.push_back({tokens_[i].position, tokens_[i].modality, i});
    if (mrope_)
      metas.back().mrope = i < static_cast<int>(prompt_mrope_.size())
                               ? prompt_mrope_[i]
                               : std::array<int, 3>{tokens_[i].position + rope_delta_,
                                                    tokens_[i].position + rope_delta_,
                                                    tokens_[i].position + rope_delta_};
  }
  auto pos = torch::tensor(positions, torch::kInt64);
  PromptPlan prompt;
  prompt.pixel_values = prompt_pixels_;
  prompt.image_grid_thw = prompt_grid_thw_;
  auto h = model_->embedPlan(torch::tensor(ids, torch::kInt64), prompt);
  auto [cos, sin] = model_->rotary(ropePositions(metas, pos, mrope_), kv_length);
  for (int l = 0; l < cache_.numLayers(); ++l) {
    checkCancel();
    cache_.layer(l).clear();
    h = model_->layerForward(l, h, pos, cos, sin, cache_.layer(l), metas, nullptr);
  }
}

// pos.mode = renumber: the slots of every layer take positions 0..n-1 in order, their keys rotated
// by the difference (a rotation composes: R(new) = R(new - old) R(old)); layers after the pruning
// layer already computed at the new positions, so only the earlier ones change. LongRoPE scales
// cos and sin by its attention factor, which a key must not receive twice: it is divided out
// (cos at offset 0 is that factor). Returns how far decoding positions move back.
int Engine::renumberCache() {
  const int n = cache_.layer(0).size();
  for (int l = 0; l < cache_.numLayers(); ++l) {
    LayerCache& lc = cache_.layer(l);
    if (lc.perHead() || lc.size() != n)
      throw Error("pos.mode = renumber: the layers' caches hold different token sets");
    std::vector<std::int64_t> delta(n);
    std::vector<int> renumbered(n);
    bool moved = false;
    for (int i = 0; i < n; ++i) {
      delta[i] = i - lc.slots()[i].position;
      renumbered[i] = i;
      moved = moved || delta[i] != 0;
    }
    if (!moved) continue;
    auto [cos, sin] = model_->rotary(torch::tensor(delta, torch::kInt64), n);
    const auto scale = model_->rotary(torch::zeros({1}, torch::kInt64), n).first[0][0];
    auto keys = applyRotary(lc.keys(), (cos / scale).to(lc.keys().dtype()),
                            (sin / scale).to(lc.keys().dtype()));
    lc.rewriteKeys(keys, renumbered);
  }
  return next_position_ - n;
}

void Engine::recordTelemetry(int step) {
  telemetry_.step = step;
  // A policy records what it decided for a force-kept token (a V or P drop, a bin move), but the
  // pin undid it: the report must not claim an eviction that did not happen.
  std::erase_if(telemetry_.events,
                [&](const PolicyEvent& e) { return isForceKept(overrides_, e.position); });
  telemetry_.context_length = static_cast<int>(tokens_.size());
  const int layers = cache_.numLayers();
  telemetry_.patch_states.assign(layers, std::vector<PatchState>(visual_tokens_.size(), PatchState::Evicted));
  std::vector<int> visual_index(tokens_.size(), -1);
  for (std::size_t v = 0; v < visual_tokens_.size(); ++v) visual_index[visual_tokens_[v]] = static_cast<int>(v);
  for (int l = 0; l < layers; ++l) {
    const LayerCache& lc = cache_.layer(l);
    LayerStats& stats = telemetry_.layers[l];
    stats.bytes = lc.bytesHeld();
    if (lc.perHead()) {
      // Heads hold different slots: count what a head holds on average (the memory held),
      // not the union over heads, which would count a slot kept by one head as kept by all.
      int per_modality[kModalityCount] = {};
      for (int h = 0; h < lc.numHeads(); ++h)
        for (const SlotMeta& s : lc.headSlots(h)) ++per_modality[static_cast<int>(s.modality)];
      for (int m = 0; m < kModalityCount; ++m)
        stats.live[m] = (per_modality[m] + lc.numHeads() / 2) / std::max(1, lc.numHeads());
    }
    const bool any_masked = lc.maskedCount() > 0;
    for (int i = 0; i < lc.size(); ++i) {
      const SlotMeta& s = lc.slots()[i];
      // A masked slot outside the bin is freed but not yet compacted away: it counts as evicted.
      if (any_masked && !s.binned && !lc.attended(i)) continue;
      if (s.binned) {
        ++stats.bin;
      } else if (!lc.perHead()) {
        ++stats.live[static_cast<int>(s.modality)];
      }
      if (s.token < static_cast<int>(visual_index.size()) && visual_index[s.token] >= 0)
        telemetry_.patch_states[l][visual_index[s.token]] = s.binned ? PatchState::InBin : PatchState::Kept;
    }
  }
}

}  // namespace hae
