#include "tokenizer/post_processors.h"

#include <unordered_map>

namespace hae::tok {
namespace {

// Template for a single sequence: runs of literal ids with the input spliced in between.
class TemplatePostProcessor : public PostProcessor {
 public:
  struct Item {
    bool isSequence;
    std::vector<int> ids;
  };
  explicit TemplatePostProcessor(std::vector<Item> items) : items_(std::move(items)) {}
  void process(std::vector<int>& ids, bool addSpecialTokens) const override {
    if (!addSpecialTokens) return;
    std::vector<int> out;
    for (const auto& item : items_) {
      if (item.isSequence)
        out.insert(out.end(), ids.begin(), ids.end());
      else
        out.insert(out.end(), item.ids.begin(), item.ids.end());
    }
    ids = std::move(out);
  }

 private:
  std::vector<Item> items_;
};

// ByteLevel only trims offsets, which this tokenizer does not report.
class NoOpPostProcessor : public PostProcessor {
 public:
  void process(std::vector<int>&, bool) const override {}
};

class SequencePostProcessor : public PostProcessor {
 public:
  explicit SequencePostProcessor(std::vector<std::unique_ptr<PostProcessor>> parts)
      : parts_(std::move(parts)) {}
  void process(std::vector<int>& ids, bool addSpecialTokens) const override {
    for (const auto& p : parts_) p->process(ids, addSpecialTokens);
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> parts_;
};

std::unique_ptr<PostProcessor> loadTemplate(const Json& json, const JsonReader& reader,
                                            const std::string& path) {
  std::unordered_map<std::string, std::vector<int>> specials;
  if (const Json* map = reader.optional(json, "special_tokens")) {
    const std::string mapPath = childPath(path, "special_tokens");
    reader.expectObject(*map, mapPath);
    for (const auto& [name, entry] : map->items()) {
      const std::string entryPath = childPath(mapPath, name);
      reader.expectObject(entry, entryPath);
      const Json& idList = reader.required(entry, "ids", entryPath);
      reader.expectArray(idList, childPath(entryPath, "ids"));
      std::vector<int> ids;
      for (size_t i = 0; i < idList.size(); ++i)
        ids.push_back(reader.id(idList[i], indexPath(childPath(entryPath, "ids"), i)));
      specials[name] = std::move(ids);
    }
  }
  const std::string singlePath = childPath(path, "single");
  const Json& single = reader.required(json, "single", path);
  reader.expectArray(single, singlePath);
  std::vector<TemplatePostProcessor::Item> items;
  for (size_t i = 0; i < single.size(); ++i) {
    const std::string p = indexPath(singlePath, i);
    const Json& piece = single[i];
    reader.expectObject(piece, p);
    if (const Json* seq = reader.optional(piece, "Sequence")) {
      reader.expectObject(*seq, childPath(p, "Sequence"));
      items.push_back({true, {}});
    } else if (const Json* special = reader.optional(piece, "SpecialToken")) {
      const std::string sp = childPath(p, "SpecialToken");
      reader.expectObject(*special, sp);
      const std::string name = reader.string(*special, "id", sp);
      const auto it = specials.find(name);
      if (it == specials.end())
        reader.fail(childPath(sp, "id"), "special token '" + name + "' is not in special_tokens");
      items.push_back({false, it->second});
    } else {
      reader.fail(p, "expected {\"Sequence\": ...} or {\"SpecialToken\": ...}");
    }
  }
  return std::make_unique<TemplatePostProcessor>(std::move(items));
}

// BertProcessing / RobertaProcessing: "cls": [token, id], "sep": [token, id].
int specialPairId(const Json& json, const char* key, const JsonReader& reader,
                  const std::string& path) {
  const std::string p = childPath(path, key);
  const Json& pair = reader.required(json, key, path);
  if (!pair.is_array() || pair.size() != 2 || !pair[0].is_string())
    reader.fail(p, "expected [token, id]");
  return reader.id(pair[1], indexPath(p, 1));
}

}  // namespace

std::unique_ptr<PostProcessor> loadPostProcessor(const Json& json, const JsonReader& reader,
                                                 const std::string& path, int depth) {
  if (json.is_null()) return nullptr;
  reader.expectObject(json, path);
  if (depth > kMaxNesting) reader.fail(path, "nested too deeply");
  const std::string type = reader.string(json, "type", path);
  if (type == "TemplateProcessing") return loadTemplate(json, reader, path);
  if (type == "ByteLevel") return std::make_unique<NoOpPostProcessor>();
  if (type == "BertProcessing" || type == "RobertaProcessing") {
    const int cls = specialPairId(json, "cls", reader, path);
    const int sep = specialPairId(json, "sep", reader, path);
    return std::make_unique<TemplatePostProcessor>(
        std::vector<TemplatePostProcessor::Item>{{false, {cls}}, {true, {}}, {false, {sep}}});
  }
  if (type == "Sequence") {
    const std::string listPath = childPath(path, "processors");
    const Json& list = reader.required(json, "processors", path);
    reader.expectArray(list, listPath);
    std::vector<std::unique_ptr<PostProcessor>> parts;
    for (size_t i = 0; i < list.size(); ++i) {
      auto part = loadPostProcessor(list[i], reader, indexPath(listPath, i), depth + 1);
      if (!part) reader.fail(indexPath(listPath, i), "expected a post-processor object");
      parts.push_back(std::move(part));
    }
    return std::make_unique<SequencePostProcessor>(std::move(parts));
  }
  reader.fail(childPath(path, "type"), "unsupported post-processor type '" + type + "'");
}

}  // namespace hae::tok
