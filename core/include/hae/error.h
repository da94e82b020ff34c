#pragma once
// One exception type for every user-facing failure. The message always names the file, field,
// tensor or knob at fault, so the CLI can print it as one line and the GUI can show it in a dialog.
#include <stdexcept>
#include <string>

namespace hae {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace hae
