// results.jsonl: one self-contained JSON line per (cell, case), so a run can stop anywhere, resume,
// and shards can be merged by concatenation.
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "hae/bench.h"
#include "hae/error.h"

namespace hae::bench {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

std::string resultLine(const CaseResult& r) {
  Json j;
  j["schema"] = kResultSchema;
  j["schema_version"] = kBenchSchemaVersion;
  j["cell"] = r.cell;
  j["cell_order"] = r.cell_order;
  j["policy"] = r.policy;
  j["budget"] = r.budget ? Json(*r.budget) : Json(nullptr);
  if (r.budget_tokens > 0) j["budget_tokens"] = r.budget_tokens;
  j["knobs"] = r.knobs;
  j["case"] = r.case_id;
  j["case_index"] = r.case_index;
  j["kind"] = r.kind == AnswerKind::Short ? "short" : "long";
  j["category"] = r.category;
  j["question"] = r.question;
  j["reference"] = r.reference;
  j["output"] = r.run.output;
  j["full_output"] = r.full_output;
  j["em_ref"] = r.em_ref;
  j["f1_ref"] = r.f1_ref;
  j["em_full"] = r.em_full;
  j["f1_full"] = r.f1_full;
  j["full_em_ref"] = r.full_em_ref;
  j["prompt_tokens"] = r.run.prompt_tokens;
  j["visual_tokens"] = r.run.visual_tokens;
  j["generated_tokens"] = r.run.generated_tokens;
  j["prefill_ms"] = r.run.prefill_ms;
  j["decode_ms"] = r.run.decode_ms;
  j["decode_ms_per_token"] = r.run.decode_ms_per_token;
  j["model_ms"] = r.run.model_ms;
  j["policy_ms"] = r.run.policy_ms;
  j["peak_bytes"] = r.run.peak_bytes;
  j["mean_bytes"] = r.run.mean_bytes;
  j["peak_alloc_bytes"] = r.run.peak_alloc_bytes;
  j["mean_alloc_bytes"] = r.run.mean_alloc_bytes;
  j["full_peak_bytes"] = r.full_peak_bytes;
  j["full_mean_bytes"] = r.full_mean_bytes;
  j["full_prefill_ms"] = r.full_prefill_ms;
  j["full_decode_ms_per_token"] = r.full_decode_ms_per_token;
  j["settings"] = r.run.settings;
  if (const auto& sh = r.run.shadow)
    j["shadow"] = {{"mean_kl", sh->mean_kl},
                   {"worst_kl", sh->worst_kl},
                   {"top1_agreement", sh->top1_agreement},
                   {"missed_visual", sh->missed_visual},
                   {"missed_text", sh->missed_text},
                   {"first_divergence", sh->first_divergence},
                   {"regretted_purges", sh->regretted_purges}};
  // Answers may hold any bytes the tokenizer produced; replace rather than fail the whole run.
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

CaseResult parseResultLine(const std::string& line, const std::string& where) {
  Json j;
  try {
    j = Json::parse(line);
  } catch (const Json::exception& e) {
    throw Error(fmt::format("{}: malformed JSON line ({})", where, e.what()));
  }
  CaseResult r;
  try {
    if (!j.is_object() || j.value("schema", "") != kResultSchema)
      throw Error(fmt::format("{}: not a {} line", where, kResultSchema));
    if (j.at("schema_version").get<int>() != kBenchSchemaVersion)
      throw Error(fmt::format("{}: schema_version {} (this build reads {})", where,
                              j.at("schema_version").dump(), kBenchSchemaVersion));
    r.cell = j.at("cell").get<std::string>();
    r.cell_order = j.at("cell_order").get<int>();
    r.policy = j.at("policy").get<std::string>();
    if (!j.at("budget").is_null()) r.budget = j.at("budget").get<double>();
    r.budget_tokens = j.value("budget_tokens", 0);
    r.knobs = j.at("knobs").get<std::map<std::string, std::string>>();
    r.case_id = j.at("case").get<std::string>();
    r.case_index = j.at("case_index").get<int>();
    const std::string kind = j.at("kind").get<std::string>();
    if (kind != "short" && kind != "long") throw Error(fmt::format("{}: kind '{}'", where, kind));
    r.kind = kind == "short" ? AnswerKind::Short : AnswerKind::Long;
    r.category = j.at("category").get<std::string>();
    r.question = j.at("question").get<std::string>();
    r.reference = j.at("reference").get<std::string>();
    r.run.output = j.at("output").get<std::string>();
    r.full_output = j.at("full_output").get<std::string>();
    r.em_ref = j.at("em_ref").get<bool>();
    r.f1_ref = j.at("f1_ref").get<double>();
    r.em_full = j.at("em_full").get<bool>();
    r.f1_full = j.at("f1_full").get<double>();
    // Lines from before per-case scoring: the demo's exact match.
    r.full_em_ref = j.contains("full_em_ref") ? j.at("full_em_ref").get<bool>()
                                              : exactMatch(r.full_output, r.reference);
    r.run.prompt_tokens = j.at("prompt_tokens").get<int>();
    r.run.visual_tokens = j.at("visual_tokens").get<int>();
    r.run.generated_tokens = j.at("generated_tokens").get<int>();
    r.run.prefill_ms = j.at("prefill_ms").get<double>();
    r.run.decode_ms = j.at("decode_ms").get<double>();
    r.run.decode_ms_per_token = j.at("decode_ms_per_token").get<double>();
    r.run.model_ms = j.at("model_ms").get<double>();
    r.run.policy_ms = j.at("policy_ms").get<double>();
    r.run.peak_bytes = j.at("peak_bytes").get<std::int64_t>();
    r.run.mean_bytes = j.at("mean_bytes").get<std::int64_t>();
    r.run.peak_alloc_bytes = j.at("peak_alloc_bytes").get<std::int64_t>();
    r.run.mean_alloc_bytes = j.at("mean_alloc_bytes").get<std::int64_t>();
    r.full_peak_bytes = j.at("full_peak_bytes").get<std::int64_t>();
    r.full_mean_bytes = j.at("full_mean_bytes").get<std::int64_t>();
    r.full_prefill_ms = j.at("full_prefill_ms").get<double>();
    r.full_decode_ms_per_token = j.at("full_decode_ms_per_token").get<double>();
    r.run.settings = j.at("settings").get<std::map<std::string, std::string>>();
    if (j.contains("shadow")) {
      const Json& sh = j.at("shadow");
      ShadowMeasure m;
      m.mean_kl = sh.at("mean_kl").get<double>();
      m.worst_kl = sh.at("worst_kl").get<double>();
      m.top1_agreement = sh.at("top1_agreement").get<double>();
      m.missed_visual = sh.at("missed_visual").get<double>();
      m.missed_text = sh.at("missed_text").get<double>();
      m.first_divergence = sh.at("first_divergence").get<int>();
      m.regretted_purges = sh.at("regretted_purges").get<int>();
      r.run.shadow = m;
    }
  } catch (const Json::exception& e) {
    throw Error(fmt::format("{}: bad field ({})", where, e.what()));
  }
  return r;
}

std::vector<CaseResult> readResults(const std::string& path, bool repair) {
  std::vector<CaseResult> out;
  if (!fs::exists(path)) return out;
  std::string data;
  {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(fmt::format("{}: cannot read", path));
    std::ostringstream ss;
    ss << in.rdbuf();
    data = ss.str();
  }
  std::size_t start = 0;
  int number = 0;
  while (start < data.size()) {
    ++number;
    const auto nl = data.find('\n', start);
    const std::string where = fmt::format("{}:{}", path, number);
    if (nl == std::string::npos) {
      // A line without its newline was cut short by an interruption: the case runs again.
      if (!repair)
        throw Error(fmt::format("{}: incomplete last line (an interrupted run; resume it)", where));
      fs::resize_file(path, start);
      break;
    }
    const std::string line = data.substr(start, nl - start);
    start = nl + 1;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    out.push_back(parseResultLine(line, where));
  }
  return out;
}

}  // namespace hae::bench
