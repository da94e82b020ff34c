// Per-cell summaries of results.jsonl (CSV, JSON, Markdown) and the merge of sharded runs.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "../policies/catalog.h"
#include "hae/bench.h"
#include "hae/error.h"
#include "hae/report.h"

namespace hae::bench {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

namespace {

double ratio(double num, double den) {
  return den > 0 ? num / den : 0.0;
}

std::string knobText(const std::map<std::string, std::string>& knobs) {
  std::string out;
  for (const auto& [k, v] : knobs) out += (out.empty() ? "" : " ") + k + "=" + v;
  return out;
}

std::string budgetText(const std::optional<double>& b, int tokens) {
  if (tokens > 0) return fmt::format("{}t", tokens);
  return b ? fmt::format("{:g}", *b) : "";
}

std::string csvField(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string mdCell(const std::string& s) {
  std::string out;
  for (char c : s) out += c == '|' ? std::string("\\|") : std::string(1, c);
  return out;
}

std::string bytesText(double b) {
  if (b >= 1024.0 * 1024.0) return fmt::format("{:.2f} MiB", b / (1024.0 * 1024.0));
  if (b >= 1024.0) return fmt::format("{:.1f} KiB", b / 1024.0);
  return fmt::format("{:.0f} B", b);
}

std::string pct(double x) {
  return fmt::format("{:.1f}", 100 * x);
}

void sortResults(std::vector<CaseResult>& results) {
  std::stable_sort(results.begin(), results.end(), [](const CaseResult& a, const CaseResult& b) {
    return std::tie(a.cell_order, a.cell, a.case_index, a.case_id) <
           std::tie(b.cell_order, b.cell, b.case_index, b.case_id);
  });
}

// A knob's default as the catalog states it, for sweep tables whose cells leave it unset.
std::string defaultKnob(const std::string& policy, const std::string& knob) {
  try {
    for (const auto& spec : policyInfo(policy).knobs)
      if (spec.name == knob) return spec.default_value;
  } catch (const Error&) {
  }
  return "";
}

}  // namespace

std::vector<CellSummary> summarize(std::vector<CaseResult> results) {
  sortResults(results);
  // A pair counted twice (folders merged by hand) would weigh its case double.
  std::set<std::pair<std::string, std::string>> seen;
  std::erase_if(results,
                [&seen](const CaseResult& r) { return !seen.emplace(r.cell, r.case_id).second; });
  std::vector<CellSummary> cells;
  std::map<std::string, std::size_t> index;
  struct Sums {
    double short_em = 0, short_full_em = 0, long_em_ref = 0, long_f1_ref = 0, long_em_full = 0,
           long_f1_full = 0, agree = 0, peak = 0, mean = 0, full_peak = 0, full_mean = 0,
           prefill = 0, full_prefill = 0, decode = 0, model = 0, policy = 0;
    int decoded = 0;
    double both_decode = 0, both_full_decode = 0, long_decode = 0, long_full_decode = 0;
    std::map<std::string, double> cat_em;
    double kl = 0, agree1 = 0, missed_visual = 0, missed_text = 0, regrets = 0;
    std::vector<int> divergences;
  };
  std::vector<Sums> sums;
  for (const CaseResult& r : results) {
    auto [it, fresh] = index.emplace(r.cell, cells.size());
    if (fresh) {
      CellSummary c;
      c.order = r.cell_order;
      c.cell = r.cell;
      c.policy = r.policy;
      c.budget = r.budget;
      c.budget_tokens = r.budget_tokens;
      c.knobs = r.knobs;
      cells.push_back(c);
      sums.emplace_back();
    }
    CellSummary& c = cells[it->second];
    Sums& s = sums[it->second];
    ++c.cases;
    if (r.kind == AnswerKind::Short) {
      ++c.short_cases;
      s.short_em += r.em_ref;
      s.short_full_em += r.full_em_ref;
    } else {
      ++c.long_cases;
      s.long_em_ref += r.em_ref;
      s.long_f1_ref += r.f1_ref;
      s.long_em_full += r.em_full;
      s.long_f1_full += r.f1_full;
    }
    ++c.category_cases[r.category];
    s.cat_em[r.category] += r.em_ref;
    s.agree += r.em_full;
    s.peak += static_cast<double>(r.run.peak_bytes);
    s.mean += static_cast<double>(r.run.mean_bytes);
    s.full_peak += static_cast<double>(r.full_peak_bytes);
    s.full_mean += static_cast<double>(r.full_mean_bytes);
    s.prefill += r.run.prefill_ms;
    s.full_prefill += r.full_prefill_ms;
    if (r.run.generated_tokens > 0) {
      ++s.decoded;
      s.decode += r.run.decode_ms_per_token;
      if (r.full_decode_ms_per_token > 0) {
        s.both_decode += r.run.decode_ms_per_token;
        s.both_full_decode += r.full_decode_ms_per_token;
        if (r.kind == AnswerKind::Long) {
          s.long_decode += r.run.decode_ms_per_token;
          s.long_full_decode += r.full_decode_ms_per_token;
        }
      }
    }
    s.model += r.run.model_ms;
    s.policy += r.run.policy_ms;
    if (const auto& sh = r.run.shadow) {
      ++c.shadow_cases;
      s.kl += sh->mean_kl;
      c.worst_kl = std::max(c.worst_kl, sh->worst_kl);
      s.agree1 += sh->top1_agreement;
      s.missed_visual += sh->missed_visual;
      s.missed_text += sh->missed_text;
      s.regrets += sh->regretted_purges;
      if (sh->first_divergence > 0) s.divergences.push_back(sh->first_divergence);
    }
  }
  for (std::size_t i = 0; i < cells.size(); ++i) {
    CellSummary& c = cells[i];
    const Sums& s = sums[i];
    c.short_accuracy = ratio(s.short_em, c.short_cases);
    c.full_short_accuracy = ratio(s.short_full_em, c.short_cases);
    c.long_em_ref = ratio(s.long_em_ref, c.long_cases);
    c.long_f1_ref = ratio(s.long_f1_ref, c.long_cases);
    c.long_em_full = ratio(s.long_em_full, c.long_cases);
    c.long_f1_full = ratio(s.long_f1_full, c.long_cases);
    c.agreement_full = ratio(s.agree, c.cases);
    c.peak_bytes = ratio(s.peak, c.cases);
    c.mean_bytes = ratio(s.mean, c.cases);
    c.peak_reduction = s.full_peak > 0 ? 1 - s.peak / s.full_peak : 0;
    c.kv_reduction = s.full_mean > 0 ? 1 - s.mean / s.full_mean : 0;
    c.prefill_ms = ratio(s.prefill, c.cases);
    c.decode_ms_per_token = ratio(s.decode, s.decoded);
    c.speedup = ratio(s.both_full_decode, s.both_decode);
    c.prefill_speedup = ratio(s.full_prefill, s.prefill);
    c.long_speedup = ratio(s.long_full_decode, s.long_decode);
    c.policy_share = ratio(s.policy, s.model + s.policy);
    for (const auto& [cat, n] : c.category_cases)
      c.category_accuracy[cat] = ratio(s.cat_em.at(cat), n);
    c.mean_kl = ratio(s.kl, c.shadow_cases);
    c.top1_agreement = ratio(s.agree1, c.shadow_cases);
    c.missed_visual = ratio(s.missed_visual, c.shadow_cases);
    c.missed_text = ratio(s.missed_text, c.shadow_cases);
    c.regretted_purges = ratio(s.regrets, c.shadow_cases);
    c.diverged_share = ratio(static_cast<double>(s.divergences.size()), c.shadow_cases);
    if (!s.divergences.empty()) {
      std::vector<int> d = s.divergences;
      std::sort(d.begin(), d.end());
      const std::size_t n = d.size();
      c.first_divergence_median = n % 2 ? d[n / 2] : 0.5 * (d[n / 2 - 1] + d[n / 2]);
    }
  }
  std::stable_sort(cells.begin(), cells.end(), [](const CellSummary& a, const CellSummary& b) {
    return std::tie(a.order, a.cell) < std::tie(b.order, b.cell);
  });
  return cells;
}

std::string summaryCsv(const std::vector<CellSummary>& cells) {
  std::string out =
      "cell,policy,budget,knobs,cases,short_cases,short_accuracy,full_short_accuracy,long_cases,"
      "long_em_ref,long_f1_ref,long_em_full,long_f1_full,agreement_full,peak_bytes,mean_bytes,"
      "peak_reduction,kv_reduction,prefill_ms,decode_ms_per_token,speedup,prefill_speedup,"
      "long_speedup,policy_share,shadow_cases,mean_kl,worst_kl,top1_agreement,missed_visual,"
      "missed_text,first_divergence_median,diverged_share,regretted_purges\r\n";
  for (const auto& c : cells)
    out += fmt::format(
        "{},{},{},{},{},{},{:.6f},{:.6f},{},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{:.0f},{:.0f},"
        "{:.6f},{:.6f},{:.4f},{:.4f},{:.4f},{:.4f},{:.4f},{:.6f},{},{:.6g},{:.6g},{:.6f},{:.6f},"
        "{:.6f},{:.1f},{:.6f},{:.4f}\r\n",
        csvField(c.cell), csvField(c.policy), budgetText(c.budget, c.budget_tokens),
        csvField(knobText(c.knobs)), c.cases, c.short_cases, c.short_accuracy,
        c.full_short_accuracy, c.long_cases, c.long_em_ref, c.long_f1_ref, c.long_em_full,
        c.long_f1_full, c.agreement_full, c.peak_bytes, c.mean_bytes, c.peak_reduction,
        c.kv_reduction, c.prefill_ms, c.decode_ms_per_token, c.speedup, c.prefill_speedup,
        c.long_speedup, c.policy_share, c.shadow_cases, c.mean_kl, c.worst_kl, c.top1_agreement,
        c.missed_visual, c.missed_text, c.first_divergence_median, c.diverged_share,
        c.regretted_purges);
  return out;
}

std::string summaryJson(const std::vector<CellSummary>& cells) {
  Json j;
  j["schema"] = kSummarySchema;
  j["schema_version"] = kBenchSchemaVersion;
  Json arr = Json::array();
  for (const auto& c : cells) {
    Json e;
    e["cell"] = c.cell;
    e["order"] = c.order;
    e["policy"] = c.policy;
    e["budget"] = c.budget ? Json(*c.budget) : Json(nullptr);
    if (c.budget_tokens > 0) e["budget_tokens"] = c.budget_tokens;
    e["knobs"] = c.knobs;
    e["cases"] = c.cases;
    e["short_cases"] = c.short_cases;
    e["short_accuracy"] = c.short_accuracy;
    e["full_short_accuracy"] = c.full_short_accuracy;
    e["long_cases"] = c.long_cases;
    e["long_em_ref"] = c.long_em_ref;
    e["long_f1_ref"] = c.long_f1_ref;
    e["long_em_full"] = c.long_em_full;
    e["long_f1_full"] = c.long_f1_full;
    e["agreement_full"] = c.agreement_full;
    e["peak_bytes"] = c.peak_bytes;
    e["mean_bytes"] = c.mean_bytes;
    e["peak_reduction"] = c.peak_reduction;
    e["kv_reduction"] = c.kv_reduction;
    e["prefill_ms"] = c.prefill_ms;
    e["decode_ms_per_token"] = c.decode_ms_per_token;
    e["speedup"] = c.speedup;
    e["prefill_speedup"] = c.prefill_speedup;
    e["long_speedup"] = c.long_speedup;
    e["policy_share"] = c.policy_share;
    if (c.shadow_cases > 0)
      e["shadow"] = {{"cases", c.shadow_cases},
                     {"mean_kl", c.mean_kl},
                     {"worst_kl", c.worst_kl},
                     {"top1_agreement", c.top1_agreement},
                     {"missed_visual", c.missed_visual},
                     {"missed_text", c.missed_text},
                     {"first_divergence_median", c.first_divergence_median},
                     {"diverged_share", c.diverged_share},
                     {"regretted_purges", c.regretted_purges}};
    Json cats = Json::object();
    for (const auto& [cat, n] : c.category_cases)
      cats[cat] = {{"cases", n}, {"accuracy", c.category_accuracy.at(cat)}};
    e["categories"] = cats;
    arr.push_back(e);
  }
  j["cells"] = arr;
  return j.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

std::string summaryMarkdown(const std::vector<CellSummary>& cells) {
  std::ostringstream md;
  md << "| cell | cases | short acc % | drop (pts) | long F1 ref | long F1 full | agree full % | "
        "KV held (mean) | KV reduction % | peak reduction % | prefill ms | decode ms/tok | "
        "speed-up | speed-up long | policy share % |\n";
  md << "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& c : cells) {
    const bool s = c.short_cases > 0, l = c.long_cases > 0;
    md << fmt::format(
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1f} | {} | {} | {} | {} |\n",
        mdCell(c.cell), c.cases, s ? pct(c.short_accuracy) : "-",
        s ? fmt::format("{:+.1f}", 100 * (c.full_short_accuracy - c.short_accuracy)) : "-",
        l ? fmt::format("{:.3f}", c.long_f1_ref) : "-",
        l ? fmt::format("{:.3f}", c.long_f1_full) : "-", pct(c.agreement_full),
        bytesText(c.mean_bytes), pct(c.kv_reduction), pct(c.peak_reduction), c.prefill_ms,
        c.decode_ms_per_token > 0 ? fmt::format("{:.2f}", c.decode_ms_per_token) : "-",
        c.speedup > 0 ? fmt::format("{:.2f}x", c.speedup) : "-",
        c.long_speedup > 0 ? fmt::format("{:.2f}x", c.long_speedup) : "-", pct(c.policy_share));
  }
  if (std::any_of(cells.begin(), cells.end(), [](const CellSummary& c) { return c.shadow_cases > 0; })) {
    md << "\n**Against the full-cache shadow** (teacher-forced on each cell's own answer; missed = "
          "the full model's attention on tokens the cell's cache no longer shows, mean over steps "
          "and layers)\n\n"
          "| cell | mean KL | worst KL | top-1 agree % | missed visual % | missed text % | answers "
          "parting % | first parting token (median) | regretted purges / answer |\n"
          "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for (const auto& c : cells) {
      if (c.shadow_cases == 0) continue;
      md << fmt::format("| {} | {:.4f} | {:.3f} | {} | {:.2f} | {:.2f} | {} | {} | {:.2f} |\n",
                        mdCell(c.cell), c.mean_kl, c.worst_kl, pct(c.top1_agreement),
                        100 * c.missed_visual, 100 * c.missed_text, pct(c.diverged_share),
                        c.diverged_share > 0 ? fmt::format("{:g}", c.first_divergence_median) : "-",
                        c.regretted_purges);
    }
  }
  // Sweeps are found in the cells themselves (cells of one policy and budget that differ in one
  // knob), so a merged run's summary shows them without knowing the grid it came from.
  std::set<std::string> shown;
  for (const auto& a : cells) {
    std::set<std::string> names;
    for (const auto& b : cells)
      if (b.policy == a.policy && b.budget == a.budget && b.budget_tokens == a.budget_tokens)
        for (const auto& [k, v] : b.knobs) names.insert(k);
    for (const std::string& knob : names) {
      auto rest = [&](const CellSummary& c) {
        auto m = c.knobs;
        m.erase(knob);
        return m;
      };
      std::vector<const CellSummary*> group;
      std::set<std::string> values;
      for (const auto& b : cells)
        if (b.policy == a.policy && b.budget == a.budget && b.budget_tokens == a.budget_tokens &&
            rest(b) == rest(a)) {
          group.push_back(&b);
          values.insert(b.knobs.count(knob) ? b.knobs.at(knob) : defaultKnob(b.policy, knob));
        }
      if (values.size() < 2) continue;
      const std::string title = fmt::format(
          "{} {} sweep{}{}", a.policy, knob,
          a.budget || a.budget_tokens ? ", budget " + budgetText(a.budget, a.budget_tokens) : "",
          rest(a).empty() ? "" : ", " + knobText(rest(a)));
      if (!shown.insert(title).second) continue;
      md << "\n**" << mdCell(title) << "**\n\n| " << knob
         << " | short acc % | long F1 ref | agree full % | KV reduction % | speed-up | policy "
            "share % |\n"
            "|---|---:|---:|---:|---:|---:|---:|\n";
      for (const CellSummary* c : group)
        md << fmt::format(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            c->knobs.count(knob) ? c->knobs.at(knob) : defaultKnob(c->policy, knob) + " (default)",
            c->short_cases ? pct(c->short_accuracy) : "-",
            c->long_cases ? fmt::format("{:.3f}", c->long_f1_ref) : "-", pct(c->agreement_full),
            pct(c->kv_reduction), c->speedup > 0 ? fmt::format("{:.2f}x", c->speedup) : "-",
            pct(c->policy_share));
    }
  }
  std::set<std::string> policies;
  for (const auto& c : cells) policies.insert(c.policy);
  md << "\nBudget b = fraction of the full cache's prompt tokens kept: ";
  bool first = true;
  for (const auto& p : policies) {
    md << (first ? "" : "; ") << budgetConvention(p);
    first = false;
  }
  md << ". KV held = slots held (live + recycle bin) x bytes per slot, mean over the steps of a "
        "case; reductions and speed-ups are against the full cache on the same cases; drop = "
        "full cache's short accuracy - this cell's.\n";
  return md.str();
}

void writeSummaries(const std::string& out_dir, const std::vector<CaseResult>& results) {
  const auto cells = summarize(results);
  const fs::path dir(out_dir);
  writeFileAtomically((dir / "summary.csv").string(), summaryCsv(cells));
  writeFileAtomically((dir / "summary.json").string(), summaryJson(cells));
  writeFileAtomically((dir / "summary.md").string(), summaryMarkdown(cells));
  writeFileAtomically((dir / "summary.html").string(), summaryHtml(cells));
  writeFileAtomically((dir / "tradeoff_kv.svg").string(),
                      tradeoffSvg(cells, PlotAxis::MeanKvBytes));
  writeFileAtomically((dir / "tradeoff_prefill.svg").string(),
                      tradeoffSvg(cells, PlotAxis::PrefillMs));
  writeFileAtomically((dir / "tradeoff_decode.svg").string(),
                      tradeoffSvg(cells, PlotAxis::DecodeMsPerToken));
}

std::vector<CaseResult> mergeRuns(const std::vector<std::string>& dirs,
                                  const std::string& out_dir) {
  if (dirs.empty()) throw Error("hae bench merge: give the output folders to merge");
  checkOutputFolder("--out", out_dir);
  // Shards of one run differ in their shard only: results with another answer length, model or
  // seed would be summed into one table without a trace.
  std::string first_settings_path;
  std::map<std::string, std::string> first_settings;
  for (const std::string& d : dirs) {
    const std::string path = (fs::path(d) / "run.json").string();
    if (!fs::is_regular_file(path))
      throw Error(
          fmt::format("{}: no such file (the settings of the shard; not a bench output "
                      "folder?)",
                      path));
    std::map<std::string, std::string> settings = readRunSettings(path);
    settings.erase("shard");
    if (first_settings_path.empty()) {
      first_settings_path = path;
      first_settings = std::move(settings);
      continue;
    }
    std::set<std::string> keys;
    for (const auto& [k, v] : first_settings) keys.insert(k);
    for (const auto& [k, v] : settings) keys.insert(k);
    for (const std::string& k : keys) {
      auto value = [&k](const std::map<std::string, std::string>& m) {
        const auto it = m.find(k);
        return it == m.end() ? std::string("(unset)") : it->second;
      };
      if (value(first_settings) != value(settings))
        throw Error(
            fmt::format("hae bench merge: {} is '{}' in {} but '{}' in {}; only shards of "
                        "one run can be merged",
                        k, value(first_settings), first_settings_path, value(settings), path));
    }
  }
  std::vector<CaseResult> all;
  std::map<std::pair<std::string, std::string>, std::size_t> seen;
  std::map<std::string, std::string> reference;  // case -> the full cache's output
  for (const std::string& d : dirs) {
    const std::string path = (fs::path(d) / "results.jsonl").string();
    if (!fs::is_regular_file(path))
      throw Error(fmt::format("{}: no such file (not a bench output folder?)", path));
    for (CaseResult& r : readResults(path, false)) {
      auto [ref, fresh_case] = reference.emplace(r.case_id, r.full_output);
      if (!fresh_case && ref->second != r.full_output)
        throw Error(
            fmt::format("{}: case {} has a different full-cache output than another folder "
                        "(different model or settings?)",
                        path, r.case_id));
      if (!seen.emplace(std::make_pair(r.cell, r.case_id), all.size()).second) continue;
      all.push_back(std::move(r));
    }
  }
  sortResults(all);
  std::set<std::string> cells, cases;
  for (const auto& r : all) {
    cells.insert(r.cell);
    cases.insert(r.case_id);
  }
  if (all.size() != cells.size() * cases.size())
    spdlog::warn(
        "merged {} results; a complete grid would have {} ({} cells x {} cases): a shard "
        "is missing or unfinished",
        all.size(), cells.size() * cases.size(), cells.size(), cases.size());
  fs::create_directories(out_dir);
  writeFileAtomically((fs::path(out_dir) / "results.jsonl").string(), [&](std::ostream& os) {
    for (const auto& r : all) os << resultLine(r) << '\n';
  });
  writeSummaries(out_dir, all);
  return all;
}

}  // namespace hae::bench
