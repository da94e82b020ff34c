#include "sample_library.h"

#include <QCoreApplication>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

#include "hae/demo/dataset.h"
#include "hae/demo/samples.h"
#include "hae/error.h"

namespace hae::studio {

namespace {

bool hasIndex(const QString& dir) {
  return !dir.isEmpty() && QFileInfo::exists(dir + "/samples.json");
}

}  // namespace

QString SampleLibrary::samplesDir() {
  const QString env = qEnvironmentVariable("HAE_DEMO_SAMPLES");
  if (hasIndex(env)) return env;
  const QString installed = QDir(QCoreApplication::applicationDirPath())
                                .absoluteFilePath("../share/hae-studio/demo/samples");
  if (hasIndex(installed)) return QDir::cleanPath(installed);
#ifdef HAE_SOURCE_SAMPLES_DIR
  if (hasIndex(QStringLiteral(HAE_SOURCE_SAMPLES_DIR)))
    return QStringLiteral(HAE_SOURCE_SAMPLES_DIR);
#endif
  return {};
}

SampleLibrary::SampleLibrary() {
  const QString dir = samplesDir();
  if (dir.isEmpty()) {
    error_ = QObject::tr("the sample scenes (resources/demo/samples) were not found");
    return;
  }
  QFile file(dir + "/samples.json");
  if (!file.open(QIODevice::ReadOnly)) {
    error_ = QObject::tr("cannot read %1").arg(file.fileName());
    return;
  }
  QJsonParseError parseError;
  const QJsonDocument doc = QJsonDocument::fromJson(file.readAll(), &parseError);
  if (doc.isNull()) {
    error_ = QObject::tr("%1: %2").arg(file.fileName(), parseError.errorString());
    return;
  }
  int index = 0;
  for (const QJsonValue& v : doc.object().value("samples").toArray()) {
    const QJsonObject o = v.toObject();
    SampleImage s;
    s.title = QObject::tr("Scene %1").arg(++index);
    s.path = QDir(dir).absoluteFilePath(o.value("file").toString());
    for (const QJsonValue& q : o.value("questions").toArray()) {
      s.questions << q.toObject().value("question").toString();
      s.answers << q.toObject().value("answer").toString();
    }
    s.paths = QStringList{s.path};
    if (QFileInfo::exists(s.path)) samples_.push_back(std::move(s));
  }
}

QString SampleLibrary::tempPath(const QString& name) {
  if (!tempDir_) {
    tempDir_ = std::make_unique<QTemporaryDir>(QDir::tempPath() + "/hae-studio-XXXXXX");
    if (!tempDir_->isValid()) throw Error("cannot create a temporary folder for the random scene");
  }
  return tempDir_->filePath(name);
}

SampleImage SampleLibrary::changeScene(quint64 seed) {
  const std::uint64_t sceneSeed = demo::kHeldOutSeedBase + seed;
  const demo::DemoSample sample = demo::makeSample(sceneSeed, demo::SampleKind::Change);
  SampleImage s;
  s.title = QObject::tr("Two images: what changed");
  for (std::size_t i = 0; i < sample.images.size(); ++i) {
    const QString path = tempPath(QStringLiteral("change_%1_%2.png").arg(sceneSeed).arg(i));
    demo::savePng(sample.images[i], path.toStdString());
    s.paths << path;
  }
  s.path = s.paths.value(0);
  s.questions << QString::fromStdString(sample.question);
  s.answers << QString::fromStdString(sample.answer);
  return s;
}

SampleImage SampleLibrary::randomScene(quint64 seed) {
  // One image and a short or descriptive answer: the kinds the overlay shows best.
  static constexpr demo::SampleKind kKinds[] = {
      demo::SampleKind::ColourOfShape, demo::SampleKind::ShapeOfColour,
      demo::SampleKind::CountColour,   demo::SampleKind::CountShape,
      demo::SampleKind::Exists,        demo::SampleKind::Where,
      demo::SampleKind::SizeOf,        demo::SampleKind::Describe};
  const auto kind = kKinds[seed % std::size(kKinds)];
  const std::uint64_t sceneSeed = demo::kHeldOutSeedBase + (seed >> 3);
  const demo::DemoSample sample = demo::makeSample(sceneSeed, kind);
  SampleImage s;
  s.title = QObject::tr("Random scene %1").arg(++generated_);
  s.path = tempPath(QStringLiteral("scene_%1.png").arg(sceneSeed));
  s.paths = QStringList{s.path};
  demo::savePng(sample.images.at(0), s.path.toStdString());
  s.questions << QString::fromStdString(sample.question);
  s.answers << QString::fromStdString(sample.answer);
  return s;
}

}  // namespace hae::studio
