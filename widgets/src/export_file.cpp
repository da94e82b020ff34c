#include "hae/widgets/export_file.h"

#include <QCoreApplication>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <atomic>
#include <filesystem>
#include <system_error>

namespace hae::widgets {

QString exportFormat(const QString& path) {
  return QFileInfo(path).suffix().toLower();
}

bool writeFileAtomically(const QString& path, const std::function<bool(const QString&)>& write,
                         QString* error) {
  static std::atomic<int> counter{0};
  const QFileInfo target(path);
  // Same folder keeps the rename on one file system (atomic); the same extension keeps writers
  // that pick their format from the name (QPrinter) happy.
  const QString temp = target.dir().filePath(QStringLiteral(".%1.tmp-%2-%3.%4")
                                                 .arg(target.completeBaseName())
                                                 .arg(QCoreApplication::applicationPid())
                                                 .arg(counter.fetch_add(1))
                                                 .arg(target.suffix()));
  auto fail = [&](const QString& why) {
    QFile::remove(temp);
    if (error) *error = QStringLiteral("%1: %2").arg(path, why);
    return false;
  };
  if (!write(temp) || !QFileInfo::exists(temp)) return fail(QStringLiteral("could not write"));
  std::error_code ec;
  // std::filesystem::rename replaces an existing target, which QFile::rename refuses to do.
  std::filesystem::rename(std::filesystem::path(QFile::encodeName(temp).toStdString()),
                          std::filesystem::path(QFile::encodeName(path).toStdString()), ec);
  if (ec) return fail(QString::fromStdString(ec.message()));
  return true;
}

}  // namespace hae::widgets
