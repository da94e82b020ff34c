#pragma once
// The text each prompt token shows in the studio's token stream.
#include <vector>

#include "hae/telemetry.h"
#include "hae/tokenizer.h"

namespace hae {

// Gives every run of consecutive prefix/text tokens the text each token adds to the decoded run
// (as the engine does for generated tokens), so word-level and SentencePiece tokens keep the spaces
// between them; other tokens (visual, separators) keep the text they have.
void spaceTextRuns(std::vector<TokenInfo>& tokens, const Tokenizer& tokenizer);

}  // namespace hae
