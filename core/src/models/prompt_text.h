#pragma once
// The text each prompt token shows in the studio's token stream.
#include <string>
#include <vector>

#include "hae/telemetry.h"
#include "hae/tokenizer.h"

namespace hae {

// The text `token` adds after `context` (the tokens before it, oldest first; only the last few
// are used): decoded context with the token minus decoded context without it, as Hugging Face's
// TextStreamer does. Decoding a token alone loses the spaces a word-level or SentencePiece decoder
// puts between tokens.
std::string addedText(const Tokenizer& tokenizer, const std::vector<int>& context, int token);

// Gives every run of consecutive prefix/text tokens the text each token adds to the decoded run
// (as the engine does for generated tokens), so word-level and SentencePiece tokens keep the spaces
// between them; other tokens (visual, separators) keep the text they have.
void spaceTextRuns(std::vector<TokenInfo>& tokens, const Tokenizer& tokenizer);

}  // namespace hae
