#include "eval_card.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "hae/error.h"
#include "hae/model_config.h"

namespace hae::demo {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

namespace {

Json readJsonOrNull(const fs::path& path) {
  std::ifstream f(path);
  if (!f) return nullptr;
  try {
    return Json::parse(f);
  } catch (const nlohmann::json::exception&) {
    return nullptr;
  }
}

void writeFile(const fs::path& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
  if (!f) throw Error("cannot write " + path.string());
}

double pct(const KindScore& s) {
  return 100.0 * s.rate();
}

}  // namespace

void writeEvalCard(const EvalResult& r, const EvalOptions& o) {
  const fs::path dir(r.model_dir);
  const Json train = readJsonOrNull(dir / "train_state.json");
  const LlavaConfig config = loadLlavaConfig(r.model_dir);
  const auto weights = fs::file_size(dir / "model.safetensors");

  Json kinds = Json::object();
  for (const auto& [name, s] : r.kinds)
    kinds[name] = {{"correct", s.correct}, {"total", s.total}, {"accuracy", s.rate()}};
  Json card = {
      {"model", "HAE Studio demo VLM (LLaVA-1.5 layout)"},
      {"evaluation",
       {{"held_out_samples", o.samples},
        {"policy", "full"},
        {"decoding", "greedy"},
        {"scoring", "answersMatch: case, spacing and trailing punctuation ignored"},
        {"seconds", r.seconds}}},
      {"per_kind", kinds},
      {"short_question_accuracy", r.short_questions.rate()},
      {"short_questions",
       {{"correct", r.short_questions.correct}, {"total", r.short_questions.total}}},
      {"description_exact_match", r.describe.rate()},
      {"descriptions", {{"correct", r.describe.correct}, {"total", r.describe.total}}},
      {"model_size",
       {{"parameters",
         train.is_object() ? train.value("parameters", Json(nullptr)) : Json(nullptr)},
        {"safetensors_bytes", weights},
        {"vision", fmt::format("CLIP {} layers, hidden {}, {} heads, {} px / {} px patches",
                               config.vision.num_hidden_layers, config.vision.hidden_size,
                               config.vision.num_attention_heads, config.vision.image_size,
                               config.vision.patch_size)},
        {"language",
         fmt::format("Llama {} layers, hidden {}, {} heads, {} KV heads, MLP {}, vocab {}",
                     config.text.num_hidden_layers, config.text.hidden_size,
                     config.text.num_attention_heads, config.text.num_key_value_heads,
                     config.text.intermediate_size, config.text.vocab_size)}}},
      {"training", train.is_object() ? Json{{"seed", train["options"]["seed"]},
                                            {"steps", train["steps"]},
                                            {"wall_seconds", train["wall_seconds"]},
                                            {"hyperparameters", train["options"]},
                                            {"history", train.value("history", Json::array())},
                                            {"final_loss", train["loss_curve"].empty()
                                                               ? Json(nullptr)
                                                               : train["loss_curve"].back()[1]}}
                                     : Json(nullptr)}};
  if (r.attention_questions > 0) {
    Json examples = Json::array();
    for (const auto& ex : r.attention_examples)
      examples.push_back({{"question", ex.question},
                          {"object_share", ex.object_share},
                          {"area_share", ex.area_share}});
    card["layer0_attention"] = {{"questions", r.attention_questions},
                                {"mean_object_share", r.mean_object_share},
                                {"mean_area_share", r.mean_area_share},
                                {"mean_ratio", r.mean_ratio},
                                {"examples", examples}};
  }
  writeFile(dir / "eval_card.json", card.dump(2) + "\n");

  std::string md = "# Demo model evaluation card\n\n";
  md += fmt::format(
      "Measured by `hae eval --samples {}` on held-out scenes (seeds 2^62 + 0..{}), full cache, "
      "greedy decoding.\n\n",
      o.samples, o.samples - 1);
  md += "| question kind | correct | total | accuracy |\n|---|---:|---:|---:|\n";
  for (const auto& [name, s] : r.kinds)
    md += fmt::format("| {} | {} | {} | {:.1f}% |\n", name, s.correct, s.total, pct(s));
  md += fmt::format("\n- short questions: **{:.1f}%** ({}/{})\n", pct(r.short_questions),
                    r.short_questions.correct, r.short_questions.total);
  md += fmt::format("- description exact match: **{:.1f}%** ({}/{})\n", pct(r.describe),
                    r.describe.correct, r.describe.total);
  if (r.attention_questions > 0)
    md += fmt::format(
        "- layer-0 question-to-image attention on the object asked about: {:.1f}% of the visual "
        "attention on {:.1f}% of the patches (mean ratio {:.2f}x, {} questions)\n",
        100 * r.mean_object_share, 100 * r.mean_area_share, r.mean_ratio, r.attention_questions);
  md += fmt::format("- weights: {:.1f} MB (model.safetensors)\n", weights / 1e6);
  if (train.is_object())
    md += fmt::format("- training: seed {}, {} steps, {:.0f} s wall time, hyperparameters {}\n",
                      train["options"]["seed"].dump(), train["steps"].dump(),
                      train["wall_seconds"].get<double>(), train["options"].dump());
  if (train.is_object() && train.value("history", Json::array()).size() > 1) {
    md += "- the run was resumed with changed settings:\n";
    for (const auto& h : train["history"])
      md += fmt::format("  - from step {}: {}\n", h["from_step"].dump(), h["options"].dump());
  }
  writeFile(dir / "eval_card.md", md);
}

}  // namespace hae::demo
