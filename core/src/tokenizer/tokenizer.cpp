#include "hae/tokenizer.h"

#include <fstream>
#include <sstream>
#include <unordered_set>

#include "hae/error.h"
#include "hae/file_check.h"
#include "tokenizer/added_tokens.h"
#include "tokenizer/decoders.h"
#include "tokenizer/json_reader.h"
#include "tokenizer/model.h"
#include "tokenizer/normalizers.h"
#include "tokenizer/post_processors.h"
#include "tokenizer/pre_tokenizers.h"
#include "tokenizer/unicode.h"

namespace hae {

using tok::Json;
using tok::JsonReader;

struct Tokenizer::Impl {
  std::string source;
  std::unique_ptr<tok::Normalizer> normalizer;
  std::unique_ptr<tok::PreTokenizer> preTokenizer;
  std::unique_ptr<tok::Model> model;
  std::unique_ptr<tok::PostProcessor> postProcessor;
  std::unique_ptr<tok::Decoder> decoder;
  tok::AddedVocabulary added;
  int vocabSize = 0;

  void encodeSegment(std::string_view normalizedText, bool atInputStart,
                     std::vector<int>& ids) const {
    std::vector<tok::Piece> pieces{{std::string(normalizedText), atInputStart}};
    if (preTokenizer) preTokenizer->preTokenize(pieces);
    for (const auto& p : pieces)
      if (!p.text.empty()) model->tokenize(p.text, ids);
  }
};

Tokenizer::Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

Tokenizer Tokenizer::fromFile(const std::string& path) {
  requireRegularFile(path, "the tokenizer file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open tokenizer file");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw Error(path + ": cannot read tokenizer file");
  return fromJson(text.str(), path);
}

Tokenizer Tokenizer::fromJson(const std::string& json_text, const std::string& source_name) {
  const JsonReader reader(source_name);
  Json root;
  try {
    root = Json::parse(json_text);
  } catch (const Json::exception& e) {
    reader.fail("", std::string("invalid JSON: ") + e.what());
  }
  auto impl = std::make_shared<Impl>();
  impl->source = source_name;
  try {
    reader.expectObject(root, "");
    static const Json kNull;
    auto field = [&](const char* key) -> const Json& {
      const Json* v = reader.optional(root, key);
      return v ? *v : kNull;
    };
    impl->model = tok::loadModel(reader.required(root, "model", ""), reader, "model");
    impl->normalizer = tok::loadNormalizer(field("normalizer"), reader, "normalizer");
    impl->preTokenizer = tok::loadPreTokenizer(field("pre_tokenizer"), reader, "pre_tokenizer");
    impl->postProcessor = tok::loadPostProcessor(field("post_processor"), reader, "post_processor");
    impl->decoder = tok::loadDecoder(field("decoder"), reader, "decoder");
    const auto addedTokens = tok::loadAddedTokens(field("added_tokens"), reader, "added_tokens");
    impl->added = tok::AddedVocabulary(addedTokens, *impl->model, impl->normalizer.get());

    std::unordered_set<std::string> distinct;
    for (const auto& [token, id] : impl->model->vocab()) distinct.insert(token);
    for (const auto& [id, token] : impl->added.tokensById()) distinct.insert(token);
    impl->vocabSize = static_cast<int>(distinct.size());
  } catch (const Json::exception& e) {
    // The typed readers check before they convert, so this is a safety net, not a code path.
    reader.fail("", std::string("unexpected JSON structure: ") + e.what());
  } catch (const std::length_error& e) {
    reader.fail("", std::string("too large: ") + e.what());
  }
  return Tokenizer(std::move(impl));
}

std::vector<int> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  const Impl& impl = *impl_;
  auto run = [&] {
    const std::string input = tok::utf8Lossy(text);
    std::vector<int> ids;
    for (const auto& seg : impl.added.splitRaw(input)) {
      if (seg.id >= 0) {
        ids.push_back(seg.id);
        continue;
      }
      if (seg.end == seg.begin) continue;
      std::string normalized = input.substr(seg.begin, seg.end - seg.begin);
      if (impl.normalizer) impl.normalizer->normalize(normalized);
      for (const auto& sub : impl.added.splitNormalized(normalized)) {
        if (sub.id >= 0) {
          ids.push_back(sub.id);
        } else if (sub.end > sub.begin) {
          impl.encodeSegment(std::string_view(normalized).substr(sub.begin, sub.end - sub.begin),
                             seg.begin == 0 && sub.begin == 0, ids);
        }
      }
    }
    if (impl.postProcessor) impl.postProcessor->process(ids, add_special_tokens);
    return ids;
  };
  try {
    return run();
  } catch (const Error& e) {
    // A stage failing on this text (a regex at its retry limit, a missing unk token) is a fault
    // of this tokenizer file: say which one.
    const std::string what = e.what();
    if (what.rfind(impl.source, 0) == 0) throw;
    throw Error(impl.source + ": " + what);
  }
}

std::string Tokenizer::decode(const std::vector<int>& ids, bool skip_special_tokens) const {
  const Impl& impl = *impl_;
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int id : ids) {
    const std::string* token = impl.added.idToToken(id);
    if (!token) token = impl.model->idToToken(id);
    if (!token) continue;
    if (skip_special_tokens && impl.added.isSpecialContent(*token)) continue;
    tokens.push_back(*token);
  }
  if (!impl.decoder) {
    // Without a decoder HF joins the tokens with single spaces.
    std::string joined;
    for (size_t i = 0; i < tokens.size(); ++i) joined += (i ? " " : "") + tokens[i];
    return joined;
  }
  impl.decoder->decodeChain(tokens);
  std::string out;
  for (const auto& t : tokens) out += t;
  return out;
}

std::string Tokenizer::idToToken(int id) const {
  if (const std::string* t = impl_->added.idToToken(id)) return *t;
  if (const std::string* t = impl_->model->idToToken(id)) return *t;
  return {};
}

int Tokenizer::tokenToId(std::string_view token) const {
  if (const auto id = impl_->added.tokenToId(token)) return *id;
  if (const auto id = impl_->model->tokenToId(token)) return *id;
  return -1;
}

int Tokenizer::vocabSize() const {
  return impl_->vocabSize;
}

bool Tokenizer::isSpecial(int id) const {
  return impl_->added.isSpecial(id);
}

const std::string& Tokenizer::sourceName() const {
  return impl_->source;
}

}  // namespace hae
