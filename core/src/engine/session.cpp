#include "hae/session.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>

#include "../models/vlm_model.h"
#include "engine.h"
#include "load_options.h"
#include "hae/build_info.h"
#include "hae/error.h"
#include "sampler.h"

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

  void newEngine() {
    engine = std::make_unique<Engine>(model, makePolicy(options.policy, options.knobs));
  }
};

Session::Session(const SessionOptions& options) : impl_(std::make_unique<Impl>()) {
  impl_->options = options;
  checkSampling(options.sampling);
  impl_->model = loadSessionModel(options);
  if (options.max_new_tokens < 1) throw Error("--max-new-tokens must be at least 1");
  impl_->newEngine();
}

Session::~Session() = default;

void Session::setPolicy(const std::string& name, const std::map<std::string, std::string>& knobs) {
  auto policy = makePolicy(name, knobs);  // validate before replacing anything
  impl_->options.policy = name;
  impl_->options.knobs = knobs;
  impl_->engine = std::make_unique<Engine>(impl_->model, std::move(policy));
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
  return s.history.back();
}

std::optional<StepTelemetry> Session::step() {
  Impl& s = *impl_;
  if (s.finished) return std::nullopt;
  const std::int64_t token = s.sampler->pick(s.next_logits);
  const auto& eos = s.model->spec().eos_ids;
  if (std::find(eos.begin(), eos.end(), token) != eos.end()) {
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
void Session::cancel() { impl_->engine->requestCancel(); }

void Session::reset() {
  impl_->newEngine();
  impl_->history.clear();
  impl_->generated.clear();
  impl_->run = {};
  impl_->finished = true;
}

}  // namespace hae
