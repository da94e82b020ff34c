#pragma once
// `hae-studio --screenshot FILE` with a scripted run: load a model, open an image, ask, prefill,
// generate N tokens, then save the window and quit. Used for the README's screenshot.
#include <QObject>
#include <QSize>
#include <QString>
#include <QStringList>
#include <map>
#include <string>
#include <vector>

namespace hae::studio {

class MainWindow;

struct ScriptOptions {
  QString screenshot;           // PNG to write
  QString model;                // empty: the embedded demo model
  QString image;                // empty: the first sample scene
  QStringList images;           // more images after `image` (--image repeated)
  bool twoImageSample = false;  // the "what changed" demo prompt instead of --image
  QString comparePolicy;        // non-empty: also run Compare with this policy as B
  std::map<std::string, std::string> compareKnobs;
  int cursor = -1;  // after the run: the Step cursor (-1: the latest step)
  int layer = -1;   // after the run: one layer instead of all layers (-1: all)
  QString overlayColors;  // after the run: "states" or "missed" (View > Overlay colours)
  QString tab;            // after the run: the right-hand tab to raise ("Regret", "Probes", ...)
  std::vector<int> whatIfKeep;  // after the run: force-keep these visual tokens, re-run into Compare
  QSize size;       // the window's size for the picture (empty: as it opens)
  QString prompt;   // empty: the image's sample question
  QString policy;   // empty: the form's default
  std::map<std::string, std::string> knobs;
  int steps = 0;          // tokens after the prefill
  bool scripted = false;  // false: just save the window as it opens
};

class ScriptedRun : public QObject {
  Q_OBJECT
 public:
  ScriptedRun(MainWindow* window, ScriptOptions options, QObject* parent = nullptr);
  // Checks the policy and knobs as `hae run` does, before the window shows or a model loads;
  // false (with the message on stderr) when they are refused.
  bool checkOptions();
  // Starts the script; the application exits with 0 once the screenshot is saved, 1 on failure.
  void start();

 private:
  void fail(const QString& message);
  void finish();
  void afterRun();  // compare when asked, then finish once every run has stopped

  MainWindow* window_;
  ScriptOptions options_;
  bool done_ = false;
  bool checked_ = false;
  bool editsSent_ = false;
};

}  // namespace hae::studio
