// VLMEvalKit's TSV layout (MMBench, MME, POPE, SEED-Bench, ...): one row per question, the image
// inline as base64. Read whole and checked before the bench runs, so a bad file writes nothing.
#include <fmt/format.h>
#include <openssl/evp.h>

#include <filesystem>
#include <fstream>
#include <istream>
#include <map>
#include <opencv2/imgcodecs.hpp>
#include <set>

#include "hae/bench.h"
#include "hae/error.h"

namespace hae::bench {

namespace fs = std::filesystem;

namespace {

// pandas' to_csv(sep='\t', quoting=QUOTE_ALL) quotes every field and doubles inner quotes; a
// quoted field may span lines. Unquoted fields end at the tab or newline.
struct Row {
  int line = 0;  // where the row starts
  std::vector<std::string> fields;
};

bool readRow(std::istream& in, int& line, Row& row, const std::string& path) {
  row.fields.clear();
  int c = in.peek();
  if (c == EOF) return false;
  ++line;
  row.line = line;
  std::string field;
  bool quoted = false, was_quoted = false;
  while (true) {
    c = in.get();
    if (c == EOF) {
      if (quoted)
        throw Error(fmt::format("{}:{}: column {}: unterminated quoted field", path, row.line,
                                row.fields.size() + 1));
      row.fields.push_back(field);
      return true;
    }
    const char ch = static_cast<char>(c);
    if (quoted) {
      if (ch == '"') {
        if (in.peek() == '"') {
          in.get();
          field += '"';
        } else {
          quoted = false;
        }
      } else {
        if (ch == '\n') ++line;
        field += ch;
      }
      continue;
    }
    if (ch == '"' && field.empty() && !was_quoted) {
      quoted = was_quoted = true;
    } else if (ch == '\t') {
      row.fields.push_back(field);
      field.clear();
      was_quoted = false;
    } else if (ch == '\n') {
      if (!field.empty() && field.back() == '\r' && !was_quoted) field.pop_back();
      row.fields.push_back(field);
      return true;
    } else if (ch == '\r' && was_quoted) {
      // CRLF after a quoted field
    } else {
      field += ch;
    }
  }
}

// pandas writes a missing value as an empty field (or "nan" when it was stringified).
bool missing(const std::string& v) {
  return v.empty() || v == "nan" || v == "NaN";
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

// VLMEvalKit's ImageMCQDataset.build_prompt.
std::string choicePrompt(const std::string& hint, const std::string& question,
                         const std::map<std::string, std::string>& choices) {
  std::string p;
  if (!hint.empty()) p += "Hint: " + hint + "\n";
  p += "Question: " + question + "\n";
  p += "Options:\n";
  for (const auto& [letter, text] : choices) p += letter + ". " + text + "\n";
  p += "Please select the correct answer from the options above. \n";
  return p;
}

}  // namespace

std::optional<std::string> decodeBase64(const std::string& text) {
  std::string clean;
  clean.reserve(text.size());
  for (char ch : text)
    if (ch != ' ' && ch != '\n' && ch != '\r' && ch != '\t') clean += ch;
  if (clean.empty() || clean.size() % 4 != 0) return std::nullopt;
  // EVP_DecodeBlock rejects characters outside the alphabet but accepts '=' anywhere; padding may
  // only end the text.
  const auto pad_at = clean.find('=');
  std::size_t padding = 0;
  if (pad_at != std::string::npos) {
    padding = clean.size() - pad_at;
    if (padding > 2 || clean.find_first_not_of('=', pad_at) != std::string::npos)
      return std::nullopt;
  }
  std::string out(clean.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(clean.data()),
                                static_cast<int>(clean.size()));
  if (n < 0) return std::nullopt;
  // EVP_DecodeBlock counts the padding as zero bytes.
  out.resize(static_cast<std::size_t>(n) - padding);
  return out;
}

std::vector<BenchCase> loadTsvCases(const std::string& path, int first_index) {
  std::ifstream in(path, std::ios::binary);
  if (!fs::is_regular_file(path) || !in) throw Error(fmt::format("--data {}: no such file", path));
  return parseTsvCases(in, path, fs::path(path).parent_path().string(), first_index);
}

std::vector<BenchCase> loadDataCases(const std::string& path, int first_index) {
  const std::string ext = fs::path(path).extension().string();
  if (ext == ".tsv") return loadTsvCases(path, first_index);
  return loadJsonlCases(path, first_index);
}

std::vector<BenchCase> parseTsvCases(std::istream& in, const std::string& path,
                                     const std::string& folder, int first_index) {
  int line = 0;
  Row header;
  if (!readRow(in, line, header, path)) throw Error(fmt::format("--data {}: empty file", path));
  std::map<std::string, std::size_t> col;
  for (std::size_t i = 0; i < header.fields.size(); ++i) col[trim(header.fields[i])] = i;
  for (const char* name : {"index", "question", "answer"})
    if (!col.count(name))
      throw Error(
          fmt::format("{}:1: missing column '{}' (a VLMEvalKit TSV has index, image, "
                      "question, answer)",
                      path, name));
  const bool inline_images = col.count("image") > 0;
  if (!inline_images && !col.count("image_path"))
    throw Error(fmt::format("{}:1: missing column 'image' (base64) or 'image_path'", path));
  std::vector<std::string> letters;
  for (char l = 'A'; l <= 'Z'; ++l)
    if (col.count(std::string(1, l))) letters.emplace_back(1, l);

  std::vector<BenchCase> out;
  std::map<std::string, std::string> image_of_index;  // MMBench: later rows reuse an image
  std::set<std::string> indices;
  Row row;
  while (readRow(in, line, row, path)) {
    if (row.fields.size() == 1 && trim(row.fields[0]).empty()) continue;
    auto field = [&](const std::string& name) -> std::string {
      const auto it = col.find(name);
      if (it == col.end()) return "";
      if (it->second >= row.fields.size())
        throw Error(fmt::format("{}:{}: column '{}': missing (the row has {} of {} fields)", path,
                                row.line, name, row.fields.size(), header.fields.size()));
      return row.fields[it->second];
    };
    if (row.fields.size() != header.fields.size())
      throw Error(fmt::format("{}:{}: {} fields, the header has {}", path, row.line,
                              row.fields.size(), header.fields.size()));
    BenchCase c;
    c.index = first_index + static_cast<int>(out.size());
    const std::string index = trim(field("index"));
    if (index.empty()) throw Error(fmt::format("{}:{}: column 'index': empty", path, row.line));
    if (!indices.insert(index).second)
      throw Error(fmt::format("{}:{}: column 'index': {} appears twice", path, row.line, index));
    c.id = fmt::format("tsv:{}:{}", fs::path(path).filename().string(), index);
    c.answer = trim(field("answer"));
    const std::string question = field("question");
    if (missing(trim(question)))
      throw Error(fmt::format("{}:{}: column 'question': empty", path, row.line));
    c.category = missing(field("category")) ? "" : trim(field("category"));
    for (const auto& l : letters)
      if (const std::string v = field(l); !missing(v)) c.choices[l] = v;
    if (!c.choices.empty()) {
      c.scoring = BenchCase::Scoring::Choice;
      if (!c.choices.count(c.answer))
        throw Error(fmt::format("{}:{}: column 'answer': '{}' is not one of the options", path,
                                row.line, c.answer));
      const std::string hint = missing(field("hint")) ? "" : field("hint");
      c.question = choicePrompt(hint, question, c.choices);
    } else {
      if (missing(c.answer))
        throw Error(fmt::format("{}:{}: column 'answer': empty", path, row.line));
      c.question = question;
      if (!inferYesNo(c.answer).empty() && answerTokens(c.answer).size() == 1)
        c.scoring = BenchCase::Scoring::YesNo;
    }
    c.kind = c.scoring == BenchCase::Scoring::Exact &&
                     static_cast<int>(answerTokens(c.answer).size()) > 3
                 ? AnswerKind::Long
                 : AnswerKind::Short;
    if (c.category.empty()) c.category = c.kind == AnswerKind::Short ? "short" : "long";

    if (inline_images) {
      std::string value = trim(field("image"));
      // VLMEvalKit: a value of 64 characters or fewer is the index of the row holding the image.
      if (value.size() <= 64) {
        const auto it = image_of_index.find(value);
        if (it == image_of_index.end())
          throw Error(
              fmt::format("{}:{}: column 'image': '{}' is neither base64 nor the index of "
                          "an earlier row",
                          path, row.line, value));
        c.image_data.push_back(it->second);
      } else {
        auto bytes = decodeBase64(value);
        if (!bytes)
          throw Error(fmt::format("{}:{}: column 'image': not valid base64", path, row.line));
        const std::vector<unsigned char> buf(bytes->begin(), bytes->end());
        if (cv::imdecode(buf, cv::IMREAD_UNCHANGED).empty())
          throw Error(
              fmt::format("{}:{}: column 'image': the decoded {} bytes are not an image "
                          "OpenCV can read",
                          path, row.line, bytes->size()));
        image_of_index[index] = *bytes;
        c.image_data.push_back(std::move(*bytes));
      }
    } else {
      const std::string rel = trim(field("image_path"));
      const fs::path p = fs::path(rel).is_absolute() ? fs::path(rel) : fs::path(folder) / rel;
      if (rel.empty() || !fs::is_regular_file(p))
        throw Error(
            fmt::format("{}:{}: column 'image_path': {} not found", path, row.line, p.string()));
      c.images.push_back(p.string());
    }
    out.push_back(std::move(c));
  }
  if (out.empty()) throw Error(fmt::format("--data {}: no rows after the header", path));
  return out;
}

}  // namespace hae::bench
