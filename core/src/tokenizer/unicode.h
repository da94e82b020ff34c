#pragma once
// UTF-8 and Unicode helpers shared by the tokenizer stages. Predicates follow Rust's `char`
// methods, because the reference implementation (HF tokenizers) is written in Rust.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hae::tok {

// Decodes one code point of valid UTF-8 at `pos` and advances `pos`.
char32_t nextCodePoint(std::string_view s, size_t& pos);
void appendUtf8(std::string& out, char32_t cp);
std::vector<char32_t> toCodePoints(std::string_view s);
size_t codePointCount(std::string_view s);

// Rust's String::from_utf8_lossy: each maximal invalid subsequence becomes one U+FFFD.
std::string utf8Lossy(std::string_view bytes);
bool isValidUtf8(std::string_view bytes);

bool isWhitespace(char32_t cp);     // char::is_whitespace (White_Space property)
bool isNumeric(char32_t cp);        // char::is_numeric (Nd, Nl, No)
bool isAlphanumeric(char32_t cp);   // char::is_alphanumeric, approximated by L* and N*
bool isPunctuation(char32_t cp);    // ASCII punctuation or general category P*
bool isCombiningMark(char32_t cp);  // general category M*

enum class NormalForm { NFC, NFD, NFKC, NFKD };
std::string normalizeUnicode(std::string_view s, NormalForm form);
std::string toLowerCase(std::string_view s);

// GPT-2's reversible byte <-> printable code point map used by ByteLevel stages.
const std::array<char32_t, 256>& bytesToUnicode();
// Returns -1 for a code point that is not in the map.
int unicodeToByte(char32_t cp);
std::string byteLevelEncode(std::string_view bytes);

}  // namespace hae::tok
