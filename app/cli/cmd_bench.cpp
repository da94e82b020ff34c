// `hae bench`: policies x budgets x knob sweeps over demo held-out questions / descriptions and
// JSON-lines datasets, with resumable per-case results, shards and `hae bench merge`. The grid,
// metrics and files live in core (hae/bench.h, torch-free); this file drives the Sessions.
#include <fmt/core.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>

#include "cli_context.h"
#include "hae/bench.h"
#include "hae/error.h"
#include "hae/session.h"

namespace hae::cli {

namespace {

struct BenchArgs {
  SessionOptions session;
  int demo = 0, describe = 0;
  std::vector<std::string> data;
  std::vector<std::string> policies, budgets, sets, sweeps;
  std::string preset;
  std::string out;
  std::string shard = "1/1";
  bool resume = false;
  bool dry_run = false;
  bool no_progress = false;
  std::string compress_with;  // compress once, ask many: the question the cache is compressed for
  // merge
  std::vector<std::string> merge_dirs;
  std::string merge_out;
};

// One model load for the whole grid: only the policy changes between cells.
class SessionRunner : public bench::CaseRunner {
 public:
  SessionRunner(const SessionOptions& options, std::string compress_with)
      : session_(options), compress_with_(std::move(compress_with)) {}
  bench::RunMeasure run(const bench::BenchCase& c, const std::string& policy,
                        const std::map<std::string, std::string>& knobs) override {
    if (!warmed_) {
      // The first forward pays one-off costs (allocator growth, oneDNN / BLAS setup); an untimed
      // run keeps them out of the full cache's numbers, which every speed-up is measured against.
      runOnce(c, "full", {});
      warmed_ = true;
    }
    runOnce(c, policy, knobs);
    return bench::measureRun(session_.runInfo(), session_.history(), session_.answer());
  }

 private:
  void runOnce(const bench::BenchCase& c, const std::string& policy,
               const std::map<std::string, std::string>& knobs) {
    session_.setPolicy(policy, knobs);
    if (compress_with_.empty()) {
      session_.prefill(c.question, c.images);
    } else {
      session_.prefill(compress_with_, c.images);
      session_.ask(c.question);
    }
    while (session_.step()) {
    }
  }
  Session session_;
  std::string compress_with_;
  bool warmed_ = false;
};

std::vector<bench::GridBlock> gridFromArgs(const BenchArgs& a) {
  std::vector<double> budgets;
  std::vector<int> tokens;
  for (const auto& b : a.budgets) {
    const bench::BudgetList list = bench::parseBudgetList(b);
    budgets.insert(budgets.end(), list.ratios.begin(), list.ratios.end());
    tokens.insert(tokens.end(), list.tokens.begin(), list.tokens.end());
  }
  std::vector<bench::GridBlock> blocks;
  if (!a.preset.empty()) blocks = bench::presetGrid(a.preset, budgets, tokens);
  bench::GridBlock flags;
  flags.policies = a.policies;
  flags.budgets = budgets;
  flags.token_budgets = tokens;
  for (const auto& s : a.sets) flags.sets.push_back(bench::parseKnobSetting(s, "--set"));
  for (const auto& s : a.sweeps) flags.sweeps.push_back(bench::parseKnobSetting(s, "--sweep"));
  if (a.preset.empty() && a.policies.empty())
    throw Error("hae bench: give the policies (--policy NAME, repeatable) or --preset paper");
  if (!a.policies.empty() || a.preset.empty())
    blocks.push_back(flags);
  else {
    // With a preset alone, --set / --sweep refine the preset's blocks that have the knob.
    auto refine = [&blocks](const bench::KnobSetting& k, bool sweep) {
      bool reached = false;
      for (auto& b : blocks) {
        bool has = false;
        for (const auto& p : b.policies)
          has = has || ((k.policy.empty() || k.policy == p) && bench::policyHasKnob(p, k.knob));
        if (!has) continue;
        (sweep ? b.sweeps : b.sets).push_back(k);
        reached = true;
      }
      if (!reached)
        throw Error(fmt::format("{} {}: no policy of the preset has the knob '{}'",
                                sweep ? "--sweep" : "--set", k.knob, k.knob));
    };
    for (const auto& k : flags.sets) refine(k, false);
    for (const auto& k : flags.sweeps) refine(k, true);
  }
  return blocks;
}

void runBenchCommand(const BenchArgs& a, const GlobalOptions& global) {
  // Everything that can be wrong with the request fails here, before the model loads.
  const std::vector<bench::Cell> cells = bench::expandGrid(gridFromArgs(a));
  const bench::Shard shard = bench::parseShard(a.shard);
  std::vector<bench::BenchCase> cases = bench::demoCases(a.demo, a.describe);
  for (const auto& path : a.data) {
    auto more = bench::loadDataCases(path, static_cast<int>(cases.size()));
    cases.insert(cases.end(), more.begin(), more.end());
  }
  if (cases.empty())
    throw Error("hae bench: no cases; give --demo N, --describe M or --data FILE.jsonl|.tsv");
  int mine = 0;
  for (const auto& c : cases) mine += bench::inShard(c, shard);

  if (a.dry_run) {
    fmt::print("{} cells x {} cases in shard {}/{} ({} cases in all) = {} runs\n", cells.size(),
               mine, shard.index, shard.count, cases.size(),
               cells.size() * static_cast<std::size_t>(mine));
    fmt::print(
        "cell: knobs for a {}-token prompt with {} visual tokens (budget knobs follow each case's "
        "prompt)\n",
        bench::kNominalShape.prompt_tokens, bench::kNominalShape.visual_tokens);
    for (const auto& cell : cells) {
      std::string knobs;
      for (const auto& [k, v] : bench::cellKnobs(cell, bench::kNominalShape))
        knobs += " " + k + "=" + v;
      fmt::print("  {:<36}{}\n", cell.key, knobs.empty() ? " (none)" : knobs);
    }
    return;
  }
  if (a.out.empty()) throw Error("hae bench: --out DIR is required");

  bench::BenchOptions o;
  o.out_dir = a.out;
  o.shard = shard;
  o.resume = a.resume;
  std::string data;
  for (const auto& d : a.data) data += (data.empty() ? "" : ",") + d;
  o.settings = {{"model", a.session.model_dir.empty() ? "(demo)" : a.session.model_dir},
                {"dtype", a.session.dtype},
                {"device", a.session.device},
                {"max_new_tokens", std::to_string(a.session.max_new_tokens)},
                {"temperature", fmt::format("{}", a.session.sampling.temperature)},
                {"seed", std::to_string(a.session.sampling.seed)},
                {"demo", std::to_string(a.demo)},
                {"describe", std::to_string(a.describe)},
                {"data", data},
                {"shard", a.shard}};
  if (!a.compress_with.empty()) o.settings["compress_with"] = a.compress_with;
  if (a.session.shadow.mode != "off") o.settings["shadow"] = a.session.shadow.mode;
  const bool show = !a.no_progress && !global.quiet;
  const bool tty = isatty(fileno(stderr)) != 0;
  int last_printed = -1;
  if (show)
    o.progress = [tty, &last_printed](const bench::Progress& p) {
      if (tty) {
        fmt::print(stderr, "\r{}\x1b[K", bench::progressLine(p, 30));
        if (p.done == p.total) fmt::print(stderr, "\n");
      } else {
        // Logs (Slurm) get a line per 5% instead of a redrawn bar.
        const int step = p.total * 20 > 0 ? p.done * 20 / p.total : 20;
        if (step != last_printed || p.done == p.total) {
          fmt::print(stderr, "{}\n", bench::progressLine(p, 30));
          last_printed = step;
        }
      }
      std::fflush(stderr);
    };

  bench::checkOutput(o);  // before the model loads
  spdlog::info("hae bench: {} cells x {} cases (shard {}/{}) -> {}", cells.size(), mine,
               shard.index, shard.count, a.out);
  SessionRunner runner(a.session, a.compress_with);
  const bench::BenchStats stats = bench::runBench(cells, std::move(cases), runner, o);
  spdlog::info(
      "ran {} (cell, case) pairs, skipped {} already done; wrote {}/summary.csv, summary.json, "
      "summary.md",
      stats.ran, stats.skipped, a.out);
}

std::string budgetHelp() {
  std::string out = "Budget conventions (b = fraction of the full cache's prompt tokens kept):\n";
  for (const char* p : {"hae", "h2o", "snapkv", "pyramidkv", "adakv", "fastv", "streaming", "tova",
                        "random", "uniform", "divprune", "fastervlm", "visionzip", "cdpruner",
                        "dart", "pyramiddrop", "sparsevlm", "mustdrop", "full"})
    out += "  " + bench::budgetConvention(p) + "\n";
  out +=
      "A token budget Tt (e.g. 64t) is b = min(1, (prompt - visual + T) / prompt) per case: "
      "visual pruners keep T visual tokens, KV policies the same number of prompt tokens.\n";
  return out;
}

}  // namespace

void addBenchCommand(CLI::App& app, const GlobalOptions& global) {
  auto a = std::make_shared<BenchArgs>();
  a->session.max_new_tokens = 96;  // long enough for a demo description
  auto* cmd = app.add_subcommand(
      "bench",
      "Benchmark policies x budgets x knob sweeps on a dataset (accuracy, KV memory, speed)");
  cmd->footer(budgetHelp());
  cmd->add_option("--model", a->session.model_dir,
                  "Hugging Face model folder (default: the embedded demo model)")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--demo", a->demo, "N short held-out demo questions")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--describe", a->describe, "M held-out demo descriptions (long answers)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option(
      "--data", a->data,
      "FILE.jsonl: JSON lines of {\"image\", \"question\", \"answer\"[, \"kind\": short|long]} "
      "(image paths relative to the file); FILE.tsv: a VLMEvalKit TSV (index, image as base64, "
      "question, answer, A-D options, category); repeatable");
  cmd->add_option("--policy", a->policies,
                  "policy to run (repeatable; the full cache always runs first)");
  cmd->add_option(
      "--budget", a->budgets,
      "budgets: ratios b in (0, 1] or token counts Tt (64t), comma separated (repeatable)");
  cmd->add_option("--set", a->sets, "[policy:]knob=value for every cell (repeatable)");
  cmd->add_option("--sweep", a->sweeps, "[policy:]knob=v1,v2,... a grid axis (repeatable)");
  cmd->add_option(
      "--preset", a->preset,
      "paper: full, hae, h2o, snapkv, pyramidkv, fastv, streaming, random, uniform, divprune, "
      "fastervlm, visionzip, cdpruner, dart, pyramiddrop, sparsevlm at matched memory (--budget, "
      "default 0.59) + HAE's dap.r and ddes.bin sweeps");
  cmd->add_option(
      "--out", a->out,
      "output folder: results.jsonl, summary.csv / .json / .md / .html, tradeoff_*.svg, images/");
  cmd->add_flag("--resume", a->resume,
                "continue the run in --out, skipping finished (cell, case) pairs");
  cmd->add_option("--shard", a->shard, "i/N: run the cases with index % N == i-1 (all cells each)");
  cmd->add_flag("--dry-run", a->dry_run, "list the cells and the number of runs, run nothing");
  cmd->add_flag("--no-progress", a->no_progress, "no progress bar on stderr");
  cmd->add_flag_function(
      "--shadow", [a](std::int64_t) { a->session.shadow.mode = "forced"; },
      "run every cell beside a full-cache shadow fed the cell's own answer: per cell the mean and "
      "worst KL, top-1 agreement, missed attention mass (visual / text), where answers part from "
      "the full cache's, regretted purges (about 2x the decoder work)");
  cmd->add_option(
      "--compress-with", a->compress_with,
      "compress once, ask many: every cell (the full cache too) first runs the images with this "
      "question, so the policy compresses the cache for it, then answers the case's question "
      "from that cache (the first question leaves the cache); shows what query-aware methods "
      "owe to knowing the question. Example: \"Describe the image.\"");
  cmd->add_option("--max-new-tokens", a->session.max_new_tokens, "longest answer")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--dtype", a->session.dtype, "fp32, bf16 (or fp16 on CUDA)")
      ->check(CLI::IsMember({"fp32", "bf16", "fp16"}));
  cmd->add_option("--device", a->session.device, "cpu or cuda")
      ->check(CLI::IsMember({"cpu", "cuda"}));

  auto* merge =
      cmd->add_subcommand("merge", "Join the results of sharded runs and write the summaries");
  merge->add_option("dirs", a->merge_dirs, "output folders of the shards")->required();
  merge->add_option("--out", a->merge_out, "merged output folder")->required();
  merge->callback([a] {
    const auto all = bench::mergeRuns(a->merge_dirs, a->merge_out);
    spdlog::info("merged {} results into {}", all.size(), a->merge_out);
  });
  cmd->require_subcommand(0, 1);
  cmd->callback([a, merge, &global] {
    if (merge->parsed()) return;
    runBenchCommand(*a, global);
  });
}

}  // namespace hae::cli
