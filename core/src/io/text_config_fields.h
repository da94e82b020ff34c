#pragma once
// The text_config parser of model_config.cpp, shared with the other families' config parsers so
// every decoder config gets the same defaults and checks.
#include "hae/model_config.h"
#include "io/json_fields.h"

namespace hae::io {

TextConfig parseTextConfigFields(const JsonFields& fields);

}  // namespace hae::io
