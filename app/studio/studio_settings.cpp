#include "studio_settings.h"

#include <QDir>
#include <QFileInfo>
#include <QSettings>

namespace hae::studio {

namespace {
QString folderKey(const char* dialog) {
  return QStringLiteral("dialogs/%1").arg(QLatin1String(dialog));
}
QString recentKey(const char* list) {
  return QStringLiteral("recent/%1").arg(QLatin1String(list));
}
}  // namespace

QString StudioSettings::lastFolder(const char* dialog, const QString& fallback) {
  const QString dir = QSettings().value(folderKey(dialog)).toString();
  return !dir.isEmpty() && QFileInfo(dir).isDir() ? dir : fallback;
}

void StudioSettings::rememberFolder(const char* dialog, const QString& path) {
  if (path.isEmpty()) return;
  const QFileInfo info(path);
  QSettings().setValue(folderKey(dialog),
                       info.isDir() ? info.absoluteFilePath() : info.absolutePath());
}

QStringList StudioSettings::recent(const char* list) {
  QStringList out;
  for (const QString& p : QSettings().value(recentKey(list)).toStringList())
    if (QFileInfo::exists(p)) out << p;
  return out;
}

void StudioSettings::addRecent(const char* list, const QString& path) {
  if (path.isEmpty()) return;
  const QString absolute = QFileInfo(path).absoluteFilePath();
  QStringList items = QSettings().value(recentKey(list)).toStringList();
  items.removeAll(absolute);
  items.prepend(absolute);
  while (items.size() > kMaxRecent) items.removeLast();
  QSettings().setValue(recentKey(list), items);
}

void StudioSettings::clearRecent(const char* list) {
  QSettings().remove(recentKey(list));
}

}  // namespace hae::studio
