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
  for (const char* k :
       {"full", "hae b=0.59", "h2o b=0.59", "snapkv b=0.59", "pyramidkv b=0.59", "fastv b=0.59",
        "streaming b=0.59", "hae b=0.59 dap.r=0.0002", "hae b=0.59 dap.r=0.001",
        "hae b=0.59 dap.r=0.0012", "hae b=0.59 dap.r=0.003",
        "hae b=0.59 ddes.bin=16", "hae b=0.59 ddes.bin=128"})
    EXPECT_TRUE(keys.count(k)) << k;
  EXPECT_EQ(cells.size(), 7u + 5u + 3u);
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
  EXPECT_TRUE(budgetKnobs("full", 0.5, shape).empty());
  EXPECT_FALSE(policyTakesBudget("full"));
  EXPECT_FALSE(policyTakesBudget("mustdrop"));
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
