// `hae bench`'s torch-free half: grid expansion, budget mapping, shards, metrics, resume, merge and
// the summary files, driven by a fake runner so no model is needed.
#include <gtest/gtest.h>

#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "hae/bench.h"
#include "hae/error.h"

namespace fs = std::filesystem;
using namespace hae::bench;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

fs::path tempRoot() {
  return fs::temp_directory_path() / ("hae_test_bench_" + std::to_string(::getpid()));
}

// Removes this process's scratch folder when the suite ends.
class TempRootCleanup : public ::testing::Environment {
 public:
  void TearDown() override { fs::remove_all(tempRoot()); }
};
const auto* const kCleanup = ::testing::AddGlobalTestEnvironment(new TempRootCleanup);

fs::path freshDir(const std::string& name) {
  const fs::path d = tempRoot() / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// Answers right under the full cache, wrong under h2o; memory and time depend on the policy only,
// so every split of the same runs gives the same summary.
class FakeRunner : public CaseRunner {
 public:
  int calls = 0;
  int fail_after = -1;  // throw on this call (an interrupted run)
  std::vector<std::map<std::string, std::string>> knobs_seen;
  RunMeasure run(const BenchCase& c, const std::string& policy,
                 const std::map<std::string, std::string>& knobs) override {
    if (fail_after >= 0 && calls == fail_after) throw hae::Error("interrupted");
    ++calls;
    knobs_seen.push_back(knobs);
    RunMeasure m;
    m.output = policy == "h2o" ? "wrong answer" : c.answer;
    m.prompt_tokens = 100 + c.index;
    m.visual_tokens = 80;
    m.generated_tokens = 4;
    const bool full = policy == "full";
    m.prefill_ms = full ? 10 : 8;
    m.decode_ms = full ? 8 : 4;
    m.decode_ms_per_token = m.decode_ms / 4;
    m.model_ms = m.prefill_ms + m.decode_ms - (full ? 0 : 1);
    m.policy_ms = full ? 0 : 1;
    m.peak_bytes = full ? 1000 : 600;
    m.mean_bytes = full ? 900 : 500;
    return m;
  }
};

std::vector<BenchCase> fakeCases(int n) {
  std::vector<BenchCase> out;
  for (int i = 0; i < n; ++i) {
    BenchCase c;
    c.index = i;
    c.id = "case:" + std::to_string(i);
    c.kind = i % 3 == 2 ? AnswerKind::Long : AnswerKind::Short;
    c.category = c.kind == AnswerKind::Long ? "describe" : "colour_of_shape";
    c.question = "q" + std::to_string(i);
    c.answer = c.kind == AnswerKind::Long ? "a large red circle at the top left ." : "red";
    c.images = {"unused.png"};
    out.push_back(c);
  }
  return out;
}

std::vector<Cell> smallGrid() {
  return expandGrid({GridBlock{{"hae", "h2o"}, {0.59, 0.5}, {}, {}}});
}

}  // namespace

TEST(BenchGrid, ExpandsPoliciesBudgetsAndSweepsWithFullFirst) {
  const auto cells = expandGrid(
      {GridBlock{{"full", "hae", "h2o", "mustdrop"},
                 {0.59, 0.5},
                 {},
                 {{"hae", "dap.r", {"0.001", "0.0012"}}, {"", "ddes.bin", {"16", "32"}}}}});
  // full + hae 2 budgets x 2 r x 2 bins + h2o 2 budgets + mustdrop once (no budget)
  ASSERT_EQ(cells.size(), 1u + 8u + 2u + 1u);
  EXPECT_EQ(cells[0].key, "full");
  EXPECT_FALSE(cells[0].budget);
  EXPECT_EQ(cells[1].key, "hae b=0.59 dap.r=0.001 ddes.bin=16");
  EXPECT_EQ(cells[2].key, "hae b=0.59 dap.r=0.001 ddes.bin=32");
  EXPECT_EQ(cells.back().key, "mustdrop");
  std::set<std::string> keys;
  for (std::size_t i = 0; i < cells.size(); ++i) {
    EXPECT_EQ(cells[i].order, static_cast<int>(i));
    EXPECT_TRUE(keys.insert(cells[i].key).second) << cells[i].key;
  }
}

TEST(BenchGrid, FullAddedAndDefaultsCollapse) {
  // dap.r=0.0015 is HAE's default: the cell is the plain "hae b=0.59" one, run once.
  const auto cells =
      expandGrid({GridBlock{{"hae"}, {0.59}, {}, {{"", "dap.r", {"0.0015", "0.00150", "0.001"}}}},
                  GridBlock{{"hae"}, {0.59}, {}, {}}});
  ASSERT_EQ(cells.size(), 3u);
  EXPECT_EQ(cells[0].key, "full");
  EXPECT_EQ(cells[1].key, "hae b=0.59");
  EXPECT_EQ(cells[2].key, "hae b=0.59 dap.r=0.001");
}

TEST(BenchGrid, PaperPreset) {
  const auto cells = expandGrid(presetGrid("paper", {}));
  std::set<std::string> keys;
  for (const auto& c : cells) keys.insert(c.key);
  for (const char* k : {"full",
                        "hae b=0.59",
                        "h2o b=0.59",
                        "snapkv b=0.59",
                        "pyramidkv b=0.59",
                        "fastv b=0.59",
                        "streaming b=0.59",
                        "random b=0.59",
                        "uniform b=0.59",
                        "divprune b=0.59",
                        "fastervlm b=0.59",
                        "visionzip b=0.59",
                        "cdpruner b=0.59",
                        "dart b=0.59",
                        "pyramiddrop b=0.59",
                        "sparsevlm b=0.59",
                        "hae b=0.59 dap.r=0.0002",
                        "hae b=0.59 dap.r=0.001",
                        "hae b=0.59 dap.r=0.0012",
                        "hae b=0.59 dap.r=0.003",
                        "hae b=0.59 ddes.bin=16",
                        "hae b=0.59 ddes.bin=128"})
    EXPECT_TRUE(keys.count(k)) << k;
  EXPECT_EQ(cells.size(), 16u + 5u + 3u);
  // Token budgets reach every budgeted cell of the preset, ratios and counts side by side.
  const auto mixed = expandGrid(presetGrid("paper", {0.5}, {64}));
  std::set<std::string> mixed_keys;
  for (const auto& c : mixed) mixed_keys.insert(c.key);
  for (const char* k :
       {"uniform b=0.5", "uniform b=64t", "hae b=64t", "cdpruner b=64t", "hae b=64t ddes.bin=16"})
    EXPECT_TRUE(mixed_keys.count(k)) << k;
  EXPECT_EQ(mixed.size(), 1u + 2 * 15u + 2 * 5u + 2 * 3u);
  EXPECT_THROW(presetGrid("nope", {}), hae::Error);
}

TEST(BenchGrid, BadInputNamesTheCulprit) {
  auto message = [](auto&& f) {
    try {
      f();
    } catch (const hae::Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message([] {
              expandGrid({GridBlock{{"nosuch"}, {}, {}, {}}});
            }).find("unknown policy 'nosuch'"),
            std::string::npos);
  EXPECT_NE(message([] {
              expandGrid({GridBlock{{"hae"}, {}, {{"", "ddes.nope", {"1"}}}, {}}});
            }).find("ddes.nope"),
            std::string::npos);
  EXPECT_NE(message([] {
              expandGrid({GridBlock{{"hae"}, {}, {{"hae", "ddes.bin", {"-3"}}}, {}}});
            }).find("ddes.bin"),
            std::string::npos);
  EXPECT_NE(message([] { parseBudgets("0.5,1.5"); }).find("--budget 1.5: out of range"),
            std::string::npos);
  EXPECT_NE(message([] { parseBudgets("0.5,x"); }).find("'x' is not a number"), std::string::npos);
  EXPECT_NE(message([] {
              expandGrid({GridBlock{{"hae"}, {0.5}, {{"", "ddes.budget", {"0.3"}}}, {}}});
            }).find("set by --budget"),
            std::string::npos);
  EXPECT_THROW(parseKnobSetting("ddes.bin", "--set"), hae::Error);
  EXPECT_THROW(parseKnobSetting("nosuch:ddes.bin=3", "--set"), hae::Error);
  EXPECT_THROW(parseShard("3/2"), hae::Error);
  EXPECT_THROW(parseShard("1-2"), hae::Error);
}

TEST(BenchBudget, EachPolicysConvention) {
  const CaseShape shape{200, 150};
  EXPECT_EQ(budgetKnobs("hae", 0.59, shape).at("ddes.budget"), "0.59");
  EXPECT_EQ(budgetKnobs("snapkv", 0.5, shape).at("keep_ratio"), "0.5");
  EXPECT_EQ(budgetKnobs("h2o", 0.5, shape).at("heavy_ratio"), "0.25");
  EXPECT_EQ(budgetKnobs("h2o", 0.5, shape).at("recent_ratio"), "0.25");
  const auto s = budgetKnobs("streaming", 0.5, shape);
  EXPECT_EQ(std::stoi(s.at("sink")) + std::stoi(s.at("recent")), 100);
  EXPECT_EQ(budgetKnobs("tova", 0.5, shape).at("budget"), "100");
  // FastV prunes visual tokens only: keeping half of 200 means pruning 100 of the 150 visual ones.
  EXPECT_NEAR(std::stod(budgetKnobs("fastv", 0.5, shape).at("ratio")), 100.0 / 150.0, 1e-5);
  EXPECT_EQ(std::stod(budgetKnobs("fastv", 0.1, shape).at("ratio")), 1.0);
  // SparseVLM: the same share of each image's visual tokens, gone after its last drop.
  EXPECT_NEAR(std::stod(budgetKnobs("sparsevlm", 0.5, shape).at("ratio")), 100.0 / 150.0, 1e-5);
  EXPECT_EQ(budgetKnobs("sparsevlm", 0.5, shape).at("keep"), "0");
  EXPECT_EQ(budgetKnobNames("sparsevlm"), (std::vector<std::string>{"ratio", "keep"}));
  EXPECT_TRUE(budgetKnobs("full", 0.5, shape).empty());
  EXPECT_FALSE(policyTakesBudget("full"));
  EXPECT_FALSE(policyTakesBudget("mustdrop"));
}

TEST(BenchBudget, TokenCountsAndRatios) {
  const BudgetList l = parseBudgetList("0.5, 64t,0.25");
  EXPECT_EQ(l.ratios, (std::vector<double>{0.5, 0.25}));
  EXPECT_EQ(l.tokens, std::vector<int>{64});
  auto message = [](const std::string& text) {
    try {
      parseBudgetList(text);
    } catch (const hae::Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  for (const char* bad : {"64x", "-1", "0t", "1.5t", "t", "-3t", "0"}) {
    const std::string m = message(bad);
    EXPECT_EQ(m.rfind("--budget", 0), 0u) << bad << ": " << m;
    EXPECT_NE(m.find(bad), std::string::npos) << m;
  }
  // 64 kept visual tokens of 150 in a 200-token prompt: 50 text + 64 = 114 of 200.
  const CaseShape shape{200, 150};
  EXPECT_DOUBLE_EQ(budgetFromTokens(64, shape), 114.0 / 200.0);
  EXPECT_DOUBLE_EQ(budgetFromTokens(500, shape), 1.0);
  EXPECT_THROW(budgetFromTokens(0, shape), hae::Error);
  const auto cells =
      expandGrid({GridBlock{{"uniform", "snapkv", "pyramiddrop", "full"}, {}, {}, {}, {64}}});
  ASSERT_EQ(cells.size(), 4u);
  EXPECT_EQ(cells[1].key, "uniform b=64t");
  EXPECT_EQ(cells[2].key, "snapkv b=64t");
  // A vision pruner keeps exactly T visual tokens: it prunes (150 - 64) / 150 of them.
  EXPECT_NEAR(std::stod(cellKnobs(cells[1], shape).at("ratio")), 86.0 / 150.0, 1e-5);
  // A KV policy keeps the same number of prompt tokens.
  EXPECT_NEAR(std::stod(cellKnobs(cells[2], shape).at("keep_ratio")), 114.0 / 200.0, 1e-5);
  EXPECT_TRUE(cellKnobs(cells[3], shape).count("lambda"));
  EXPECT_EQ(cells[3].key, "pyramiddrop b=64t");
}

TEST(BenchShard, EveryCaseExactlyOnce) {
  const auto cases = fakeCases(23);
  for (int n : {1, 2, 3, 7, 30}) {
    std::vector<int> seen(cases.size(), 0);
    for (int i = 1; i <= n; ++i)
      for (const auto& c : cases)
        seen[static_cast<std::size_t>(c.index)] += inShard(c, Shard{i, n});
    for (int s : seen) EXPECT_EQ(s, 1) << "N=" << n;
  }
  EXPECT_EQ(parseShard("2/5").index, 2);
  EXPECT_EQ(parseShard("2/5").count, 5);
}

TEST(BenchMetrics, ExactMatchAndTokenF1) {
  EXPECT_TRUE(exactMatch("Two.", "two"));
  EXPECT_TRUE(exactMatch(" top  left</s>", "top left"));
  EXPECT_FALSE(exactMatch("top", "top left"));
  EXPECT_DOUBLE_EQ(tokenF1("red circle", "red circle"), 1.0);
  EXPECT_DOUBLE_EQ(tokenF1("", ""), 1.0);
  EXPECT_DOUBLE_EQ(tokenF1("", "red"), 0.0);
  EXPECT_DOUBLE_EQ(tokenF1("blue square", "red circle"), 0.0);
  // pred 3 tokens, ref 2, 1 in common: P = 1/3, R = 1/2, F1 = 0.4
  EXPECT_NEAR(tokenF1("the red square", "red circle"), 0.4, 1e-12);
  // punctuation is not counted, repeated words count once each
  EXPECT_NEAR(tokenF1("a red circle . a blue square .", "a red circle ."),
              2 * (3.0 / 6) * 1.0 / (3.0 / 6 + 1.0), 1e-12);
  const auto t = answerTokens("A large red circle at the top left . a small cross .");
  EXPECT_EQ(t.size(), 11u);
  EXPECT_EQ(t.front(), "a");
}

TEST(BenchResults, LineRoundTrips) {
  CaseResult r;
  r.cell = "hae b=0.59 dap.r=0.001";
  r.cell_order = 3;
  r.policy = "hae";
  r.budget = 0.59;
  r.knobs = {{"dap.r", "0.001"}};
  r.case_id = "demo:4";
  r.case_index = 4;
  r.kind = AnswerKind::Long;
  r.category = "describe";
  r.question = "describe the image.";
  r.reference = "a \"quoted\" answer";
  r.run.output = "x";
  r.run.peak_bytes = 123456789012;
  r.run.settings = {{"ddes.bin", "64"}};
  r.f1_ref = 0.25;
  const std::string line = resultLine(r);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  const CaseResult back = parseResultLine(line, "x:1");
  EXPECT_EQ(resultLine(back), line);
  EXPECT_THROW(parseResultLine("{\"schema\": 1", "file.jsonl:7"), hae::Error);
  try {
    parseResultLine("{oops", "file.jsonl:7");
  } catch (const hae::Error& e) {
    EXPECT_NE(std::string(e.what()).find("file.jsonl:7"), std::string::npos);
  }
}

// The shadow's per-step numbers folded into one case, and the cases into a cell.
TEST(BenchShadow, MeasuresFoldIntoCasesAndCells) {
  auto step = [](int s, double kl, bool agree, float missed_visual, float missed_text) {
    hae::StepTelemetry t;
    t.step = s;
    hae::ShadowStep sh;
    sh.kl = kl;
    sh.top1_agree = agree;
    hae::ShadowLayer a, b;
    a.missed_evicted[static_cast<int>(hae::Modality::Visual)] = missed_visual;
    a.missed_binned[static_cast<int>(hae::Modality::Text)] = missed_text;
    sh.layers = {a, b};  // layer b misses nothing: the means halve
    t.shadow = sh;
    return t;
  };
  std::vector<hae::StepTelemetry> steps = {step(0, 0.1, true, 0.2f, 0.0f), step(1, 0.3, false, 0.4f, 0.1f),
                                           step(2, 0.2, false, 0.0f, 0.1f)};
  steps[1].regrets.push_back({hae::RegretKind::RegrettedPurge, 5, -1, 1, 2, 0.5f});
  steps[2].regrets.push_back({hae::RegretKind::TimelyRestore, 6, -1, 1, 2, 0.5f});
  const ShadowMeasure m = measureShadow(steps);
  EXPECT_NEAR(m.mean_kl, 0.2, 1e-12);
  EXPECT_DOUBLE_EQ(m.worst_kl, 0.3);
  EXPECT_NEAR(m.top1_agreement, 1.0 / 3, 1e-12);
  EXPECT_EQ(m.first_divergence, 2);  // step 1's distribution picks the second token
  EXPECT_NEAR(m.missed_visual, (0.2 + 0.4) / 6, 1e-7);
  EXPECT_NEAR(m.missed_text, (0.1 + 0.1) / 6, 1e-7);
  EXPECT_EQ(m.regretted_purges, 1);

  CaseResult r;
  r.cell = "hae";
  r.policy = "hae";
  r.case_id = "demo:1";
  r.run.shadow = m;
  const CaseResult back = parseResultLine(resultLine(r), "x:1");
  ASSERT_TRUE(back.run.shadow);
  EXPECT_EQ(back.run.shadow->first_divergence, 2);
  EXPECT_EQ(resultLine(back), resultLine(r));

  // Three cases: parting at tokens 2 and 6, and never.
  std::vector<CaseResult> cases(3, r);
  cases[1].case_id = "demo:2", cases[1].run.shadow->first_divergence = 6;
  cases[2].case_id = "demo:3", cases[2].run.shadow->first_divergence = -1;
  cases[2].run.shadow->worst_kl = 0.9;
  const auto cells = summarize(cases);
  ASSERT_EQ(cells.size(), 1u);
  EXPECT_EQ(cells[0].shadow_cases, 3);
  EXPECT_DOUBLE_EQ(cells[0].first_divergence_median, 4.0);
  EXPECT_NEAR(cells[0].diverged_share, 2.0 / 3, 1e-12);
  EXPECT_DOUBLE_EQ(cells[0].worst_kl, 0.9);
  EXPECT_NE(summaryMarkdown(cells).find("Against the full-cache shadow"), std::string::npos);
}

TEST(BenchRun, WritesResultsAndSummaries) {
  const fs::path out = freshDir("plain");
  FakeRunner runner;
  BenchOptions o;
  o.out_dir = out.string();
  const auto cells = smallGrid();
  const auto stats = runBench(cells, fakeCases(6), runner, o);
  EXPECT_EQ(runner.calls, static_cast<int>(cells.size() * 6));
  EXPECT_EQ(stats.ran, runner.calls);
  // The budget reached each policy in its own knobs, sized from the full run's prompt.
  bool saw_h2o = false;
  for (const auto& k : runner.knobs_seen)
    saw_h2o = saw_h2o || (k.count("heavy_ratio") && k.at("heavy_ratio") == "0.25");
  EXPECT_TRUE(saw_h2o);
  for (const char* f : {"results.jsonl", "summary.csv", "summary.json", "summary.md", "run.json"})
    EXPECT_TRUE(fs::exists(out / f)) << f;
  const auto results = readResults((out / "results.jsonl").string(), false);
  ASSERT_EQ(results.size(), cells.size() * 6);
  const auto summary = summarize(results);
  ASSERT_EQ(summary.size(), cells.size());
  EXPECT_EQ(summary[0].cell, "full");
  EXPECT_DOUBLE_EQ(summary[0].short_accuracy, 1.0);
  EXPECT_DOUBLE_EQ(summary[0].speedup, 1.0);
  EXPECT_DOUBLE_EQ(summary[0].kv_reduction, 0.0);
  for (const auto& c : summary) {
    if (c.policy == "h2o") {
      EXPECT_DOUBLE_EQ(c.short_accuracy, 0.0);
      EXPECT_DOUBLE_EQ(c.agreement_full, 0.0);
    }
    if (c.policy == "hae") {
      EXPECT_DOUBLE_EQ(c.short_accuracy, 1.0);
      EXPECT_DOUBLE_EQ(c.long_f1_full, 1.0);
      EXPECT_NEAR(c.kv_reduction, 1 - 500.0 / 900.0, 1e-12);
      EXPECT_NEAR(c.peak_reduction, 0.4, 1e-12);
      EXPECT_NEAR(c.speedup, 2.0, 1e-12);
      EXPECT_NEAR(c.long_speedup, 2.0, 1e-12);
      EXPECT_NEAR(c.policy_share, 1.0 / 12.0, 1e-12);
    }
    EXPECT_EQ(c.short_cases, 4);
    EXPECT_EQ(c.long_cases, 2);
  }
  // A second run into the same folder without --resume refuses to mix results.
  EXPECT_THROW(runBench(cells, fakeCases(6), runner, o), hae::Error);
}

TEST(BenchRun, ResumeSkipsFinishedPairs) {
  const fs::path out = freshDir("resume");
  const auto cells = smallGrid();
  const int total = static_cast<int>(cells.size() * 5);
  BenchOptions o;
  o.out_dir = out.string();
  o.settings = {{"model", "m"}};
  FakeRunner first;
  first.fail_after = 7;
  EXPECT_THROW(runBench(cells, fakeCases(5), first, o), hae::Error);
  EXPECT_EQ(readResults((out / "results.jsonl").string(), false).size(), 7u);
  // An interrupted write leaves half a line: resume cuts it off and runs that pair again.
  {
    std::ofstream app(out / "results.jsonl", std::ios::app);
    app << "{\"schema\": \"hae-studio/bench-ca";
  }
  EXPECT_THROW(readResults((out / "results.jsonl").string(), false), hae::Error);
  o.resume = true;
  FakeRunner second;
  const auto stats = runBench(cells, fakeCases(5), second, o);
  EXPECT_EQ(second.calls, total - 7);
  EXPECT_EQ(stats.skipped, 7);
  EXPECT_EQ(stats.results.size(), static_cast<std::size_t>(total));
  // Nothing left: a third resume runs nothing.
  FakeRunner third;
  runBench(cells, fakeCases(5), third, o);
  EXPECT_EQ(third.calls, 0);
  // Another model cannot resume this folder.
  o.settings = {{"model", "other"}};
  EXPECT_THROW(runBench(cells, fakeCases(5), third, o), hae::Error);
}

TEST(BenchRun, MergedShardsEqualUnshardedRun) {
  const auto cells = smallGrid();
  const fs::path whole = freshDir("whole");
  FakeRunner r0;
  BenchOptions o;
  o.out_dir = whole.string();
  runBench(cells, fakeCases(7), r0, o);
  std::vector<std::string> dirs;
  int calls = 0;
  for (int i = 1; i <= 3; ++i) {
    const fs::path d = freshDir("shard" + std::to_string(i));
    FakeRunner r;
    BenchOptions so;
    so.out_dir = d.string();
    so.shard = {i, 3};
    runBench(cells, fakeCases(7), r, so);
    calls += r.calls;
    dirs.push_back(d.string());
  }
  EXPECT_EQ(calls, r0.calls);
  const fs::path merged = freshDir("merged");
  mergeRuns(dirs, merged.string());
  for (const char* f : {"summary.csv", "summary.json", "summary.md", "results.jsonl"})
    EXPECT_EQ(slurp(merged / f), f == std::string("results.jsonl")
                                     ? [&] {
                                         std::string all;
                                         auto rs = readResults((whole / "results.jsonl").string(), false);
                                         std::stable_sort(rs.begin(), rs.end(), [](const auto& a, const auto& b) {
                                           return std::tie(a.cell_order, a.cell, a.case_index, a.case_id) <
                                                  std::tie(b.cell_order, b.cell, b.case_index, b.case_id);
                                         });
                                         for (const auto& r : rs) all += resultLine(r) + "\n";
                                         return all;
                                       }()
                                     : slurp(whole / f))
        << f;
  EXPECT_THROW(mergeRuns({(merged / "nope").string()}, merged.string()), hae::Error);
}

TEST(BenchSummary, CsvAndMarkdown) {
  const fs::path out = freshDir("tables");
  const auto cells =
      expandGrid({GridBlock{{"hae"}, {0.59}, {}, {{"", "dap.r", {"0.001", "0.0012", "0.0015"}}}}});
  FakeRunner runner;
  BenchOptions o;
  o.out_dir = out.string();
  runBench(cells, fakeCases(3), runner, o);
  const std::string csv = slurp(out / "summary.csv");
  EXPECT_EQ(csv.rfind("cell,policy,budget,knobs,cases,", 0), 0u);
  int rows = 0;
  for (std::size_t p = csv.find("\r\n"); p != std::string::npos; p = csv.find("\r\n", p + 2))
    ++rows;
  EXPECT_EQ(rows, 1 + static_cast<int>(cells.size()));
  EXPECT_NE(csv.find("\r\nhae b=0.59 dap.r=0.001,hae,0.59,dap.r=0.001,3,"), std::string::npos);
  const std::string md = slurp(out / "summary.md");
  EXPECT_EQ(md.rfind("| cell | cases | short acc % |", 0), 0u);
  EXPECT_NE(md.find("| full | 3 | 100.0 | +0.0 |"), std::string::npos);
  EXPECT_NE(md.find("| hae b=0.59 dap.r=0.001 | 3 |"), std::string::npos);
  // The r sweep is found from the cells, default included.
  EXPECT_NE(md.find("**hae dap.r sweep, budget 0.59**"), std::string::npos);
  EXPECT_NE(md.find("| 0.0015 (default) |"), std::string::npos);
  EXPECT_NE(md.find("hae: ddes.budget = b"), std::string::npos);
  const std::string json = slurp(out / "summary.json");
  EXPECT_NE(json.find("\"schema\": \"hae-studio/bench-summary\""), std::string::npos);
}

TEST(BenchCases, JsonlDataset) {
  const fs::path d = freshDir("data");
  { std::ofstream(d / "a.png") << "x"; }
  {
    std::ofstream f(d / "q.jsonl");
    f << "{\"image\": \"a.png\", \"question\": \"what?\", \"answer\": \"red\"}\n\n"
      << "{\"image\": [\"a.png\", \"a.png\"], \"question\": \"describe\", \"answer\": \"a large "
         "red circle here\", "
         "\"id\": \"x1\"}\n"
      << "{\"image\": \"a.png\", \"question\": \"q\", \"answer\": \"one two three four\", "
         "\"kind\": \"short\"}\n";
  }
  const auto cases = loadJsonlCases((d / "q.jsonl").string(), 5);
  ASSERT_EQ(cases.size(), 3u);
  EXPECT_EQ(cases[0].index, 5);
  EXPECT_EQ(cases[0].id, "data:q.jsonl:1");
  EXPECT_EQ(cases[0].kind, AnswerKind::Short);
  EXPECT_EQ(cases[0].images[0], (d / "a.png").string());
  EXPECT_EQ(cases[1].id, "data:x1");
  EXPECT_EQ(cases[1].kind, AnswerKind::Long);
  EXPECT_EQ(cases[1].images.size(), 2u);
  EXPECT_EQ(cases[2].kind, AnswerKind::Short);

  {
    std::ofstream(d / "bad.jsonl")
        << "{\"image\": \"a.png\", \"question\": \"q\", \"answer\": \"a\"}\n{nope\n";
  }
  try {
    loadJsonlCases((d / "bad.jsonl").string(), 0);
    FAIL() << "no error";
  } catch (const hae::Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.jsonl:2: malformed JSON line"), std::string::npos)
        << e.what();
  }
  {
    std::ofstream(d / "noimg.jsonl")
        << "{\"image\": \"b.png\", \"question\": \"q\", \"answer\": \"a\"}\n";
  }
  EXPECT_THROW(loadJsonlCases((d / "noimg.jsonl").string(), 0), hae::Error);
  { std::ofstream(d / "noq.jsonl") << "{\"image\": \"a.png\", \"answer\": \"a\"}\n"; }
  EXPECT_THROW(loadJsonlCases((d / "noq.jsonl").string(), 0), hae::Error);
  try {
    loadJsonlCases((d / "missing.jsonl").string(), 0);
    FAIL() << "no error";
  } catch (const hae::Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing.jsonl: no such file"), std::string::npos);
  }
}

TEST(BenchCases, DemoCasesAreShortThenLong) {
  const auto cases = demoCases(5, 2);
  ASSERT_EQ(cases.size(), 7u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(cases[static_cast<std::size_t>(i)].kind, AnswerKind::Short);
  EXPECT_EQ(cases[5].kind, AnswerKind::Long);
  EXPECT_EQ(cases[5].id, "describe:0");
  EXPECT_EQ(cases[6].index, 6);
  // Deterministic: the same seeds give the same questions.
  EXPECT_EQ(demoCases(5, 2)[3].question, cases[3].question);
  BenchCase c = cases[0];
  const fs::path d = freshDir("demo_images");
  materializeImages(c, d.string());
  ASSERT_EQ(c.images.size(), 1u);
  EXPECT_TRUE(fs::exists(c.images[0]));
}

TEST(BenchProgress, LineHasCountsAndEta) {
  Progress p;
  p.done = 5;
  p.total = 20;
  p.elapsed_s = 10;
  p.cell = "hae b=0.59";
  p.case_id = "demo:3";
  const std::string line = progressLine(p, 10);
  EXPECT_NE(line.find("[##........] 5/20"), std::string::npos) << line;
  EXPECT_NE(line.find("ETA 0:30"), std::string::npos) << line;
}

// Throws hae::Error whose message contains every needle.
template <typename F>
void expectErrorMentioning(F&& f, const std::vector<std::string>& needles) {
  try {
    f();
    ADD_FAILURE() << "expected hae::Error";
  } catch (const hae::Error& e) {
    for (const auto& n : needles)
      EXPECT_NE(std::string(e.what()).find(n), std::string::npos)
          << "'" << n << "' in " << e.what();
  }
}

// A folder whose run.json is gone cannot be checked against this run's settings: refused.
TEST(BenchRun, ResumeWithoutRunJsonIsRefused) {
  const fs::path out = freshDir("no_run_json");
  const auto cells = smallGrid();
  BenchOptions o;
  o.out_dir = out.string();
  o.settings = {{"model", "m"}, {"max_new_tokens", "3"}};
  FakeRunner first;
  runBench(cells, fakeCases(2), first, o);
  fs::remove(out / "run.json");
  o.resume = true;
  o.settings["max_new_tokens"] = "96";
  FakeRunner second;
  expectErrorMentioning([&] { runBench(cells, fakeCases(2), second, o); },
                        {out.string(), "run.json", "--resume"});
  EXPECT_EQ(second.calls, 0);
  EXPECT_FALSE(fs::exists(out / "run.json"));
}

// Shards of one run differ only in their shard; another answer length (or model, seed, ...) in
// one of them is refused, naming the setting and both run.json files.
TEST(BenchMerge, ShardsWithDifferentSettingsAreRefused) {
  const auto cells = smallGrid();
  std::vector<std::string> dirs;
  for (int i = 1; i <= 2; ++i) {
    const fs::path d = freshDir("mixed" + std::to_string(i));
    FakeRunner r;
    BenchOptions o;
    o.out_dir = d.string();
    o.shard = {i, 2};
    o.settings = {{"model", "m"},
                  {"max_new_tokens", i == 1 ? "3" : "16"},
                  {"shard", std::to_string(i) + "/2"}};
    runBench(cells, fakeCases(4), r, o);
    dirs.push_back(d.string());
  }
  const fs::path merged = tempRoot() / "mixed_merged";
  expectErrorMentioning([&] { mergeRuns(dirs, merged.string()); },
                        {"max_new_tokens", "'3'", "'16'", (fs::path(dirs[0]) / "run.json").string(),
                         (fs::path(dirs[1]) / "run.json").string()});
  EXPECT_FALSE(fs::exists(merged / "results.jsonl"));
  // A shard folder without run.json cannot be checked either.
  fs::remove(fs::path(dirs[1]) / "run.json");
  expectErrorMentioning([&] { mergeRuns(dirs, merged.string()); },
                        {(fs::path(dirs[1]) / "run.json").string()});
}

// --out naming an existing file: one line naming the flag and the path, before anything runs.
TEST(BenchRun, OutThatIsAFileIsRefused) {
  const fs::path d = freshDir("out_file");
  const fs::path file = d / "taken.txt";
  std::ofstream(file) << "x";
  BenchOptions o;
  o.out_dir = file.string();
  FakeRunner r;
  expectErrorMentioning([&] { checkOutput(o); },
                        {"--out " + file.string() + ": exists and is not a folder"});
  expectErrorMentioning([&] { runBench(smallGrid(), fakeCases(1), r, o); },
                        {"--out " + file.string() + ": exists and is not a folder"});
  EXPECT_EQ(r.calls, 0);
  expectErrorMentioning([&] { mergeRuns({d.string()}, file.string()); },
                        {"--out " + file.string() + ": exists and is not a folder"});
}

// parseJsonlCases reads the same lines from a stream (what loadJsonlCases and the fuzz target
// fuzz_bench_cases use), with the image check supplied by the caller.
TEST(BenchCases, JsonlFromAStream) {
  std::istringstream in(
      "{\"image\": \"a.png\", \"question\": \"what?\", \"answer\": \"red\"}\r\n   \n"
      "{\"image\": [\"/abs/b.png\", \"c.png\"], \"question\": \"d\", \"answer\": \"a b c d e\"}");
  std::vector<std::string> asked;
  const auto cases = parseJsonlCases(in, "mem.jsonl", "root", 3, [&](const std::string& p) {
    asked.push_back(p);
    return true;
  });
  ASSERT_EQ(cases.size(), 2u);
  EXPECT_EQ(cases[0].index, 3);
  EXPECT_EQ(cases[0].id, "data:mem.jsonl:1");
  EXPECT_EQ(cases[0].images[0], (fs::path("root") / "a.png").string());
  EXPECT_EQ(cases[1].id, "data:mem.jsonl:3");
  EXPECT_EQ(cases[1].kind, AnswerKind::Long);
  EXPECT_EQ(asked, (std::vector<std::string>{(fs::path("root") / "a.png").string(), "/abs/b.png",
                                             (fs::path("root") / "c.png").string()}));
  std::istringstream missing("{\"image\": \"gone.png\", \"question\": \"q\", \"answer\": \"a\"}\n");
  try {
    parseJsonlCases(missing, "mem.jsonl", "root", 0, [](const std::string&) { return false; });
    FAIL() << "no error";
  } catch (const hae::Error& e) {
    EXPECT_NE(std::string(e.what()).find("mem.jsonl:1: image root/gone.png not found"),
              std::string::npos)
        << e.what();
  }
  std::istringstream empty("\n \n");
  EXPECT_THROW(parseJsonlCases(empty, "mem.jsonl", "root", 0), hae::Error);
}

// ---- VLMEvalKit TSV --------------------------------------------------------------------------

namespace {

std::string tsvError(const std::string& text) {
  std::istringstream in(text);
  try {
    parseTsvCases(in, "bad.tsv", "root", 0);
  } catch (const hae::Error& e) {
    return e.what();
  }
  return "no error";
}

// Base64 of the committed demo scene PNG in the first row of the test TSV, for bad-file variants.
std::string firstImageBase64() {
  const std::string tsv = slurp(fs::path(HAE_TEST_DATA) / "bench" / "demo_scenes.tsv");
  const auto row = tsv.find('\n') + 1;
  const auto end = tsv.find('\n', row);
  const std::string line = tsv.substr(row, end - row);
  const auto last_tab = line.rfind('\t');
  std::string b64 = line.substr(last_tab + 1);
  return b64.substr(1, b64.size() - 2);  // quoted
}

}  // namespace

TEST(BenchTsv, Base64) {
  EXPECT_EQ(decodeBase64("aGVsbG8="), std::optional<std::string>("hello"));
  EXPECT_EQ(decodeBase64("aGVs\nbG8h"), std::optional<std::string>("hello!"));
  EXPECT_EQ(decodeBase64("aGk="), std::optional<std::string>("hi"));
  EXPECT_EQ(decodeBase64("aA=="), std::optional<std::string>("h"));
  EXPECT_FALSE(decodeBase64("aGVsbG8"));   // not a multiple of 4
  EXPECT_FALSE(decodeBase64("aGV=bG8="));  // padding inside
  EXPECT_FALSE(decodeBase64("aGVs!G8="));  // outside the alphabet
  EXPECT_FALSE(decodeBase64("a==="));
  EXPECT_FALSE(decodeBase64(""));
}

TEST(BenchTsv, ReadsTheDemoScenesFile) {
  const std::string path = (fs::path(HAE_TEST_DATA) / "bench" / "demo_scenes.tsv").string();
  const auto cases = loadDataCases(path, 5);
  ASSERT_EQ(cases.size(), 6u);
  EXPECT_EQ(cases[0].index, 5);
  EXPECT_EQ(cases[0].id, "tsv:demo_scenes.tsv:1");
  EXPECT_EQ(cases[0].scoring, BenchCase::Scoring::Choice);
  EXPECT_EQ(cases[0].answer, "B");
  EXPECT_EQ(cases[0].choices.at("B"), "cyan");
  EXPECT_EQ(cases[0].category, "colour_of_shape");
  // VLMEvalKit's multiple-choice prompt, with the hint first where the row has one.
  EXPECT_EQ(cases[0].question,
            "Question: tell me the color of the circle.\nOptions:\nA. red\nB. cyan\nC. "
            "green\nD. blue\nPlease select the correct answer from the options above. \n");
  EXPECT_EQ(cases[1].question.rfind("Hint: The scene holds simple shapes.\nQuestion: what", 0), 0u);
  // Row 4 names row 1's index instead of repeating its image (as MMBench does).
  EXPECT_EQ(cases[3].scoring, BenchCase::Scoring::Exact);
  EXPECT_EQ(cases[3].question, "tell me the color of the circle.");
  ASSERT_EQ(cases[3].image_data.size(), 1u);
  EXPECT_EQ(cases[3].image_data[0], cases[0].image_data[0]);
  EXPECT_EQ(cases[4].scoring, BenchCase::Scoring::YesNo);
  EXPECT_EQ(cases[5].answer, "bottom left");
  EXPECT_EQ(cases[0].image_data[0].rfind("\x89PNG", 0), 0u);
  // The images are written on demand, byte for byte.
  const fs::path dir = freshDir("tsv_images");
  BenchCase c = cases[3];
  materializeImages(c, dir.string());
  ASSERT_EQ(c.images.size(), 1u);
  EXPECT_EQ(fs::path(c.images[0]).extension(), ".png");
  EXPECT_EQ(slurp(c.images[0]), cases[0].image_data[0]);
}

TEST(BenchTsv, BadFilesNameLineAndColumn) {
  const std::string header = "index\tquestion\tanswer\tA\tB\timage\n";
  const std::string good = firstImageBase64();
  ASSERT_GT(good.size(), 1000u);
  // The good row parses, so each failure below is the one thing changed.
  {
    std::istringstream in(header + "1\tq?\tA\tred\tblue\t" + good + "\n");
    EXPECT_EQ(parseTsvCases(in, "bad.tsv", "root", 0).size(), 1u);
  }
  std::string bad_b64 = good;
  bad_b64[100] = '%';
  EXPECT_NE(
      tsvError(header + "1\tq?\tA\tred\tblue\t" + good + "\n2\tq?\tA\tred\tblue\t" + bad_b64 + "\n")
          .find("bad.tsv:3: column 'image': not valid base64"),
      std::string::npos);
  // Valid base64 of text, not an image.
  const std::string text_b64 =
      "VGhpcyBpcyBwbGFpbiB0ZXh0LCBub3QgYW4gaW1hZ2UsIHRob3VnaCBpdCBpcyB2YWxpZCBiYXNlNjQu";
  EXPECT_NE(tsvError(header + "1\tq?\tA\tred\tblue\t" + text_b64 + "\n")
                .find("bad.tsv:2: column 'image': the decoded"),
            std::string::npos);
  EXPECT_NE(tsvError("index\tanswer\timage\n1\tA\t" + good + "\n")
                .find("bad.tsv:1: missing column 'question'"),
            std::string::npos);
  EXPECT_NE(
      tsvError("index\tquestion\tanswer\n1\tq\ta\n").find("bad.tsv:1: missing column 'image'"),
      std::string::npos);
  EXPECT_NE(tsvError(header + "1\tq?\tC\tred\tblue\t" + good + "\n")
                .find("bad.tsv:2: column 'answer': 'C' is not one of the options"),
            std::string::npos);
  EXPECT_NE(tsvError(header + "1\tq?\tA\tred\tblue\t7\n")
                .find("bad.tsv:2: column 'image': '7' is neither base64 nor the index"),
            std::string::npos);
  EXPECT_NE(tsvError(header + "1\tq?\tA\tred\n").find("bad.tsv:2: 4 fields, the header has 6"),
            std::string::npos);
  EXPECT_NE(
      tsvError(header + "1\t\"q?\tA\tred\tblue\t" + good + "\n").find("unterminated quoted field"),
      std::string::npos);
  EXPECT_NE(tsvError(header).find("no rows"), std::string::npos);
}

TEST(BenchTsv, QuotedFieldsSpanLines) {
  const std::string good = firstImageBase64();
  std::istringstream in(
      "\"index\"\t\"question\"\t\"answer\"\t\"image\"\r\n\"1\"\t\"two\nlines, "
      "\"\"quoted\"\"\"\t\"yes\"\t\"" +
      good + "\"\r\n\"2\"\t\"q\"\t\"no\"\t\"1\"\r\n");
  const auto cases = parseTsvCases(in, "q.tsv", "root", 0);
  ASSERT_EQ(cases.size(), 2u);
  EXPECT_EQ(cases[0].question, "two\nlines, \"quoted\"");
  EXPECT_EQ(cases[1].id, "tsv:q.tsv:2");
  EXPECT_EQ(cases[1].scoring, BenchCase::Scoring::YesNo);
  // The line numbers count the line inside the quoted field.
  std::istringstream bad("index\tquestion\tanswer\timage\n1\t\"a\nb\"\tyes\t" + good +
                         "\n2\tq\tno\t%%%%" + std::string(70, 'A') + "\n");
  try {
    parseTsvCases(bad, "q.tsv", "root", 0);
    FAIL() << "no error";
  } catch (const hae::Error& e) {
    EXPECT_NE(std::string(e.what()).find("q.tsv:4: column 'image'"), std::string::npos) << e.what();
  }
}

TEST(BenchMetrics, ChoiceAndYesNoAsVlmEvalKit) {
  const std::map<std::string, std::string> choices{
      {"A", "red"}, {"B", "cyan"}, {"C", "green"}, {"D", "blue"}};
  EXPECT_EQ(inferChoice("B", choices), "B");
  EXPECT_EQ(inferChoice("(C) green.", choices), "C");
  EXPECT_EQ(inferChoice("The answer is D", choices), "D");
  EXPECT_EQ(inferChoice("cyan", choices), "B");             // by the option's text
  EXPECT_EQ(inferChoice("Cyan circle", choices), "B");      // case-insensitive
  EXPECT_EQ(inferChoice("B or C", choices), "");            // two letters
  EXPECT_EQ(inferChoice("red and blue", choices), "");      // two texts
  EXPECT_EQ(inferChoice("A circle is cyan", choices), "");  // "A" as an article
  EXPECT_EQ(inferChoice("A", choices), "A");
  EXPECT_EQ(inferYesNo("Yes, there is."), "yes");
  EXPECT_EQ(inferYesNo("no"), "no");
  EXPECT_EQ(inferYesNo("yes and no"), "");
  EXPECT_EQ(inferYesNo("maybe"), "");
  BenchCase mc;
  mc.scoring = BenchCase::Scoring::Choice;
  mc.choices = choices;
  mc.answer = "B";
  EXPECT_TRUE(answerCorrect(mc, "cyan"));
  EXPECT_TRUE(answerCorrect(mc, "B."));
  EXPECT_FALSE(answerCorrect(mc, "A"));
  EXPECT_FALSE(answerCorrect(mc, "no idea"));
  EXPECT_TRUE(answersAgree(mc, "cyan", "B"));
  EXPECT_FALSE(answersAgree(mc, "no idea", "nothing"));  // unreadable answers do not agree
  EXPECT_TRUE(answersAgree(mc, "no idea", "no idea"));   // unless they are the same text
  BenchCase yn;
  yn.scoring = BenchCase::Scoring::YesNo;
  yn.answer = "Yes";
  EXPECT_TRUE(answerCorrect(yn, "yes"));
  EXPECT_FALSE(answerCorrect(yn, "no"));
  BenchCase ex;
  ex.answer = "bottom left";
  EXPECT_TRUE(answerCorrect(ex, "Bottom left."));
  EXPECT_FALSE(answerCorrect(ex, "left"));
}

// ---- Trade-off plots -------------------------------------------------------------------------

namespace {

CellSummary plotCell(const std::string& policy, double acc, double kib, double prefill,
                     double decode) {
  CellSummary c;
  c.cell = policy;
  c.policy = policy;
  c.cases = c.short_cases = 10;
  c.short_accuracy = acc;
  c.mean_bytes = kib * 1024;
  c.prefill_ms = prefill;
  c.decode_ms_per_token = decode;
  return c;
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST(BenchPlots, ParetoFrontAndOnePointPerCell) {
  // full: best and biggest; hae: as good with less (dominates full on KV); uniform: less memory,
  // worse (on the front); random: worse and bigger than uniform (dominated); snapkv: dominated
  // by hae.
  const std::vector<CellSummary> cells{
      plotCell("full", 1.0, 300, 10, 0.8), plotCell("hae", 1.0, 200, 11, 0.9),
      plotCell("uniform", 0.8, 150, 9, 0.7), plotCell("random", 0.7, 160, 9.5, 0.75),
      plotCell("snapkv", 0.9, 210, 11, 0.9)};
  EXPECT_EQ(paretoFront(cells, PlotAxis::MeanKvBytes), (std::vector<std::size_t>{2, 1}));
  // On prefill time full (10 ms, 1.0) dominates hae and snapkv.
  EXPECT_EQ(paretoFront(cells, PlotAxis::PrefillMs), (std::vector<std::size_t>{2, 0}));
  for (PlotAxis a : {PlotAxis::MeanKvBytes, PlotAxis::PrefillMs, PlotAxis::DecodeMsPerToken}) {
    const std::string svg = tradeoffSvg(cells, a);
    EXPECT_EQ(count(svg, "class=\"cell\""), cells.size());
    EXPECT_EQ(count(svg, "class=\"pareto\""), 1u);
    EXPECT_EQ(count(svg, "data-front=\"1\""), paretoFront(cells, a).size());
    EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  }
  // Stages from the catalog colour the points.
  const std::string svg = tradeoffSvg(cells, PlotAxis::MeanKvBytes);
  EXPECT_NE(svg.find("data-cell=\"uniform\" data-stage=\"V\""), std::string::npos);
  EXPECT_NE(svg.find("data-cell=\"snapkv\" data-stage=\"K\""), std::string::npos);
  EXPECT_NE(svg.find("data-cell=\"hae\" data-stage=\"P+K\""), std::string::npos);
  // The front's staircase: uniform, the corner below hae, hae, the right edge.
  const auto at = svg.find("class=\"pareto\"");
  const auto pts = svg.find("points=\"", at);
  const std::string points = svg.substr(pts + 8, svg.find('"', pts + 8) - pts - 8);
  EXPECT_EQ(count(points, ","), 4u);
}

TEST(BenchPlots, RunWritesHtmlAndSvgs) {
  const fs::path out = freshDir("plots");
  FakeRunner runner;
  BenchOptions o;
  o.out_dir = out.string();
  const auto cells = smallGrid();
  runBench(cells, fakeCases(3), runner, o);
  for (const char* f : {"tradeoff_kv.svg", "tradeoff_prefill.svg", "tradeoff_decode.svg"}) {
    const std::string svg = slurp(out / f);
    EXPECT_EQ(count(svg, "class=\"cell\""), cells.size()) << f;
    EXPECT_EQ(count(svg, "class=\"pareto\""), 1u) << f;
  }
  const std::string html = slurp(out / "summary.html");
  EXPECT_EQ(count(html, "<svg"), 3u);
  EXPECT_EQ(count(html, "class=\"cell\""), 3 * cells.size());
  // Self-contained: nothing fetched from elsewhere.
  EXPECT_EQ(html.find("src=\"http"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  for (const auto& c : cells) EXPECT_NE(html.find("<td>" + c.key + "</td>"), std::string::npos);
}

TEST(BenchTsv, ImagePathColumnIsRelativeToTheFile) {
  const fs::path dir = freshDir("tsv_paths");
  {
    std::ofstream png(dir / "scene.png", std::ios::binary);
    png << *decodeBase64(firstImageBase64());
  }
  {
    std::ofstream tsv(dir / "paths.tsv");
    tsv << "index\timage_path\tquestion\tanswer\n7\tscene.png\tis it red?\tno\n";
  }
  const auto cases = loadDataCases((dir / "paths.tsv").string(), 0);
  ASSERT_EQ(cases.size(), 1u);
  EXPECT_EQ(cases[0].images, std::vector<std::string>{(dir / "scene.png").string()});
  EXPECT_TRUE(cases[0].image_data.empty());
  EXPECT_EQ(cases[0].scoring, BenchCase::Scoring::YesNo);
  {
    std::ofstream tsv(dir / "gone.tsv");
    tsv << "index\timage_path\tquestion\tanswer\n7\tnope.png\tq\tno\n";
  }
  try {
    loadDataCases((dir / "gone.tsv").string(), 0);
    FAIL() << "no error";
  } catch (const hae::Error& e) {
    EXPECT_NE(std::string(e.what()).find("gone.tsv:2: column 'image_path':"), std::string::npos)
        << e.what();
  }
}
