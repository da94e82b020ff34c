#include "shadow.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>

#include "../policies/full_policy.h"
#include "hae/error.h"
#include "hae/tokenizer.h"

namespace hae {

namespace {

using Clock = std::chrono::steady_clock;
double msSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

constexpr int kTopChoices = 5;

std::vector<TokenChoice> topChoices(const at::Tensor& probs, const Tokenizer* tokenizer) {
  const auto k = std::min<std::int64_t>(kTopChoices, probs.numel());
  auto [values, ids] = probs.topk(k);
  std::vector<TokenChoice> out;
  for (std::int64_t i = 0; i < k; ++i) {
    TokenChoice c;
    c.id = static_cast<int>(ids[i].item<std::int64_t>());
    c.prob = static_cast<float>(values[i].item<double>());
    c.text = tokenizer ? tokenizer->decode({c.id}, false) : std::to_string(c.id);
    out.push_back(std::move(c));
  }
  return out;
}

// Rank of `id` under `logits`: how many tokens the distribution puts strictly above it.
int rankUnder(const at::Tensor& logits, std::int64_t id) {
  return static_cast<int>((logits > logits[id]).sum().item<std::int64_t>());
}

}  // namespace

void checkShadowOptions(const ShadowOptions& o) {
  if (o.mode != "off" && o.mode != "forced" && o.mode != "free")
    throw Error(fmt::format("shadow.mode '{}': expected off, forced or free", o.mode));
  if (!std::isfinite(o.regret_threshold) || o.regret_threshold < 0 || o.regret_threshold > 1)
    throw Error(fmt::format("shadow.regret_threshold {}: expected a number in [0, 1] (an attention "
                            "probability)",
                            o.regret_threshold));
  if (o.restore_window < 0 || o.restore_window > 1000000)
    throw Error(fmt::format("shadow.restore_window {}: expected a step count in [0, 1000000]",
                            o.restore_window));
}

void compareLogits(const at::Tensor& full, const at::Tensor& policy, const Tokenizer* tokenizer,
                   ShadowStep& out) {
  if (full.sizes() != policy.sizes())
    throw Error(fmt::format("shadow: full logits [{}] and policy logits [{}] differ in size",
                            full.numel(), policy.numel()));
  const auto lf = full.to(torch::kFloat64).log_softmax(0);
  const auto lp = policy.to(torch::kFloat64).log_softmax(0);
  const auto pf = lf.exp(), pp = lp.exp();
  // 0 * log(0 / q) = 0: tokens the full model gives no mass add nothing, even where the policy's
  // log-probability is -inf.
  out.kl = torch::where(pf > 0, pf * (lf - lp), torch::zeros_like(pf)).sum().item<double>();
  out.total_variation = 0.5 * (pf - pp).abs().sum().item<double>();
  const auto full_top = full.argmax().item<std::int64_t>();
  const auto policy_top = policy.argmax().item<std::int64_t>();
  out.top1_agree = full_top == policy_top;
  out.policy_token_rank = rankUnder(full, policy_top);
  out.top_full = topChoices(pf, tokenizer);
  out.top_policy = topChoices(pp, tokenizer);
}

std::vector<std::vector<float>> headMeanAttention(const std::vector<LayerView>& full, int num_tokens) {
  std::vector<std::vector<float>> out(full.size(), std::vector<float>(num_tokens, 0.0f));
  for (std::size_t l = 0; l < full.size(); ++l) {
    const LayerView& v = full[l];
    if (v.probs.empty()) continue;
    // The full cache holds one slot set; a per-head full cache cannot happen (the full policy
    // never splits heads), but is averaged over all query heads just the same.
    int heads = 0;
    for (const auto& p : v.probs) heads += static_cast<int>(p.size(0));
    for (std::size_t g = 0; g < v.probs.size(); ++g) {
      const auto sums = v.probs[g].to(torch::kFloat64).sum(0);
      const double* s = sums.data_ptr<double>();
      const auto& tok = v.slot_token[g];
      for (std::size_t j = 0; j < tok.size(); ++j)
        if (tok[j] >= 0 && tok[j] < num_tokens) out[l][tok[j]] += static_cast<float>(s[j] / heads);
    }
  }
  return out;
}

void measureMissed(const std::vector<LayerView>& full, const std::vector<LayerView>& policy,
                   const std::vector<TokenInfo>& tokens, const std::vector<int>& visual_tokens,
                   ShadowStep& out) {
  const int num_tokens = static_cast<int>(tokens.size());
  out.layers.assign(full.size(), {});
  out.visual_attention.assign(full.size(), std::vector<float>(visual_tokens.size(), 0.0f));
  std::vector<int> visual_index(num_tokens, -1);
  for (std::size_t v = 0; v < visual_tokens.size(); ++v)
    if (visual_tokens[v] >= 0 && visual_tokens[v] < num_tokens) visual_index[visual_tokens[v]] = static_cast<int>(v);
  for (std::size_t l = 0; l < full.size(); ++l) {
    const LayerView& f = full[l];
    if (f.probs.size() != 1 || f.per_head)
      throw Error(fmt::format("shadow: layer {} of the full cache has no single attention row", l));
    const auto probs = f.probs[0].to(torch::kFloat64);  // [q_heads, slots]
    const auto q_heads = probs.size(0);
    const auto& slot_token = f.slot_token[0];
    const auto head_mean = probs.mean(0);
    const double* a = head_mean.data_ptr<double>();
    for (std::size_t j = 0; j < slot_token.size(); ++j)
      if (slot_token[j] >= 0 && slot_token[j] < num_tokens && visual_index[slot_token[j]] >= 0)
        out.visual_attention[l][visual_index[slot_token[j]]] = static_cast<float>(a[j]);
    if (l >= policy.size() || policy[l].token_view.empty()) continue;
    const LayerView& p = policy[l];
    const auto groups = static_cast<std::int64_t>(p.token_view.size());
    if (q_heads % groups != 0)
      throw Error(fmt::format("shadow: layer {}: {} query heads do not split into {} KV heads", l,
                              q_heads, groups));
    // Per group of query heads (one group unless the policy's cache is per KV head): the group's
    // probability sum divided by all query heads is its share of the head mean.
    const auto group_sum = probs.view({groups, q_heads / groups, -1}).sum(1).div_(double(q_heads));
    double evicted[kModalityCount] = {}, binned[kModalityCount] = {};
    for (std::int64_t g = 0; g < groups; ++g) {
      const double* s = group_sum[g].data_ptr<double>();
      const auto& view = p.token_view[g];
      for (std::size_t j = 0; j < slot_token.size(); ++j) {
        const int t = slot_token[j];
        if (t < 0 || t >= num_tokens) continue;
        const TokenView state = t < static_cast<int>(view.size()) ? view[t] : TokenView::Absent;
        const int m = static_cast<int>(tokens[t].modality);
        if (state == TokenView::Binned)
          binned[m] += s[j];
        else if (state != TokenView::Visible)
          evicted[m] += s[j];
      }
    }
    for (int m = 0; m < kModalityCount; ++m) {
      out.layers[l].missed_evicted[m] = static_cast<float>(evicted[m]);
      out.layers[l].missed_binned[m] = static_cast<float>(binned[m]);
    }
  }
}

ShadowRun::ShadowRun(std::shared_ptr<VlmModel> model, const ShadowOptions& options,
                     const SamplingOptions& sampling)
    : options_(options),
      engine_(std::make_unique<Engine>(std::move(model), std::make_unique<FullPolicy>())),
      sampler_(std::make_unique<Sampler>(sampling)),
      regrets_(options.regret_threshold, options.restore_window) {
  checkShadowOptions(options);
  ObserveOptions observe;
  observe.attention = true;
  engine_->setObserve(observe);
}

bool ShadowRun::isEos(std::int64_t token) const {
  const auto& eos = engine_->model().spec().eos_ids;
  return std::find(eos.begin(), eos.end(), token) != eos.end();
}

void ShadowRun::prefill(const PromptPlan& plan, const Engine& policy, const at::Tensor& policy_logits,
                        StepTelemetry& t) {
  const auto start = Clock::now();
  generated_.clear();
  first_divergence_ = -1;
  finished_ = false;
  regrets_.reset();
  visual_tokens_.clear();
  for (std::size_t i = 0; i < plan.tokens.size(); ++i)
    if (plan.tokens[i].modality == Modality::Visual) visual_tokens_.push_back(static_cast<int>(i));
  logits_ = engine_->prefill(plan);
  measure(policy, policy_logits, msSince(start), t);
}

void ShadowRun::step(std::int64_t policy_token, const Engine& policy, const at::Tensor& policy_logits,
                     StepTelemetry& t) {
  if (finished_) return;
  const auto start = Clock::now();
  std::int64_t token = policy_token;
  if (freeRunning()) {
    token = sampler_->pick(logits_);
    if (token != policy_token && first_divergence_ < 0) first_divergence_ = t.step;
    if (isEos(token)) {
      finished_ = true;
      return;
    }
  }
  logits_ = engine_->decode(token);
  generated_.push_back(static_cast<int>(token));
  measure(policy, policy_logits, msSince(start), t);
  if (freeRunning()) t.shadow->full_token_id = static_cast<int>(token);
}

void ShadowRun::policyEnded(std::int64_t eos_token, int step) {
  if (finished_ || !freeRunning()) return;
  const auto token = sampler_->pick(logits_);
  if (token != eos_token && first_divergence_ < 0) first_divergence_ = step;
  finished_ = true;
}

int ShadowRun::rankOfLast(std::int64_t token) const {
  if (!logits_.defined() || token < 0 || token >= logits_.numel()) return -1;
  return rankUnder(logits_, token);
}

void ShadowRun::measure(const Engine& policy, const at::Tensor& policy_logits, double forward_ms,
                        StepTelemetry& t) {
  torch::NoGradGuard no_grad;
  const auto start = Clock::now();
  ShadowStep s;
  compareLogits(logits_, policy_logits, engine_->model().tokenizer(), s);
  measureMissed(engine_->lastViews(), policy.lastViews(), policy.tokens(), visual_tokens_, s);
  const auto attention = headMeanAttention(engine_->lastViews(), static_cast<int>(policy.tokens().size()));
  t.regrets = regrets_.step(t.step, attention, t.events, policy.tokens());
  s.ms = forward_ms + msSince(start);
  t.shadow = std::move(s);
}

}  // namespace hae
