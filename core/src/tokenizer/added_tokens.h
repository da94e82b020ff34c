#pragma once
// The added-token vocabulary (tokenizer.json "added_tokens"): tokens matched verbatim in the input
// before the normalizer and the model run, leftmost-longest as HF's Aho-Corasick matcher does.
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "tokenizer/json_reader.h"

namespace hae::tok {

class Model;
class Normalizer;

struct AddedToken {
  std::string content;
  bool special = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;
  bool singleWord = false;
};

// A byte range of the searched text; id >= 0 for an added token, -1 for text between tokens.
struct Segment {
  size_t begin;
  size_t end;
  int id;
};

class AddedVocabulary {
 public:
  AddedVocabulary() = default;
  // Ids follow HF's rule, not the "id" fields of the file: a token already in the model vocab
  // keeps that id, others are numbered after the largest one so far.
  AddedVocabulary(const std::vector<AddedToken>& tokens, const Model& model,
                  const Normalizer* normalizer);

  // Tokens with normalized=false are matched on the raw input...
  std::vector<Segment> splitRaw(std::string_view text) const { return split(raw_, text); }
  // ...the others on each normalized segment.
  std::vector<Segment> splitNormalized(std::string_view text) const {
    return split(normalized_, text);
  }

  const std::string* idToToken(int id) const;
  std::optional<int> tokenToId(std::string_view token) const;
  bool isSpecial(int id) const;
  // HF decides "special" by content, so a model-vocab id spelled like a special token counts.
  bool isSpecialContent(const std::string& content) const {
    return specialContents_.count(content) > 0;
  }
  const std::map<int, std::string>& tokensById() const { return byId_; }

 private:
  struct Matcher {
    struct Node {
      std::unordered_map<unsigned char, int> next;
      int token = -1;  // index into tokens_
    };
    std::vector<Node> nodes{Node{}};
    void insert(std::string_view pattern, int tokenIndex);
    // Leftmost-longest match starting at or after `from`; false when none.
    bool find(std::string_view text, size_t from, size_t& begin, size_t& end,
              int& tokenIndex) const;
  };
  std::vector<Segment> split(const Matcher& matcher, std::string_view text) const;

  std::vector<AddedToken> tokens_;
  std::vector<int> ids_;
  Matcher raw_;
  Matcher normalized_;
  std::map<int, std::string> byId_;
  std::unordered_map<std::string, int> byContent_;
  std::unordered_set<std::string> specialContents_;
};

std::vector<AddedToken> loadAddedTokens(const Json& json, const JsonReader& reader,
                                        const std::string& path);

}  // namespace hae::tok
