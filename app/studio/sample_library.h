#pragma once
// The demo's images: the bundled sample scenes (resources/demo/samples, with their questions from
// samples.json) and fresh random scenes drawn by the demo generator, each with a question the
// demo model was trained to answer.
#include <QString>
#include <QStringList>
#include <QTemporaryDir>
#include <memory>
#include <vector>

namespace hae::studio {

struct SampleImage {
  QString title;      // "Scene 1"
  QString path;       // PNG file (the first, when there are several)
  QStringList paths;  // every image of the prompt, in order (path is paths[0])
  QStringList questions;
  QStringList answers;  // the generator's answer to each question (shown as a hint)
};

class SampleLibrary {
 public:
  SampleLibrary();

  // The folder holding samples.json: $HAE_DEMO_SAMPLES, the installed data folder, or the source
  // tree's resources/demo/samples. Empty when none has a samples.json.
  static QString samplesDir();
  const std::vector<SampleImage>& samples() const { return samples_; }
  QString loadError() const { return error_; }

  // Draws a scene the demo model never trained on (a held-out seed), saves it as a PNG in a
  // temporary folder that lives as long as this object, and asks a matching question. Throws
  // hae::Error when the scene cannot be written.
  SampleImage randomScene(quint64 seed);
  // The two-image demo prompt: a held-out scene before and after one edit, asking what changed.
  // Same folder and errors as randomScene.
  SampleImage changeScene(quint64 seed);

 private:
  std::vector<SampleImage> samples_;
  QString error_;
  QString tempPath(const QString& name);  // a file in the temporary folder, made on first use
  std::unique_ptr<QTemporaryDir> tempDir_;
  int generated_ = 0;
};

}  // namespace hae::studio
