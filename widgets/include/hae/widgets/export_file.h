#pragma once
// Writes a file so that readers never see a half-written one: the writer fills a temporary file
// beside the target, which then replaces the target in one rename.
#include <QString>
#include <functional>

namespace hae::widgets {

// `write` receives the temporary path (same folder and extension as `path`) and returns success.
// On failure the temporary file is removed and `error` (when given) says why.
bool writeFileAtomically(const QString& path, const std::function<bool(const QString&)>& write,
                         QString* error = nullptr);

// Lower-case extension of `path` without the dot ("png", "svg", "pdf").
QString exportFormat(const QString& path);

}  // namespace hae::widgets
