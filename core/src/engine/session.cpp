#include "hae/session.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>

#include "../models/vlm_model.h"
#include "engine.h"
#include "load_options.h"
#include "overrides.h"
#include "hae/build_info.h"
#include "hae/error.h"
#include "sampler.h"
#include "shadow.h"

namespace hae {

namespace fs = std::filesystem;

std::string demoModelDir() {
  if (const char* env = std::getenv("HAE_DEMO_MODEL")) return env;
  for (const char* candidate : {HAE_INSTALLED_DEMO_DIR, HAE_SOURCE_DEMO_DIR})
    if (fs::exists(fs::path(candidate) / "config.json")) return candidate;
  throw Error(fmt::format("the embedded demo model is missing (looked in {}); pass --model DIR",
                          HAE_SOURCE_DEMO_DIR));
}

namespace {

// The same bounds as `hae run`'s flags, for callers that fill SamplingOptions themselves: a NaN
// temperature would turn every probability into NaN and sample garbage without an error.
void checkSampling(const SamplingOptions& s) {
  if (!std::isfinite(s.temperature) || s.temperature < 0 || s.temperature > 100)
    throw Error(fmt::format("temperature {} must be a finite number in [0, 100]", s.temperature));
  if (!std::isfinite(s.top_p) || s.top_p < 0 || s.top_p > 1)
    throw Error(fmt::format("top_p {} must be a finite number in [0, 1]", s.top_p));
}

// Ids the tokenizer gave the prompt's text must exist in the model's embedding table. The model
// checks too, but only as "input_ids must lie in [0, V)", which names ids the user never passed:
// the fault is a tokenizer.json that does not belong to config.json.
void checkPromptIds(const PromptPlan& plan, const Tokenizer* tokenizer, int vocab_size,
                    const SessionOptions& options) {
  if (!tokenizer || vocab_size <= 0) return;
  for (const TokenInfo& t : plan.tokens) {
    if (t.image >= 0 || t.id < vocab_size) continue;  // image placeholders are the family's own ids
    const std::string config_path =
        options.random_init.empty()
            ? (fs::path(options.model_dir.empty() ? demoModelDir() : options.model_dir) /
               "config.json")
                  .string()
            : options.random_init;
    throw Error(fmt::format(
        "{} maps '{}' to id {}, but {}'s vocab_size is {} (tokenizer.json and "
        "config.json are from different models?)",
        tokenizer->sourceName(), tokenizer->idToToken(t.id), t.id, config_path, vocab_size));
  }
}

}  // namespace

struct Session::Impl {
  SessionOptions options;
  std::shared_ptr<VlmModel> model;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<Sampler> sampler;
  RunInfo run;
  std::vector<StepTelemetry> history;
  std::vector<int> generated;
  at::Tensor next_logits;
  bool finished = true;

  std::vector<std::string> images;  // the last prefill's, for ask()
  std::vector<int> prompt_ids;      // the last prefill's prompt, for ask()

  void newEngine() { useEngine(makePolicy(options.policy, options.knobs)); }
  void useEngine(std::unique_ptr<Policy> policy) {
    engine = std::make_unique<Engine>(model, std::move(policy));
    engine->setOverrides(options.overrides);
    ObserveOptions observe;
    observe.visibility = options.shadow.mode != "off";
    observe.attention = options.record_attention;
    engine->setObserve(observe);
  }

  // Issue 16: the full-cache shadow (shadow.h) and the recorded attention, after the policy
  // engine's prefill (plan) or decode step (token); their time stays out of t's model/policy ms.
  std::unique_ptr<ShadowRun> shadow;
  bool shadow_live = false;  // the shadow follows prefill and step (not ask)
  void observe(const PromptPlan* plan, std::int64_t token, StepTelemetry& t) {
    if (options.record_attention)
      t.attention = visualAttention(engine->lastViews(), run.visual_tokens,
                                    static_cast<int>(engine->tokens().size()));
    if (options.shadow.mode == "off") return;
    try {
      if (plan) {
        if (!shadow) shadow = std::make_unique<ShadowRun>(model, options.shadow, options.sampling);
        shadow->clearCancel();
        shadow->prefill(*plan, *engine, next_logits, t);
        shadow_live = true;
      } else if (shadow_live) {
        shadow->step(token, *engine, next_logits, t);
      }
    } catch (const Cancelled&) {
      shadow_live = false;
      finished = true;
      throw SessionCancelled();
    }
  }
  // The token the policy run picked after the last step: its rank under the shadow's distribution.
  void picked(std::int64_t token, bool eos) {
    if (!shadow || !shadow_live) return;
    if (!history.empty() && history.back().shadow)
      history.back().shadow->policy_token_rank = shadow->rankOfLast(token);
    if (eos) shadow->policyEnded(token, static_cast<int>(generated.size()) + 1);
  }
};

Session::Session(const SessionOptions& options) : impl_(std::make_unique<Impl>()) {
  impl_->options = options;
  checkSampling(options.sampling);
  checkShadowOptions(options.shadow);
  impl_->model = loadSessionModel(options);
  if (options.max_new_tokens < 1) throw Error("--max-new-tokens must be at least 1");
  impl_->newEngine();
}

Session::~Session() = default;

void Session::setPolicy(const std::string& name, const std::map<std::string, std::string>& knobs) {
  auto policy = makePolicy(name, knobs);  // validate before replacing anything
  impl_->options.policy = name;
  impl_->options.knobs = knobs;
  impl_->useEngine(std::move(policy));
  impl_->finished = true;
}

void Session::setShadow(const ShadowOptions& shadow) {
  checkShadowOptions(shadow);
  impl_->options.shadow = shadow;
  impl_->shadow.reset();  // the next prefill builds it over the same weights
  impl_->shadow_live = false;
  impl_->newEngine();     // the policy engine observes visibility only with a shadow
  impl_->finished = true;
}

void Session::setOverrides(const KeepOverrides& overrides) {
  impl_->options.overrides = overrides;
  impl_->engine->setOverrides(overrides);
  impl_->finished = true;
}

const StepTelemetry& Session::prefill(const std::string& prompt, const std::vector<std::string>& images) {
  Impl& s = *impl_;
  const PromptPlan plan = s.model->buildPrompt(prompt, images);
  checkPromptIds(plan, s.model->tokenizer(), s.model->spec().vocab_size, s.options);
  s.engine->clearCancel();
  s.history.clear();
  s.generated.clear();
  s.sampler = std::make_unique<Sampler>(s.options.sampling);
  const ModelSpec& spec = s.model->spec();
  s.run = {};
  s.run.model_name = spec.name;
  s.run.model_path = s.options.model_dir;
  s.run.policy_name = s.engine->policy().name();
  s.run.knobs = s.engine->policy().settings();
  for (const auto& [k, v] : overrideSettings(s.options.overrides)) s.run.knobs[k] = v;
  s.images = images;
  s.prompt_ids.clear();
  for (const TokenInfo& t : plan.tokens) s.prompt_ids.push_back(t.id);
  s.run.prompt = prompt;
  s.run.num_layers = spec.num_layers;
  s.run.kv_bytes_per_token = spec.kvBytesPerToken();
  s.run.device = spec.device.str();
  s.run.threads = buildInfo().threads;
  s.run.tokens = plan.tokens;
  s.run.images = plan.images;
  for (std::size_t i = 0; i < plan.tokens.size(); ++i)
    if (plan.tokens[i].modality == Modality::Visual) s.run.visual_tokens.push_back(static_cast<int>(i));
  try {
    s.next_logits = s.engine->prefill(plan);
  } catch (const Cancelled&) {
    s.finished = true;
    throw SessionCancelled();
  }
  s.finished = false;
  s.history.push_back(s.engine->lastTelemetry());
  s.observe(&plan, -1, s.history.back());
  return s.history.back();
}

const StepTelemetry& Session::ask(const std::string& prompt) {
  Impl& s = *impl_;
  if (s.history.empty() || s.prompt_ids.empty())
    throw Error("ask: prefill the images with a first question before asking another");
  const PromptPlan plan = s.model->buildPrompt(prompt, s.images);
  checkPromptIds(plan, s.model->tokenizer(), s.model->spec().vocab_size, s.options);
  // The new question replaces the old one after the shared prefix (system text and images).
  std::size_t shared = 0;
  while (shared < plan.tokens.size() && shared < s.prompt_ids.size() &&
         plan.tokens[shared].id == s.prompt_ids[shared])
    ++shared;
  int last_image_token = -1;
  for (std::size_t i = 0; i < plan.tokens.size(); ++i)
    if (plan.tokens[i].image >= 0 || plan.tokens[i].modality == Modality::Visual)
      last_image_token = static_cast<int>(i);
  if (static_cast<int>(shared) <= last_image_token)
    throw Error(fmt::format(
        "ask: the two prompts differ at token {}, before the last image token ({}): this model's "
        "template puts the question before the images, so there is no compressed image cache to "
        "reuse",
        shared, last_image_token));
  if (shared == plan.tokens.size())
    throw Error("ask: the new question adds no token after the images (it is empty or the same)");
  StepTelemetry combined = s.history.front();  // the compression's prefill
  s.engine->clearCancel();
  try {
    s.engine->forgetFrom(static_cast<int>(shared));
    for (std::size_t i = shared; i < plan.tokens.size(); ++i) {
      s.next_logits = s.engine->decode(plan.tokens[i].id, &plan.tokens[i]);
      const StepTelemetry& fed = s.engine->lastTelemetry();
      combined.model_ms += fed.model_ms;
      combined.policy_ms += fed.policy_ms;
      combined.events.insert(combined.events.end(), fed.events.begin(), fed.events.end());
    }
  } catch (const Cancelled&) {
    s.finished = true;
    throw SessionCancelled();
  }
  // One step 0 stands for the compression and the new question: its cache is what answers.
  const StepTelemetry& last = s.engine->lastTelemetry();
  combined.context_length = last.context_length;
  combined.layers = last.layers;
  for (std::size_t l = 0; l < combined.layers.size() && l < s.history.front().layers.size(); ++l)
    combined.layers[l].ms += s.history.front().layers[l].ms;
  combined.patch_states = last.patch_states;
  s.history.assign(1, std::move(combined));
  s.generated.clear();
  s.sampler = std::make_unique<Sampler>(s.options.sampling);
  s.shadow_live = false;  // the shadow follows prefill and step only (issue 16)
  s.run.knobs["compressed_with"] = s.run.prompt;
  s.run.prompt = prompt;
  s.finished = false;
  return s.history.back();
}

std::optional<StepTelemetry> Session::step() {
  Impl& s = *impl_;
  if (s.finished) return std::nullopt;
  const std::int64_t token = s.sampler->pick(s.next_logits);
  const auto& eos = s.model->spec().eos_ids;
  const bool is_eos = std::find(eos.begin(), eos.end(), token) != eos.end();
  s.picked(token, is_eos);
  if (is_eos) {
    s.finished = true;
    return std::nullopt;
  }
  try {
    s.next_logits = s.engine->decode(token);
  } catch (const Cancelled&) {
    s.finished = true;
    throw SessionCancelled();
  }
  s.generated.push_back(static_cast<int>(token));
  s.history.push_back(s.engine->lastTelemetry());
  s.observe(nullptr, token, s.history.back());
  if (static_cast<int>(s.generated.size()) >= s.options.max_new_tokens) s.finished = true;
  return s.history.back();
}

bool Session::finished() const { return impl_->finished; }

std::string Session::answer() const {
  const Tokenizer* tok = impl_->model->tokenizer();
  if (!tok) return fmt::format("{}", fmt::join(impl_->generated, " "));
  return tok->decode(impl_->generated, true);
}

const RunInfo& Session::runInfo() const { return impl_->run; }
std::int64_t Session::decodeWeightBytes() const { return impl_->model->decodeWeightBytes(); }
const std::vector<StepTelemetry>& Session::history() const { return impl_->history; }
void Session::cancel() {
  impl_->engine->requestCancel();
  if (impl_->shadow) impl_->shadow->requestCancel();
}

int Session::firstDivergenceStep() const {
  return impl_->shadow && impl_->shadow_live ? impl_->shadow->firstDivergenceStep() : -1;
}

std::string Session::shadowAnswer() const {
  if (!impl_->shadow || !impl_->shadow_live) return "";
  const auto& ids = impl_->shadow->generated();
  const Tokenizer* tok = impl_->model->tokenizer();
  if (!tok) return fmt::format("{}", fmt::join(ids, " "));
  return tok->decode(ids, true);
}

void Session::reset() {
  impl_->newEngine();
  impl_->history.clear();
  impl_->generated.clear();
  impl_->run = {};
  impl_->finished = true;
}

}  // namespace hae
