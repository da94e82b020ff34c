// hae-studio: the desktop visualizer. `--screenshot FILE` saves the window and exits; with
// --model / --image / --prompt / --policy / --set / --steps it first makes a scripted run, which
// is how tests and the README's screenshot are made.
#include <QApplication>
#include <QCommandLineParser>

#include "../common/blas_env.h"
#include "hae/build_info.h"
#include "hae/logging.h"
#include "main_window.h"
#include "scripted_run.h"

int main(int argc, char** argv) {
  hae::app::ensureBlasCoreType(argv);
  QApplication app(argc, argv);
  QApplication::setApplicationName("HAE Studio");

  QCommandLineParser parser;
  parser.setApplicationDescription(
      "HAE Studio: watch a vision-language model's KV cache being evicted.");
  parser.addHelpOption();
  QCommandLineOption screenshot("screenshot", "Save a PNG of the window to FILE and exit.", "FILE");
  QCommandLineOption threads("threads", "Compute threads (default: all cores).", "N", "0");
  QCommandLineOption model(
      "model", "With --screenshot: model folder (default: the embedded demo model).", "DIR");
  QCommandLineOption image(
      "image", "With --screenshot: image to ask about (default: the first sample).", "FILE");
  QCommandLineOption prompt("prompt", "With --screenshot: the question (default: the sample's).",
                            "TEXT");
  QCommandLineOption policy("policy", "With --screenshot: eviction policy (default: full).",
                            "NAME");
  QCommandLineOption set("set", "With --screenshot: a policy knob, name=value (repeatable).",
                         "K=V");
  QCommandLineOption steps("steps", "With --screenshot: tokens to generate after the prefill.", "N",
                           "0");
  parser.addOptions({screenshot, threads, model, image, prompt, policy, set, steps});
  parser.process(app);

  hae::setupLogging(hae::Verbosity::Normal);
  bool threads_ok = false;
  const int n = parser.value(threads).toInt(&threads_ok);
  // The CLI's bound: a huge count would have LibTorch and OpenBLAS spawn threads without end.
  if (!threads_ok || n < 0 || n > hae::kMaxThreads) {
    qCritical("hae-studio: --threads must be an integer in [0, %d] (0: all cores), got '%s'",
              hae::kMaxThreads, qPrintable(parser.value(threads)));
    return 2;
  }
  hae::setThreads(n);

  hae::studio::ScriptOptions script;
  script.screenshot = parser.value(screenshot);
  script.model = parser.value(model);
  script.image = parser.value(image);
  script.prompt = parser.value(prompt);
  script.policy = parser.value(policy);
  bool steps_ok = false;
  script.steps = parser.value(steps).toInt(&steps_ok);
  if (!steps_ok || script.steps < 0) {
    qCritical("hae-studio: --steps must be a non-negative integer, got '%s'",
              qPrintable(parser.value(steps)));
    return 2;
  }
  for (const QString& kv : parser.values(set)) {
    const int eq = kv.indexOf('=');
    if (eq <= 0) {
      qCritical("hae-studio: --set expects name=value, got '%s'", qPrintable(kv));
      return 2;
    }
    script.knobs[kv.left(eq).toStdString()] = kv.mid(eq + 1).toStdString();
  }
  for (const QCommandLineOption* o : {&model, &image, &prompt, &policy, &set, &steps})
    if (parser.isSet(*o)) script.scripted = true;
  if (script.scripted && script.screenshot.isEmpty()) {
    qCritical(
        "hae-studio: --model, --image, --prompt, --policy, --set and --steps need --screenshot "
        "FILE");
    return 2;
  }

  hae::studio::StudioOptions options;
  options.threads = n;
  options.loadDemo = !script.scripted;
  hae::studio::MainWindow window(options);
  hae::studio::ScriptedRun runner(&window, script);
  if (!runner.checkOptions()) return 1;
  window.show();
  if (!script.screenshot.isEmpty()) runner.start();
  return app.exec();
}
