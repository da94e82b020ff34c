// The bench grid: budgets mapped onto each policy's knobs (in one place, because the policies'
// budget conventions disagree), blocks expanded into cells, presets.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <set>

#include "../policies/catalog.h"
#include "../policies/visual_selection.h"
#include "hae/bench.h"
#include "hae/error.h"

namespace hae::bench {

namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

std::vector<std::string> splitList(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    const auto comma = text.find(',', start);
    out.push_back(
        trim(text.substr(start, comma == std::string::npos ? std::string::npos : comma - start)));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

int roundTokens(double x) {
  return static_cast<int>(std::lround(x));
}

std::string formatBudget(double b) {
  return fmt::format("{:g}", b);
}

// The stage-V pruners: one budget convention (a share of each image's visual tokens pruned).
bool isVisionPruner(const std::string& p) {
  return p == "uniform" || p == "divprune" || p == "fastervlm" || p == "visionzip" ||
         p == "cdpruner";
}

}  // namespace

bool policyHasKnob(const std::string& policy, const std::string& knob) {
  for (const auto& k : policyInfo(policy).knobs)
    if (k.name == knob) return true;
  return false;
}

bool policyTakesBudget(const std::string& policy) {
  return policy != "full" && policy != "mustdrop";
}

std::vector<std::string> budgetKnobNames(const std::string& p) {
  if (p == "hae") return {"ddes.budget"};
  if (p == "random" || p == "snapkv" || p == "pyramidkv" || p == "adakv") return {"keep_ratio"};
  if (p == "streaming") return {"sink", "recent"};
  if (p == "h2o") return {"heavy_ratio", "recent_ratio"};
  if (p == "tova") return {"budget"};
  if (p == "fastv" || p == "dart" || p == "sparsevlm" || isVisionPruner(p))
    return {"ratio", "keep"};
  if (p == "pyramiddrop") return {"lambda", "stages"};
  return {};
}

std::string budgetConvention(const std::string& p) {
  if (p == "full") return "full: no budget (the reference)";
  if (p == "mustdrop") return "mustdrop: no budget (threshold r decides)";
  if (p == "hae")
    return "hae: ddes.budget = b (live tokens per layer as a ratio of prompt + generated; the "
           "recycle bin's ddes.bin slots come on top, DAP's thresholds prune visual tokens first)";
  if (p == "random") return "random: keep_ratio = b (kept fraction of the prompt, end of prefill)";
  if (p == "snapkv") return "snapkv: keep_ratio = b (kept per layer, observation window included)";
  if (p == "pyramidkv")
    return "pyramidkv: keep_ratio = b (kept per layer on average over layers, window included)";
  if (p == "adakv") return "adakv: keep_ratio = b (kept per KV head on average, window included)";
  if (p == "streaming")
    return "streaming: sink = 4, recent = round(b * prompt) - 4 (fixed size through decoding)";
  if (p == "h2o")
    return "h2o: heavy_ratio = recent_ratio = b / 2 (of the prompt; fixed size through decoding)";
  if (p == "tova") return "tova: budget = round(b * prompt) (fixed size through decoding)";
  if (p == "fastv")
    return "fastv: ratio = min(1, (1 - b) * prompt / visual) of the visual tokens, pruned from "
           "layer k on (layers below k keep everything)";
  if (p == "dart")
    return "dart: ratio = min(1, (1 - b) * prompt / visual) of each image's visual tokens, pruned "
           "from layer k on (layers below k keep everything)";
  if (p == "sparsevlm")
    return "sparsevlm: ratio = min(1, (1 - b) * prompt / visual) of each image's visual tokens, "
           "left after the last of its three drops (recycled tokens count as kept; the layers "
           "before the drops keep more)";
  if (p == "pyramiddrop")
    return "pyramiddrop: stages = 4 and the lambda whose visual tokens, averaged over the "
           "layers ((1 - lambda^4) / (4 (1 - lambda))), are the share min(1, (1 - b) * prompt / "
           "visual) leaves";
  if (isVisionPruner(p))
    return p +
           ": ratio = min(1, (1 - b) * prompt / visual) of each image's visual tokens, "
           "dropped before the decoder runs (separators kept)";
  return p + ": no budget mapping";
}

std::map<std::string, std::string> budgetKnobs(const std::string& p, double b, const CaseShape& s) {
  if (!(b > 0 && b <= 1)) throw Error(fmt::format("budget {:g} is outside (0, 1]", b));
  const std::string text = fmt::format("{:g}", b);
  if (p == "hae") return {{"ddes.budget", text}};
  if (p == "random" || p == "snapkv" || p == "pyramidkv" || p == "adakv")
    return {{"keep_ratio", text}};
  const int kept = std::max(1, roundTokens(b * s.prompt_tokens));
  if (p == "streaming") {
    const int sink = std::min(4, kept - 1);
    return {{"sink", std::to_string(sink)}, {"recent", std::to_string(std::max(1, kept - sink))}};
  }
  if (p == "h2o") {
    const std::string half = fmt::format("{:g}", b / 2);
    return {{"heavy_ratio", half}, {"recent_ratio", half}};
  }
  if (p == "tova") return {{"budget", std::to_string(kept)}};
  // FastV and the vision-side pruners drop visual tokens only: prune the share of them that
  // brings the prompt to b of its tokens (all of them where that is not enough).
  const double visual_pruned =
      s.visual_tokens > 0 ? std::min(1.0, (1 - b) * s.prompt_tokens / s.visual_tokens) : 0.0;
  if (p == "fastv" || p == "dart" || p == "sparsevlm" || isVisionPruner(p))
    return {{"ratio", fmt::format("{:.6g}", visual_pruned)}, {"keep", "0"}};
  // PyramidDrop: the lambda whose visual tokens, averaged over the layers, match the same share.
  if (p == "pyramiddrop")
    return {{"lambda", fmt::format("{:.6g}", pyramidLambdaFor(1 - visual_pruned, 4))},
            {"stages", "4"}};
  return {};
}

KnobSetting parseKnobSetting(const std::string& text, const std::string& flag) {
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == text.size())
    throw Error(fmt::format("{} '{}': expected [policy:]knob=value[,value...]", flag, text));
  KnobSetting k;
  std::string name = trim(text.substr(0, eq));
  if (const auto colon = name.find(':'); colon != std::string::npos) {
    k.policy = name.substr(0, colon);
    name = name.substr(colon + 1);
    policyInfo(k.policy);  // throws naming the known policies
  }
  k.knob = name;
  k.values = splitList(text.substr(eq + 1));
  for (const auto& v : k.values)
    if (v.empty()) throw Error(fmt::format("{} '{}': empty value", flag, text));
  return k;
}

std::vector<double> parseBudgets(const std::string& text) {
  std::vector<double> out;
  for (const auto& item : splitList(text)) {
    char* end = nullptr;
    const double b = std::strtod(item.c_str(), &end);
    if (item.empty() || end != item.c_str() + item.size() || !std::isfinite(b))
      throw Error(
          fmt::format("--budget '{}': '{}' is not a number (a ratio like 0.5 or a token "
                      "count like 64t)",
                      text, item));
    if (!(b > 0 && b <= 1))
      throw Error(
          fmt::format("--budget {}: out of range (0, 1]; a budget is the fraction of the "
                      "full cache's prompt tokens a policy keeps",
                      item));
    out.push_back(b);
  }
  return out;
}

BudgetList parseBudgetList(const std::string& text) {
  BudgetList out;
  for (const auto& item : splitList(text)) {
    if (!item.empty() && item.back() == 't') {
      const std::string n = item.substr(0, item.size() - 1);
      const bool digits =
          !n.empty() && n.size() < 10 &&
          std::all_of(n.begin(), n.end(), [](unsigned char ch) { return std::isdigit(ch) != 0; });
      if (!digits)
        throw Error(
            fmt::format("--budget '{}': '{}' is not a token count (an integer then t, "
                        "e.g. 64t)",
                        text, item));
      const int tokens = std::stoi(n);
      if (tokens < 1)
        throw Error(fmt::format("--budget {}: a token budget keeps at least 1 token", item));
      out.tokens.push_back(tokens);
      continue;
    }
    for (double b : parseBudgets(item)) out.ratios.push_back(b);
  }
  return out;
}

double budgetFromTokens(int tokens, const CaseShape& s) {
  if (tokens < 1) throw Error(fmt::format("budget {}t: at least 1 token", tokens));
  if (s.prompt_tokens <= 0) return 1.0;
  const int text = std::max(0, s.prompt_tokens - s.visual_tokens);
  return std::min(1.0, static_cast<double>(text + tokens) / s.prompt_tokens);
}

std::map<std::string, std::string> cellKnobs(const Cell& cell, const CaseShape& shape) {
  auto knobs = cell.knobs;
  std::optional<double> b = cell.budget;
  if (cell.budget_tokens > 0) b = budgetFromTokens(cell.budget_tokens, shape);
  if (b)
    for (auto& [k, v] : budgetKnobs(cell.policy, *b, shape)) knobs[k] = v;
  return knobs;
}

std::vector<Cell> expandGrid(const std::vector<GridBlock>& blocks) {
  std::vector<Cell> cells;
  std::set<std::string> keys;
  auto add = [&](Cell c) {
    // Canonical text (0.00150 -> 0.0015) and defaults dropped, so equal settings get equal keys.
    const KnobSet set = validateKnobs(c.policy, cellKnobs(c, kNominalShape));
    const PolicyInfo& info = policyInfo(c.policy);
    std::map<std::string, std::string> explicit_knobs;
    for (const auto& [k, v] : c.knobs) {
      const std::string canon = set.asText().at(k);
      std::string def;
      for (const auto& spec : info.knobs)
        if (spec.name == k) {
          try {
            def = validateKnobs(c.policy, {{k, spec.default_value}}).asText().at(k);
          } catch (const Error&) {
            def = spec.default_value;
          }
        }
      if (canon != def) explicit_knobs[k] = canon;
    }
    c.knobs = explicit_knobs;
    c.key = c.policy;
    if (c.budget) c.key += " b=" + formatBudget(*c.budget);
    if (c.budget_tokens > 0) c.key += fmt::format(" b={}t", c.budget_tokens);
    for (const auto& [k, v] : c.knobs) c.key += " " + k + "=" + v;
    if (!keys.insert(c.key).second) return;
    c.order = static_cast<int>(cells.size());
    cells.push_back(std::move(c));
  };
  add(Cell{0, "", "full", std::nullopt, {}, 0});  // the reference, always first

  for (const GridBlock& block : blocks) {
    if (block.policies.empty() && (!block.sweeps.empty() || !block.sets.empty() ||
                                   !block.budgets.empty() || !block.token_budgets.empty()))
      throw Error("no policy given (use --policy NAME or --preset)");
    for (double b : block.budgets)
      if (!(b > 0 && b <= 1)) throw Error(fmt::format("--budget {:g}: out of range (0, 1]", b));
    for (int t : block.token_budgets)
      if (t < 1) throw Error(fmt::format("--budget {}t: a token budget keeps at least 1 token", t));
    const bool budgeted = !block.budgets.empty() || !block.token_budgets.empty();
    for (const std::string& p : block.policies) policyInfo(p);
    // A setting must reach at least one policy of the block, or it is a typo.
    auto checkReach = [&](const KnobSetting& s, const char* flag) {
      bool reached = false;
      for (const std::string& p : block.policies)
        if ((s.policy.empty() || s.policy == p) && policyHasKnob(p, s.knob)) reached = true;
      if (!reached)
        throw Error(fmt::format("{} {}{}: no selected policy has the knob '{}'", flag,
                                s.policy.empty() ? "" : s.policy + ":", s.knob, s.knob));
    };
    for (const auto& s : block.sets) {
      checkReach(s, "--set");
      if (s.values.size() != 1)
        throw Error(fmt::format("--set {}: one value expected (use --sweep for several)", s.knob));
    }
    for (const auto& s : block.sweeps) checkReach(s, "--sweep");

    for (const std::string& p : block.policies) {
      std::map<std::string, std::string> fixed;
      for (const auto& s : block.sets)
        if ((s.policy.empty() || s.policy == p) && policyHasKnob(p, s.knob))
          fixed[s.knob] = s.values[0];
      std::vector<const KnobSetting*> sweeps;
      for (const auto& s : block.sweeps)
        if ((s.policy.empty() || s.policy == p) && policyHasKnob(p, s.knob)) sweeps.push_back(&s);
      // (ratio, tokens): one of them set, or neither for the policy's own defaults.
      std::vector<std::pair<std::optional<double>, int>> budgets;
      if (!budgeted || !policyTakesBudget(p))
        budgets.emplace_back(std::nullopt, 0);
      else {
        for (double b : block.budgets) budgets.emplace_back(b, 0);
        for (int t : block.token_budgets) budgets.emplace_back(std::nullopt, t);
      }
      if (budgeted)
        for (const auto& name : budgetKnobNames(p)) {
          bool clash = fixed.count(name) > 0;
          for (const auto* s : sweeps) clash = clash || s->knob == name;
          if (clash)
            throw Error(fmt::format("{}: knob '{}' is set by --budget; drop one of them", p, name));
        }
      for (const auto& [budget, tokens] : budgets) {
        // Odometer over the sweeps, first sweep slowest.
        std::vector<std::size_t> at(sweeps.size(), 0);
        while (true) {
          Cell c{0, "", p, budget, fixed, tokens};
          for (std::size_t i = 0; i < sweeps.size(); ++i)
            c.knobs[sweeps[i]->knob] = sweeps[i]->values[at[i]];
          add(std::move(c));
          std::size_t i = sweeps.size();
          while (i > 0) {
            if (++at[i - 1] < sweeps[i - 1]->values.size()) break;
            at[i - 1] = 0;
            --i;
          }
          if (i == 0) break;
        }
      }
    }
  }
  return cells;
}

std::vector<std::string> presetNames() {
  return {"paper"};
}

std::vector<GridBlock> presetGrid(const std::string& name, const std::vector<double>& budgets,
                                  const std::vector<int>& tokens) {
  if (name != "paper") throw Error(fmt::format("unknown preset '{}' (known: paper)", name));
  const std::vector<double> b =
      budgets.empty() && tokens.empty() ? std::vector<double>{0.59} : budgets;
  // The KV methods the paper compares with, then the visual-token pruners (stage V and P) and the
  // two controls (random, spatially uniform), all at the same budgets.
  GridBlock main{
      {"full", "hae", "h2o", "snapkv", "pyramidkv", "fastv", "streaming", "random", "uniform",
       "divprune", "fastervlm", "visionzip", "cdpruner", "dart", "pyramiddrop", "sparsevlm"},
      b,
      {},
      {},
      tokens};
  // The paper's r values (0.001-0.0015) and, as the reviewers asked, wider: down to a DAP that
  // evicts almost nothing, up to one that evicts more.
  GridBlock r_sweep{{"hae"},
                    b,
                    {},
                    {{"hae", "dap.r", {"0.0002", "0.0005", "0.001", "0.0012", "0.0015", "0.003"}}},
                    tokens};
  GridBlock bin_sweep{{"hae"}, b, {}, {{"hae", "ddes.bin", {"16", "32", "64", "128"}}}, tokens};
  return {main, r_sweep, bin_sweep};
}

}  // namespace hae::bench
