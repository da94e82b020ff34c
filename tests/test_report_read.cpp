// The JSON run report read back (readRunReportJson): a report written by the writer reads back
// field for field equal, and damaged or foreign files fail with a message naming the file and the
// JSON path of the bad field. Part of the test_reports binary.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cfloat>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>

#include "hae/error.h"
#include "hae/report.h"
#include "hae/report_read.h"
#include "report_compare.h"
#include "report_fixture.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

hae::test::SyntheticRun fixture() {
  return hae::test::syntheticRun(std::string(HAE_TEST_DATA) + "/preprocess/images/rose.png");
}

// Writes `run` with the JSON writer, reads it back and expects every field equal. Exact equality
// is right, not a tolerance: the writer prints each double with enough digits to read back to the
// same value (checked below), so the text round trip is lossless.
void expectRoundTrip(const hae::test::SyntheticRun& run) {
  const std::string text = hae::reportJson(run.info, run.steps, run.answer);
  const hae::RunReport r = hae::readRunReportJson(text, "run.json");
  EXPECT_EQ(hae::test::firstDifference(run.info, r.info), "");
  EXPECT_EQ(hae::test::firstDifference(run.steps, r.steps), "");
  EXPECT_EQ(r.answer, run.answer);
  EXPECT_EQ(hae::test::firstDifference(hae::summarizeRun(run.info, run.steps), r.summary), "");
  // And the reader's output writes the same file again.
  EXPECT_EQ(hae::reportJson(r.info, r.steps, r.answer), text);
}

std::string errorOf(const std::string& text) {
  try {
    hae::readRunReportJson(text, "run.json");
  } catch (const hae::Error& e) {
    return e.what();
  }
  return "(read without error)";
}

class ReportRead : public ::testing::Test {
 protected:
  void SetUp() override {
    run_ = fixture();
    doc_ = json::parse(hae::reportJson(run_.info, run_.steps, run_.answer));
  }
  // The error message for the fixture's report after `edit`.
  template <typename Edit>
  std::string errorAfter(Edit edit) {
    json d = doc_;
    edit(d);
    return errorOf(d.dump());
  }
  hae::test::SyntheticRun run_;
  json doc_;
};

TEST_F(ReportRead, EveryFieldRoundTrips) {
  expectRoundTrip(run_);

  // Probes, a non-finite probe, an unknown cache size and a non-finite time (written as null).
  auto more = run_;
  for (auto& t : more.steps) {
    hae::LayerProbe p;
    for (int m = 0; m < hae::kModalityCount; ++m) {
      p.attn_variance[m] = 1.0 / (3 + m);
      p.sparsity[m] = 0.1 * m;
    }
    p.overlap_with_first = 0.7;
    t.probes.assign(more.info.num_layers, p);
  }
  more.steps[2].probes[1].overlap_with_first = std::numeric_limits<double>::quiet_NaN();
  more.steps[0].merged = {{12, {12, 14, 15}}, {20, {20}}};  // VisionZip's contextual tokens
  more.steps[1].model_ms = std::numeric_limits<double>::quiet_NaN();
  more.info.kv_bytes_per_token = 0;
  more.info.knobs["empty"] = "";
  more.info.tokens[0].text = "caf\xC3\xA9 \xE6\x9D\xB1 \"quoted\"\n";
  expectRoundTrip(more);

  // Infinite times are written as null too and read back as NaN; the sums the file states for them
  // (null, or the writer's 0 share) stand as written.
  auto infinite = run_;
  infinite.steps[2].model_ms = std::numeric_limits<double>::infinity();
  infinite.steps[3].policy_ms = std::numeric_limits<double>::infinity();
  const hae::RunReport r = hae::readRunReportJson(
      hae::reportJson(infinite.info, infinite.steps, infinite.answer), "run.json");
  infinite.steps[2].model_ms = std::numeric_limits<double>::quiet_NaN();
  infinite.steps[3].policy_ms = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(hae::test::firstDifference(infinite.steps, r.steps), "");
  EXPECT_TRUE(std::isnan(r.summary.decode_ms));
  EXPECT_EQ(r.summary.prefill_ms, 41.5);

  // Nothing at all: no tokens, no steps, no images.
  expectRoundTrip(hae::test::SyntheticRun{});
}

TEST_F(ReportRead, ReadsTheFileTheWriterWrote) {
  const fs::path dir =
      fs::temp_directory_path() / ("hae_report_read_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / "run.json").string();
  hae::writeReport(path, run_.info, run_.steps, run_.answer);
  const hae::RunReport r = hae::readRunReportFile(path);
  EXPECT_EQ(hae::test::firstDifference(run_.info, r.info), "");
  EXPECT_EQ(hae::test::firstDifference(run_.steps, r.steps), "");
  EXPECT_EQ(r.answer, run_.answer);
  // The events' steps are not stored: each comes back as the step it is listed under.
  ASSERT_EQ(r.steps[4].events.size(), 2u);
  EXPECT_EQ(r.steps[4].events[1].step, 4);
  EXPECT_EQ(r.steps[4].events[1].kind, hae::EventKind::Demote);

  EXPECT_THROW(hae::readRunReportFile((dir / "absent.json").string()), hae::Error);
  try {
    hae::readRunReportFile(dir.string());
    ADD_FAILURE() << "a folder was read";
  } catch (const hae::Error& e) {
    EXPECT_NE(std::string(e.what()).find(dir.string() + ": is a folder"), std::string::npos)
        << e.what();
  }
  fs::remove_all(dir);
}

// The writer's number text reads back to the same double (nlohmann::json prints the shortest
// representation that round-trips, and parses with correct rounding), for every double the
// telemetry can hold: hard decimal cases, the extremes, subnormals and random bit patterns. Floats
// (patch regions, event scores) go through the same path via double.
TEST_F(ReportRead, WriterPrintsDoublesRoundTrippably) {
  std::vector<double> values = {0.0,
                                0.1,
                                1.0 / 3,
                                2.0 / 3,
                                0.1 + 0.2,
                                M_PI,
                                123456789.123456789,
                                1e-300,
                                DBL_MIN,
                                std::numeric_limits<double>::denorm_min(),
                                DBL_MAX,
                                std::nextafter(1.0, 2.0),
                                std::nextafter(1.0, 0.0),
                                9007199254740993.0,
                                5e-324 * 3};
  std::mt19937_64 rng(2602);
  while (values.size() < 4000) {
    std::uint64_t bits = rng();
    bits &= ~(std::uint64_t{1} << 63);  // times are not negative
    double d;
    std::memcpy(&d, &bits, sizeof d);
    if (std::isfinite(d)) values.push_back(d);
  }
  for (double d : values) {
    const std::string text = json(d).dump();
    ASSERT_EQ(std::strtod(text.c_str(), nullptr), d) << text;
    ASSERT_EQ(json::parse(text).get<double>(), d) << text;
  }

  // Through a whole report: layer times take the values, patch regions and scores their floats.
  auto run = run_;
  std::size_t next = 0;
  for (auto& t : run.steps)
    for (auto& l : t.layers) l.ms = values[next++ % values.size()];
  for (auto& t : run.steps)
    for (auto& e : t.events) {
      float f = static_cast<float>(values[next++ % values.size()]);
      if (!std::isfinite(f)) f = FLT_MAX;
      e.score = -f;
    }
  run.info.images[0].grids[0].region = {0.1f, 1.0f / 3, FLT_MAX, FLT_TRUE_MIN};
  expectRoundTrip(run);

  std::vector<double> read_back;
  for (std::size_t chunk = 0; chunk < values.size(); chunk += 24) {
    for (std::size_t i = 0; i < 24; ++i)
      run.steps[i / 4].layers[i % 4].ms = values[(chunk + i) % values.size()];
    const auto r =
        hae::readRunReportJson(hae::reportJson(run.info, run.steps, run.answer), "run.json");
    for (std::size_t i = 0; i < 24; ++i)
      ASSERT_EQ(r.steps[i / 4].layers[i % 4].ms, values[(chunk + i) % values.size()]);
  }
}

TEST_F(ReportRead, BadFieldsAreNamedWithTheirPath) {
  auto expectError = [](const std::string& got, const std::string& want) {
    EXPECT_NE(got.find(want), std::string::npos) << "got: " << got << "\nwant: " << want;
  };
  // Wrong type.
  expectError(errorAfter([](json& d) { d["steps"][3]["layers"][1]["bin"] = "3"; }),
              "run.json: steps[3].layers[1].bin: expected an integer, got string \"3\"");
  expectError(errorAfter([](json& d) { d["steps"][3]["layers"][1]["live"]["visual"] = 2.5; }),
              "run.json: steps[3].layers[1].live.visual: expected an integer, got number 2.5");
  expectError(errorAfter([](json& d) { d["tokens"][4]["modality"] = "audio"; }),
              "run.json: tokens[4].modality: 'audio' is not a modality");
  expectError(errorAfter([](json& d) { d["inputs"]["images"][0]["grids"] = json::object(); }),
              "run.json: inputs.images[0].grids: expected an array, got object");
  expectError(errorAfter([](json& d) { d["policy"]["knobs"]["r"] = 0.5; }),
              "run.json: policy.knobs.r: expected a string, got number 0.5");
  // Missing and unknown fields.
  expectError(errorAfter([](json& d) { d["steps"][2]["layers"][0].erase("bytes"); }),
              "run.json: steps[2].layers[0].bytes: missing");
  expectError(errorAfter([](json& d) { d.erase("answer"); }), "run.json: answer: missing");
  expectError(errorAfter([](json& d) { d["tokens"][2].erase("row"); }),
              "run.json: tokens[2].row: missing (a visual token has image, crop, row and col)");
  expectError(errorAfter([](json& d) { d["model"]["extra"] = 1; }),
              "run.json: model.extra: unknown field");
  // Identity and version.
  expectError(errorAfter([](json& d) { d["schema_version"] = 3; }),
              "run.json: schema_version: version 3 is not supported (this build reads versions 1 to 2; "
              "a newer HAE Studio wrote it)");
  expectError(errorAfter([](json& d) { d["schema_version"] = "1"; }),
              "run.json: schema_version: expected an integer, got string");
  expectError(errorAfter([](json& d) { d["schema"] = "hae-studio/bench-summary"; }),
              "run.json: schema: expected \"hae-studio/run-report\", got string "
              "\"hae-studio/bench-summary\" (not an HAE Studio run report)");
  expectError(errorAfter([](json& d) { d.erase("schema"); }),
              "run.json: schema: missing (not an HAE Studio run report)");
  expectError(errorOf("[1, 2]"),
              "run.json: top level: expected an object (a run report), got array");
  // Ranges, absurd counts and float range.
  expectError(errorAfter([](json& d) { d["summary"]["peak_cache_bytes"] = -1; }),
              "run.json: summary.peak_cache_bytes: -1 is out of range (0 to 9007199254740992)");
  expectError(
      errorAfter([](json& d) { d["steps"][0]["layers"][2]["live"]["text"] = 1 << 30; }),
      "run.json: steps[0].layers[2].live.text: 1073741824 is out of range (0 to 268435456)");
  expectError(errorAfter([](json& d) { d["model"]["kv_bytes_per_token"] = 1ll << 41; }),
              "run.json: model.kv_bytes_per_token: 2199023255552 is out of range");
  expectError(errorAfter([](json& d) { d["steps"][1]["model_ms"] = -2.0; }),
              "run.json: steps[1].model_ms: must not be negative, got -2.0");
  expectError(
      errorAfter([](json& d) { d["inputs"]["images"][0]["grids"][0]["region"]["w"] = 1e39; }),
      "run.json: inputs.images[0].grids[0].region.w: 1e+39 is outside the range of a float");
  // Consistency between fields.
  expectError(errorAfter([](json& d) { d["steps"][1]["layers"][3]["layer"] = 2; }),
              "run.json: steps[1].layers[3].layer: is 2, expected 3 (layers are listed in order)");
  expectError(errorAfter([](json& d) { d["steps"][1]["cache_bytes"] = 5; }),
              "run.json: steps[1].cache_bytes: 5 is not the sum of the layers' bytes");
  expectError(
      errorAfter([](json& d) { d["steps"][5]["patch_states"][3] = "eeeex"; }),
      "run.json: steps[5].patch_states[3]: has 5 characters, expected one per visual token (28)");
  expectError(errorAfter([](json& d) {
                std::string s = d["steps"][5]["patch_states"][3];
                s[7] = 'x';
                d["steps"][5]["patch_states"][3] = s;
              }),
              "run.json: steps[5].patch_states[3]: character 7 is \"x\", expected k (kept), b "
              "(recycle bin) or e (evicted)");
  expectError(errorAfter([](json& d) { d["steps"][0]["patch_states"].erase(0); }),
              "run.json: steps[0].patch_states: has 3 strings, expected one per layer (4)");
  expectError(errorAfter([](json& d) { d["visual_tokens"][3] = 2; }),
              "run.json: visual_tokens[3]: token 2 is not the 4th visual token of tokens (that is "
              "token 5)");
  expectError(errorAfter([](json& d) { d["summary"]["peak_cache_bytes"] = 1; }),
              "run.json: summary.peak_cache_bytes: 1 does not match the steps (they give");
  expectError(errorAfter([](json& d) { d["timings"]["total_ms"] = 1.5; }),
              "run.json: timings.total_ms: 1.5 does not match the steps (they give 57.125)");
  expectError(errorAfter([](json& d) { d["summary"]["full_cache_bytes"] = nullptr; }),
              "run.json: summary.full_cache_bytes: is null but the steps give a value");
}

TEST_F(ReportRead, TruncatedOrCorruptFilesNameWhereTheyStop) {
  const std::string text = doc_.dump(1);
  // Cut inside a value: the message names the field the parser stopped in.
  const std::size_t in_text = text.find("\"token_text\": \" rose");
  ASSERT_NE(in_text, std::string::npos);
  std::string got = errorOf(text.substr(0, in_text + 18));
  EXPECT_NE(got.find("run.json: steps[2].token_text: invalid JSON (truncated or corrupt file?): "
                     "parse error at line"),
            std::string::npos)
      << got;
  // Cut between fields (keys are written sorted: model_ms, then patch_states): the last one whole.
  const std::size_t step3 = text.find("\"step\": 3,");
  const std::size_t patches = text.rfind("\"patch_states\"", step3);
  ASSERT_NE(patches, std::string::npos);
  got = errorOf(text.substr(0, patches + 5));
  EXPECT_NE(got.find("run.json: steps[3] (after model_ms): invalid JSON"), std::string::npos)
      << got;
  // Inside an array, between elements: the element that should come next.
  const std::size_t layer1 = text.find("\"layer\": 1,", step3);
  got = errorOf(text.substr(0, text.rfind('{', layer1)));
  EXPECT_NE(got.find("run.json: steps[4].layers[1]: invalid JSON"), std::string::npos) << got;
  // Every prefix fails cleanly, with a message naming the file.
  for (std::size_t n = 0; n < text.size(); n += 97)
    EXPECT_NE(errorOf(text.substr(0, n)).rfind("run.json: ", 0), std::string::npos);
  EXPECT_NE(errorOf("").find("run.json: top level: invalid JSON"), std::string::npos);
  EXPECT_NE(errorOf("{\"schema\": \"caf\xC3\"}").find("run.json: schema: invalid JSON"),
            std::string::npos);
}

}  // namespace
