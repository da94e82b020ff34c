// Report writers, checked by parsing each format back: the JSON against its committed schema, the
// CSV by its rows, the trace by its span nesting, the HTML by its plots and data URIs, plus the
// error cases and the atomic write.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include <utf8proc.h>

#include "hae/error.h"
#include "hae/report.h"
#include "report_fixture.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string readFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The subset of JSON Schema (2020-12) the run-report schema uses. Debian 12's only C++ validator
// (libvalijson-dev) drags in Poco, MariaDB and Qt 5 as package dependencies, so the test carries
// its own. Unknown keywords fail loudly rather than being skipped, so the schema cannot quietly
// grow a rule this validator ignores.
class SchemaValidator {
 public:
  explicit SchemaValidator(json root) : root_(std::move(root)) {}

  std::vector<std::string> validate(const json& doc) {
    errors_.clear();
    check(root_, doc, "$");
    return errors_;
  }

 private:
  static bool hasType(const json& v, const std::string& t) {
    if (t == "object") return v.is_object();
    if (t == "array") return v.is_array();
    if (t == "string") return v.is_string();
    if (t == "integer") return v.is_number_integer();
    if (t == "number") return v.is_number();
    if (t == "boolean") return v.is_boolean();
    if (t == "null") return v.is_null();
    return false;
  }

  void fail(const std::string& where, const std::string& what) {
    errors_.push_back(where + ": " + what);
  }

  void check(const json& schema, const json& v, const std::string& where) {
    static const std::vector<std::string> kAnnotations = {"$schema", "$id", "title", "description",
                                                          "$defs"};
    for (const auto& [key, rule] : schema.items()) {
      if (std::find(kAnnotations.begin(), kAnnotations.end(), key) != kAnnotations.end()) continue;
      if (key == "$ref") {
        const std::string ref = rule.get<std::string>();
        ASSERT_EQ(ref.rfind("#/$defs/", 0), 0u) << "unsupported $ref " << ref;
        check(root_.at("$defs").at(ref.substr(8)), v, where);
      } else if (key == "type") {
        const auto types = rule.is_array() ? rule.get<std::vector<std::string>>()
                                           : std::vector<std::string>{rule.get<std::string>()};
        if (std::none_of(types.begin(), types.end(),
                         [&](const std::string& t) { return hasType(v, t); }))
          fail(where, "expected type " + rule.dump() + ", got " + v.dump().substr(0, 40));
      } else if (key == "const") {
        if (v != rule) fail(where, "expected " + rule.dump());
      } else if (key == "enum") {
        if (std::find(rule.begin(), rule.end(), v) == rule.end())
          fail(where, "not in " + rule.dump());
      } else if (key == "minimum") {
        if (v.is_number() && v.get<double>() < rule.get<double>())
          fail(where, "below " + rule.dump());
      } else if (key == "pattern") {
        if (v.is_string() &&
            !std::regex_search(v.get<std::string>(), std::regex(rule.get<std::string>())))
          fail(where, "does not match " + rule.dump());
      } else if (key == "required") {
        if (v.is_object())
          for (const auto& name : rule)
            if (!v.contains(name.get<std::string>())) fail(where, "missing " + name.dump());
      } else if (key == "properties") {
        if (v.is_object())
          for (const auto& [name, sub] : rule.items())
            if (v.contains(name)) check(sub, v.at(name), where + "." + name);
      } else if (key == "additionalProperties") {
        if (!v.is_object()) continue;
        const json props = schema.value("properties", json::object());
        for (const auto& [name, value] : v.items()) {
          if (props.contains(name)) continue;
          if (rule.is_boolean()) {
            if (!rule.get<bool>()) fail(where, "unexpected property '" + name + "'");
          } else {
            check(rule, value, where + "." + name);
          }
        }
      } else if (key == "items") {
        if (v.is_array())
          for (std::size_t i = 0; i < v.size(); ++i)
            check(rule, v[i], where + "[" + std::to_string(i) + "]");
      } else {
        ADD_FAILURE() << "schema keyword '" << key << "' is not supported by the test's validator";
      }
    }
  }

  json root_;
  std::vector<std::string> errors_;
};

// RFC 4180: fields separated by commas, records by CRLF, quoted fields may hold anything.
std::vector<std::vector<std::string>> parseCsv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, in_field = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"')
        field += '"', ++i;
      else if (c == '"')
        quoted = false;
      else
        field += c;
    } else if (c == '"') {
      quoted = in_field = true;
    } else if (c == ',') {
      row.push_back(field);
      field.clear();
    } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      row.push_back(field);
      rows.push_back(row);
      row.clear();
      field.clear();
      ++i;
    } else {
      EXPECT_NE(c, '\n') << "bare LF outside quotes at byte " << i;
      field += c;
      in_field = true;
    }
  }
  EXPECT_TRUE(row.empty() && field.empty()) << "last record not terminated by CRLF";
  return rows;
}

std::vector<std::uint8_t> decodeBase64(const std::string& s) {
  std::vector<std::uint8_t> out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : s) {
    int v;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '+')
      v = 62;
    else if (c == '/')
      v = 63;
    else
      break;
    acc = acc << 6 | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>(acc >> bits & 0xff));
    }
  }
  return out;
}

class Reports : public ::testing::Test {
 protected:
  void SetUp() override {
    run_ = hae::test::syntheticRun(std::string(HAE_TEST_DATA) + "/preprocess/images/rose.png");
    dir_ = fs::temp_directory_path() / ("hae_test_reports_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(dir_, ec);
  }
  std::vector<std::string> filesIn(const fs::path& d) const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(d)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

  hae::test::SyntheticRun run_;
  fs::path dir_;
};

TEST_F(Reports, FormatFollowsTheEnding) {
  EXPECT_EQ(hae::reportFormatFor("a/run.json"), hae::ReportFormat::Json);
  EXPECT_EQ(hae::reportFormatFor("RUN.JSON"), hae::ReportFormat::Json);
  EXPECT_EQ(hae::reportFormatFor("run.trace.json"), hae::ReportFormat::Trace);
  EXPECT_EQ(hae::reportFormatFor("run.csv"), hae::ReportFormat::Csv);
  EXPECT_EQ(hae::reportFormatFor("run.html"), hae::ReportFormat::Html);
  EXPECT_EQ(hae::reportFormatFor("run.pdf"), hae::ReportFormat::Pdf);
  for (const char* bad : {"run.txt", "run", "dir.json/run", ".json", "run.json.gz"}) {
    try {
      hae::reportFormatFor(bad);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const hae::Error& e) {
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
    }
  }
}

TEST_F(Reports, JsonValidatesAgainstTheSchemaAndRoundTrips) {
  const json schema =
      json::parse(readFile(fs::path(HAE_SOURCE_DIR) / "resources/schemas/run-report.schema.json"));
  const json doc = json::parse(hae::reportJson(run_.info, run_.steps, run_.answer));
  SchemaValidator validator(schema);
  const auto errors = validator.validate(doc);
  EXPECT_TRUE(errors.empty()) << errors.size()
                              << " errors, first: " << (errors.empty() ? "" : errors[0]);

  EXPECT_EQ(doc["schema"], "hae-studio/run-report");
  EXPECT_EQ(doc["schema_version"], 2);
  EXPECT_EQ(doc["answer"], run_.answer);
  EXPECT_EQ(doc["policy"]["knobs"]["bin"], "8");
  EXPECT_EQ(doc["inputs"]["images"][0]["grids"][1]["global"], true);
  EXPECT_EQ(doc["tokens"].size(), run_.info.tokens.size());
  EXPECT_EQ(doc["tokens"][2]["modality"], "visual");
  ASSERT_EQ(doc["steps"].size(), run_.steps.size());
  for (std::size_t s = 0; s < run_.steps.size(); ++s) {
    const auto& t = run_.steps[s];
    const json& js = doc["steps"][s];
    EXPECT_EQ(js["model_ms"].get<double>(), t.model_ms);
    EXPECT_EQ(js["policy_ms"].get<double>(), t.policy_ms);
    EXPECT_EQ(js["cache_bytes"].get<std::int64_t>(), t.totalBytes());
    EXPECT_EQ(js["events"].size(), t.events.size());
    ASSERT_EQ(js["layers"].size(), t.layers.size());
    for (std::size_t l = 0; l < t.layers.size(); ++l) {
      EXPECT_EQ(js["layers"][l]["bytes"].get<std::int64_t>(), t.layers[l].bytes);
      EXPECT_EQ(js["layers"][l]["bin"].get<int>(), t.layers[l].bin);
      EXPECT_EQ(js["layers"][l]["live"]["visual"].get<int>(), t.layers[l].live[1]);
      EXPECT_EQ(js["layers"][l]["ms"].get<double>(), t.layers[l].ms);
      EXPECT_EQ(js["patch_states"][l], hae::patchStateString(t.patch_states[l]));
    }
  }
  EXPECT_EQ(doc["steps"][5]["patch_states"][3].get<std::string>().substr(0, 15), "eeeeeeeekebbbkk");

  const hae::ReportSummary s = hae::summarizeRun(run_.info, run_.steps);
  const json& js = doc["summary"];
  EXPECT_EQ(js["generated_tokens"], 5);
  EXPECT_DOUBLE_EQ(js["prefill_ms"].get<double>(), 41.5);
  EXPECT_DOUBLE_EQ(js["decode_ms_per_token"].get<double>(), s.decode_ms_per_token);
  EXPECT_DOUBLE_EQ(s.decode_ms_per_token, (5 * 2.0 + 0.25 * 15 + 0.125 * 15) / 5);
  EXPECT_EQ(js["peak_cache_bytes"].get<std::int64_t>(), s.peak_cache_bytes);
  EXPECT_EQ(js["final_cache_bytes"].get<std::int64_t>(), run_.steps.back().totalBytes());
  const std::int64_t full =
      (static_cast<std::int64_t>(run_.info.tokens.size()) + 5) * run_.info.kv_bytes_per_token;
  EXPECT_EQ(js["full_cache_bytes"].get<std::int64_t>(), full);
  // Held: (live + bin) slots of every layer at the end, at kv_bytes_per_token / layers each.
  std::int64_t slots = 0;
  for (int l = 0; l < 4; ++l)
    slots += run_.steps.back().liveSlots(l) + run_.steps.back().layers[l].bin;
  const std::int64_t held = slots * run_.info.kv_bytes_per_token / 4;
  EXPECT_EQ(js["held_cache_bytes"].get<std::int64_t>(), held);
  EXPECT_DOUBLE_EQ(js["reduction_vs_full"].get<double>(),
                   1.0 - static_cast<double>(held) / static_cast<double>(full));

  // The validator does catch a broken report.
  json broken = doc;
  broken.erase("steps");
  broken["schema_version"] = 3;
  broken["summary"]["peak_cache_bytes"] = -1;
  broken["tokens"][0]["modality"] = "audio";
  broken["model"]["extra"] = 1;
  EXPECT_EQ(validator.validate(broken).size(), 5u);
}

TEST_F(Reports, UnknownCacheSizeGivesNullReduction) {
  run_.info.kv_bytes_per_token = 0;
  run_.steps[1].model_ms = std::numeric_limits<double>::quiet_NaN();
  const json doc = json::parse(hae::reportJson(run_.info, run_.steps, run_.answer));
  EXPECT_TRUE(doc["summary"]["full_cache_bytes"].is_null());
  EXPECT_TRUE(doc["summary"]["held_cache_bytes"].is_null());
  EXPECT_TRUE(doc["summary"]["reduction_vs_full"].is_null());
  EXPECT_TRUE(doc["steps"][1]["model_ms"].is_null());
  const json schema =
      json::parse(readFile(fs::path(HAE_SOURCE_DIR) / "resources/schemas/run-report.schema.json"));
  EXPECT_TRUE(SchemaValidator(schema).validate(doc).empty());
}

// The issue-16 fields (shadow, regrets, recorded attention) and merged tokens, against the schema.
TEST_F(Reports, ShadowRegretsAttentionAndMergedValidateAgainstTheSchema) {
  const int layers = run_.info.num_layers;
  const int visual = static_cast<int>(run_.info.visual_tokens.size());
  for (auto& t : run_.steps) {
    hae::ShadowStep sh;
    sh.kl = 0.25;
    sh.total_variation = 0.1;
    sh.top1_agree = t.step % 2 == 0;
    sh.policy_token_rank = 1;
    sh.full_token_id = 7;
    sh.top_full = {{7, 0.6f, "cat"}, {8, 0.3f, "dog"}};
    sh.top_policy = {{8, 0.5f, "dog"}};
    hae::ShadowLayer l;
    l.missed_evicted[static_cast<int>(hae::Modality::Visual)] = 0.2f;
    l.missed_binned[static_cast<int>(hae::Modality::Text)] = 0.05f;
    sh.layers.assign(layers, l);
    sh.visual_attention.assign(layers, std::vector<float>(visual, 0.01f));
    sh.ms = 1.5;
    t.shadow = sh;
    t.regrets = {{hae::RegretKind::RegrettedPurge, 3, -1, 0, t.step, 0.02f},
                 {hae::RegretKind::TimelyRestore, 4, 1, 0, t.step, 0.03f}};
    t.attention.assign(layers, hae::StepAttention{2, std::vector<float>(2 * visual, 0.5f)});
  }
  run_.steps[0].merged = {{0, {0, 1}}};
  const json doc = json::parse(hae::reportJson(run_.info, run_.steps, run_.answer));
  ASSERT_TRUE(doc["steps"][1].contains("shadow"));
  ASSERT_TRUE(doc["steps"][0].contains("merged"));
  const json schema =
      json::parse(readFile(fs::path(HAE_SOURCE_DIR) / "resources/schemas/run-report.schema.json"));
  SchemaValidator validator(schema);
  const auto errors = validator.validate(doc);
  EXPECT_TRUE(errors.empty()) << errors.size() << " errors, first: " << (errors.empty() ? "" : errors[0]);
  // A field the schema does not know is caught (the schema is strict, not a pass-through).
  json broken = doc;
  broken["steps"][1]["shadow"]["surprise"] = 1;
  EXPECT_FALSE(validator.validate(broken).empty());
}

TEST_F(Reports, CsvHasOneRowPerStepAndLayer) {
  const auto rows = parseCsv(hae::reportCsv(run_.info, run_.steps));
  ASSERT_EQ(rows.size(), 1 + run_.steps.size() * 4);
  const std::vector<std::string> header = {
      "step",           "layer",          "token_id",      "token",
      "context_length", "live_prefix",    "live_visual",   "live_separator",
      "live_text",      "live_generated", "live_total",    "bin_slots",
      "cache_bytes",    "layer_ms",       "step_model_ms", "step_policy_ms"};
  EXPECT_EQ(rows[0], header);
  for (const auto& r : rows) EXPECT_EQ(r.size(), header.size());
  // Step 3 layer 2 (row 1 + 3*4 + 2): the token with a comma and quotes survives quoting.
  const auto& r = rows[1 + 3 * 4 + 2];
  EXPECT_EQ(r[0], "3");
  EXPECT_EQ(r[1], "2");
  EXPECT_EQ(r[3], ", \"red\"");
  EXPECT_EQ(std::stoll(r[12]), run_.steps[3].layers[2].bytes);
  EXPECT_DOUBLE_EQ(std::stod(r[14]), run_.steps[3].model_ms);
  EXPECT_EQ(rows[1 + 4 * 4][3], "\n");  // a line break inside a quoted field
}

TEST_F(Reports, TraceSpansNestAndCountersExist) {
  const json doc = json::parse(hae::reportTrace(run_.info, run_.steps));
  ASSERT_TRUE(doc.contains("traceEvents"));
  struct Span {
    std::int64_t ts, end;
    std::string name;
  };
  std::map<std::pair<int, int>, std::vector<Span>> by_track;
  std::map<std::string, int> counters, names;
  bool process_name = false;
  for (const auto& e : doc["traceEvents"]) {
    const std::string ph = e.at("ph");
    if (ph == "X") {
      // Microseconds with three decimals: whole nanoseconds.
      const auto ts = std::llround(e.at("ts").get<double>() * 1000),
                 dur = std::llround(e.at("dur").get<double>() * 1000);
      EXPECT_GE(dur, 0);
      by_track[{e.at("pid"), e.at("tid")}].push_back({ts, ts + dur, e.at("name")});
      ++names[e.at("name").get<std::string>().substr(0, 6)];
    } else if (ph == "C") {
      ++counters[e.at("name")];
      EXPECT_TRUE(e.at("args").is_object());
    } else if (ph == "M" && e.at("name") == "process_name") {
      process_name = true;
    }
  }
  EXPECT_TRUE(process_name);
  EXPECT_EQ(counters["cache bytes"], 7);  // before the prefill and after each step
  EXPECT_EQ(counters["recycle bin slots"], 7);
  EXPECT_EQ(names["prefil"], 1);
  EXPECT_EQ(names["decode"], 5);
  EXPECT_EQ(names["layer "], 24);
  EXPECT_EQ(names["policy"], 6);

  // Every span lies inside the innermost span that started before it on its track, and layers
  // sit inside a forward, inside a step, inside the run.
  for (auto& [track, spans] : by_track) {
    std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
      return a.ts != b.ts ? a.ts < b.ts : a.end > b.end;
    });
    std::vector<Span> stack;
    for (const auto& s : spans) {
      while (!stack.empty() && s.ts >= stack.back().end &&
             !(s.ts == s.end && s.ts == stack.back().end))
        stack.pop_back();
      if (!stack.empty()) {
        EXPECT_LE(s.end, stack.back().end) << s.name << " pokes out of " << stack.back().name;
        if (s.name.rfind("layer", 0) == 0) EXPECT_EQ(stack.back().name, "forward");
        if (s.name == "forward" || s.name == "policy")
          EXPECT_TRUE(stack.back().name == "prefill" || stack.back().name.rfind("decode", 0) == 0)
              << stack.back().name;
      } else {
        EXPECT_EQ(s.name, "run");
      }
      stack.push_back(s);
    }
  }
}

TEST_F(Reports, HtmlIsSelfContainedWithPlotsAndOverlay) {
  const std::string html = hae::reportHtml(run_.info, run_.steps, run_.answer);
  for (const char* id :
       {"plot-cache-layers", "plot-cache-steps", "plot-latency", "plot-bin-activity"})
    EXPECT_NE(html.find(std::string("<svg id=\"") + id + "\""), std::string::npos) << id;
  EXPECT_NE(html.find("<title>Cache size per layer at the final step</title>"), std::string::npos);
  EXPECT_NE(html.find("<title>Latency per decode step</title>"), std::string::npos);
  EXPECT_NE(html.find("<title>Recycle-bin activity per step</title>"), std::string::npos);
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_NE(html.find("A rose, &quot;red&quot;"), std::string::npos);

  // First, middle and last layer, each an inline PNG.
  // (Found by hand: std::regex recurses per character and overflows the stack on a data URI.)
  std::vector<int> layers;
  const std::string fig = "<figure id=\"overlay-layer-", uri = "src=\"data:image/png;base64,";
  for (auto at = html.find(fig); at != std::string::npos; at = html.find(fig, at + 1)) {
    layers.push_back(std::stoi(html.substr(at + fig.size(), 3)));
    const auto data = html.find(uri, at);
    ASSERT_NE(data, std::string::npos);
    ASSERT_LT(data, html.find("</figure>", at)) << "the figure has no inline PNG";
    const auto begin = data + uri.size();
    const auto png = decodeBase64(html.substr(begin, html.find('"', begin) - begin));
    ASSERT_GT(png.size(), 100u);
    EXPECT_EQ(std::string(png.begin() + 1, png.begin() + 4), "PNG");
  }
  EXPECT_EQ(layers, (std::vector<int>{0, 1, 3}));
  EXPECT_NE(html.find("layer 3: 16 kept, 3 in the bin, 9 evicted"), std::string::npos);

  // A missing image still gives a picture (a placeholder the size of the recorded image).
  run_.info.images[0].path = (dir_ / "missing.png").string();
  EXPECT_NE(hae::reportHtml(run_.info, run_.steps, run_.answer).find("data:image/png;base64,"),
            std::string::npos);
}

TEST_F(Reports, WriteReportWritesEveryFormat) {
  for (const char* name : {"r.json", "r.csv", "r.trace.json", "r.html"}) {
    const fs::path p = dir_ / name;
    hae::writeReport(p.string(), run_.info, run_.steps, run_.answer);
    EXPECT_TRUE(fs::is_regular_file(p)) << name;
    EXPECT_GT(fs::file_size(p), 100u) << name;
  }
  EXPECT_EQ(json::parse(readFile(dir_ / "r.trace.json")).count("traceEvents"), 1u);
  EXPECT_EQ(json::parse(readFile(dir_ / "r.json"))["schema"], "hae-studio/run-report");
  // Nothing but the reports: no temporary file left behind.
  EXPECT_EQ(filesIn(dir_), (std::vector<std::string>{"r.csv", "r.html", "r.json", "r.trace.json"}));
}

TEST_F(Reports, BadPathsThrowNamingThePath) {
  auto expectError = [&](const std::string& path, const std::string& words) {
    try {
      hae::writeReport(path, run_.info, run_.steps, run_.answer);
      ADD_FAILURE() << path << " did not throw";
    } catch (const hae::Error& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    }
  };
  expectError((dir_ / "r.txt").string(), "unknown report format");
  expectError((dir_ / "no-such-dir" / "r.json").string(), "cannot write");
  std::ofstream(dir_ / "plain-file") << "x";
  expectError((dir_ / "plain-file" / "r.html").string(), "cannot write");  // fails for root too
  if (!hae::hasPdfReportWriter()) expectError((dir_ / "r.pdf").string(), "no Qt");

  // The same failures, up front, before any report is drawn.
  EXPECT_NO_THROW(hae::checkReportPath((dir_ / "ok.trace.json").string()));
  EXPECT_NO_THROW(hae::checkReportPath("relative.html"));
  EXPECT_THROW(hae::checkReportPath((dir_ / "r.txt").string()), hae::Error);
  EXPECT_THROW(hae::checkReportPath((dir_ / "no-such-dir" / "r.json").string()), hae::Error);
  EXPECT_THROW(hae::checkReportPath((dir_ / "plain-file" / "r.json").string()), hae::Error);
  if (!hae::hasPdfReportWriter())
    EXPECT_THROW(hae::checkReportPath((dir_ / "r.pdf").string()), hae::Error);
  EXPECT_EQ(filesIn(dir_), std::vector<std::string>{"plain-file"});
}

TEST_F(Reports, InterruptedWriteLeavesNoFileUnderTheFinalName) {
  const fs::path target = dir_ / "r.json";
  auto interrupted = [](std::ostream& out) {
    out << "{\"half\": ";
    throw std::runtime_error("interrupted");
  };
  EXPECT_THROW(hae::writeFileAtomically(target.string(), interrupted), std::runtime_error);
  EXPECT_TRUE(filesIn(dir_).empty());

  // An existing report survives an interrupted overwrite untouched.
  hae::writeFileAtomically(target.string(), std::string("old"));
  EXPECT_THROW(hae::writeFileAtomically(target.string(), interrupted), std::runtime_error);
  EXPECT_EQ(readFile(target), "old");
  EXPECT_EQ(filesIn(dir_), std::vector<std::string>{"r.json"});

  // The temporary file lives in the target's folder and is not the final name while writing.
  hae::writeFileAtomicallyVia((dir_ / "v.csv").string(), [&](const std::string& temp) {
    EXPECT_EQ(fs::path(temp).parent_path(), dir_);
    EXPECT_NE(fs::path(temp).filename(), "v.csv");
    EXPECT_FALSE(fs::exists(dir_ / "v.csv"));
    std::ofstream(temp) << "a,b\r\n";
  });
  EXPECT_EQ(readFile(dir_ / "v.csv"), "a,b\r\n");

  // A folder that turns read-only after the temporary file exists: the rename fails, the error
  // names the path, and nothing appears under the final name. Root ignores permissions.
  if (::geteuid() != 0) {
    const fs::path ro = dir_ / "ro";
    fs::create_directories(ro);
    try {
      hae::writeFileAtomicallyVia((ro / "r.html").string(), [&](const std::string& temp) {
        std::ofstream(temp) << "<html>";
        fs::permissions(ro, fs::perms::owner_read | fs::perms::owner_exec);
      });
      ADD_FAILURE() << "rename into a read-only folder succeeded";
    } catch (const hae::Error& e) {
      EXPECT_NE(std::string(e.what()).find("r.html"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(fs::exists(ro / "r.html"));
    fs::permissions(ro, fs::perms::owner_all);
  }
}

// Valid UTF-8 by utf8proc's decoder (independent of the project's own validator).
bool validUtf8(const std::string& s) {
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(s.data());
  utf8proc_ssize_t left = static_cast<utf8proc_ssize_t>(s.size());
  while (left > 0) {
    utf8proc_int32_t cp = 0;
    const utf8proc_ssize_t n = utf8proc_iterate(p, left, &cp);
    if (n <= 0 || cp < 0) return false;
    p += n;
    left -= n;
  }
  return true;
}

// The HTML report says charset=utf-8: a prompt, answer or token piece with invalid bytes (a
// prompt read from a Latin-1 file, a token cut inside a character) is written with U+FFFD.
TEST_F(Reports, InvalidUtf8IsReplacedInHtmlAndCsv) {
  run_.info.prompt =
      "caf\xe9 \xff\xfe <b> \xe2\x82";  // Latin-1 e-acute, stray bytes, cut euro sign
  run_.answer = "na\xefve";
  run_.steps.back().token_text = "\xe2\x82";
  ASSERT_FALSE(validUtf8(run_.info.prompt));
  const std::string html = hae::reportHtml(run_.info, run_.steps, run_.answer);
  EXPECT_TRUE(validUtf8(html));
  EXPECT_NE(html.find("caf\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd &lt;b&gt; \xef\xbf\xbd"),
            std::string::npos);
  EXPECT_NE(html.find("na\xef\xbf\xbdve"), std::string::npos);
  const std::string csv = hae::reportCsv(run_.info, run_.steps);
  EXPECT_TRUE(validUtf8(csv));
  // Valid text is untouched.
  run_.info.prompt = "caf\xc3\xa9 \xe2\x82\xac";
  EXPECT_NE(hae::reportHtml(run_.info, run_.steps, run_.answer).find("caf\xc3\xa9 \xe2\x82\xac"),
            std::string::npos);
}

// `--out` naming a file where a folder is wanted: one message naming the flag and the path.
TEST_F(Reports, OutputFolderThatIsAFileIsRefused) {
  const fs::path file = dir_ / "taken";
  std::ofstream(file) << "x";
  try {
    hae::checkOutputFolder("--out", file.string());
    ADD_FAILURE() << "a file was accepted as an output folder";
  } catch (const hae::Error& e) {
    EXPECT_EQ(std::string(e.what()), "--out " + file.string() + ": exists and is not a folder");
  }
  try {
    hae::checkOutputFolder("--out", (file / "sub").string());
    ADD_FAILURE() << "a folder below a file was accepted";
  } catch (const hae::Error& e) {
    EXPECT_NE(std::string(e.what()).find(file.string() + " is not a folder"), std::string::npos)
        << e.what();
  }
  EXPECT_NO_THROW(hae::checkOutputFolder("--out", dir_.string()));
  EXPECT_NO_THROW(hae::checkOutputFolder("--out", (dir_ / "new" / "deeper").string()));
  EXPECT_THROW(hae::checkOutputFile("--out", dir_.string()), hae::Error);
  EXPECT_THROW(hae::checkOutputFile("--out", (dir_ / "none" / "x.safetensors").string()),
               hae::Error);
  EXPECT_NO_THROW(hae::checkOutputFile("--out", file.string()));
}

}  // namespace
