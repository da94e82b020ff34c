// Idefics3Processor's prompt expansion of one "<image>" (_prompt_split_image and
// _prompt_single_image in transformers 4.49), character for character: the tokenizer sees exactly
// this text, so "\n" placement decides how newlines merge into tokens.
#include <string>

#include "hae/idefics3_preprocess.h"

namespace hae {

std::string idefics3ImageText(int rows, int cols, int tokens_per_tile) {
  std::string image_tokens;
  for (int i = 0; i < tokens_per_tile; ++i) image_tokens += "<image>";
  std::string text;
  for (int r = 1; r <= rows; ++r) {
    for (int c = 1; c <= cols; ++c)
      text += "<fake_token_around_image><row_" + std::to_string(r) + "_col_" + std::to_string(c) +
              ">" + image_tokens;
    text += "\n";
  }
  if (rows > 0 || cols > 0) text += "\n";
  return text + "<fake_token_around_image><global-img>" + image_tokens +
         "<fake_token_around_image>";
}

}  // namespace hae
