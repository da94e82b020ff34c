#pragma once
// What the studio remembers between sessions (QSettings): the folder each file dialog last used
// and the recently opened models, images and run reports.
#include <QString>
#include <QStringList>

namespace hae::studio {

// Dialog kinds, each with its own remembered folder.
inline constexpr const char* kImageDialog = "image";
inline constexpr const char* kModelDialog = "model";
inline constexpr const char* kReportDialog = "report";
inline constexpr const char* kExportDialog = "export";

// Recent-file lists.
inline constexpr const char* kRecentModels = "models";
inline constexpr const char* kRecentReports = "reports";
inline constexpr const char* kRecentImages = "images";

class StudioSettings {
 public:
  static constexpr int kMaxRecent = 8;

  // The folder `dialog` last opened or saved in; `fallback` when none (or it is gone).
  static QString lastFolder(const char* dialog, const QString& fallback = {});
  // Remembers the folder of `path` (a file) or `path` itself (a folder).
  static void rememberFolder(const char* dialog, const QString& path);

  // Most recent first, only entries that still exist.
  static QStringList recent(const char* list);
  static void addRecent(const char* list, const QString& path);
  static void clearRecent(const char* list);
};

}  // namespace hae::studio
