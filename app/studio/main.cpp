// hae-studio: the desktop visualizer. `--screenshot FILE` saves the window and exits; with
// --model / --image / --prompt / --policy / --set / --steps it first makes a scripted run, which
// is how tests and the README's screenshot are made.
#include <QApplication>
#include <QCommandLineParser>

#include "../common/process_setup.h"
#include "hae/build_info.h"
#include "hae/logging.h"
#include "main_window.h"
#include "scripted_run.h"

int main(int argc, char** argv) {
  hae::app::prepareProcess(argv);
  QApplication app(argc, argv);
  QApplication::setApplicationName("HAE Studio");
  // QSettings' file: ~/.config/hae/HAE Studio.conf (recent files, dialog folders).
  QApplication::setOrganizationName("hae");

  QCommandLineParser parser;
  parser.setApplicationDescription(
      "HAE Studio: watch a vision-language model's KV cache being evicted.");
  parser.addHelpOption();
  QCommandLineOption screenshot("screenshot", "Save a PNG of the window to FILE and exit.", "FILE");
  QCommandLineOption threads("threads", "Compute threads (default: all cores).", "N", "0");
  QCommandLineOption model(
      "model", "With --screenshot: model folder (default: the embedded demo model).", "DIR");
  QCommandLineOption image(
      "image",
      "With --screenshot: image to ask about (default: the first sample); repeat it for a "
      "prompt of several images.",
      "FILE");
  QCommandLineOption twoImages("two-image-sample",
                               "With --screenshot: the two-image \"what changed\" demo prompt.");
  QCommandLineOption compare("compare",
                             "With --screenshot: also run Compare with NAME as policy B.", "NAME");
  QCommandLineOption compareSet("compare-set", "With --compare: a knob of policy B, name=value.",
                                "K=V");
  QCommandLineOption cursor("cursor", "With --screenshot: the Step cursor after the run.", "K");
  QCommandLineOption layer("layer", "With --screenshot: show one layer instead of all.", "L");
  QCommandLineOption size("size", "With --screenshot: the window's size, WIDTHxHEIGHT.", "WxH");
  QCommandLineOption prompt("prompt", "With --screenshot: the question (default: the sample's).",
                            "TEXT");
  QCommandLineOption policy("policy", "With --screenshot: eviction policy (default: full).",
                            "NAME");
  QCommandLineOption set("set", "With --screenshot: a policy knob, name=value (repeatable).",
                         "K=V");
  QCommandLineOption overlayColors(
      "overlay-colors", "With --screenshot: overlay colours, states or missed (attention).", "MODE");
  QCommandLineOption tab("tab", "With --screenshot: raise this right-hand tab (e.g. Regret).",
                         "NAME");
  QCommandLineOption whatIfKeep(
      "what-if-keep",
      "With --screenshot: after the run, force-keep these visual tokens (indices, comma "
      "separated) and re-run with the edits into the Compare tab.",
      "V,V");
  QCommandLineOption steps("steps", "With --screenshot: tokens to generate after the prefill.", "N",
                           "0");
  parser.addOptions({screenshot, threads, model, image, prompt, policy, set, steps, twoImages,
                     compare, compareSet, cursor, layer, size, overlayColors, tab, whatIfKeep});
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
  const QStringList images = parser.values(image);
  script.image = images.value(0);
  script.images = images.mid(1);
  script.twoImageSample = parser.isSet(twoImages);
  script.comparePolicy = parser.value(compare);
  script.prompt = parser.value(prompt);
  script.policy = parser.value(policy);
  script.overlayColors = parser.value(overlayColors);
  script.tab = parser.value(tab);
  for (const QString& v : parser.value(whatIfKeep).split(',', Qt::SkipEmptyParts)) {
    bool ok = false;
    const int index = v.toInt(&ok);
    if (!ok || index < 0) {
      qCritical("hae-studio: --what-if-keep expects visual token indices, got '%s'", qPrintable(v));
      return 2;
    }
    script.whatIfKeep.push_back(index);
  }
  bool steps_ok = false;
  script.steps = parser.value(steps).toInt(&steps_ok);
  if (!steps_ok || script.steps < 0) {
    qCritical("hae-studio: --steps must be a non-negative integer, got '%s'",
              qPrintable(parser.value(steps)));
    return 2;
  }
  const auto readKnobs = [&](const QCommandLineOption& o, std::map<std::string, std::string>& out) {
    for (const QString& kv : parser.values(o)) {
      const int eq = kv.indexOf('=');
      if (eq <= 0) {
        qCritical("hae-studio: --%s expects name=value, got '%s'", qPrintable(o.names().front()),
                  qPrintable(kv));
        return false;
      }
      out[kv.left(eq).toStdString()] = kv.mid(eq + 1).toStdString();
    }
    return true;
  };
  if (!readKnobs(set, script.knobs) || !readKnobs(compareSet, script.compareKnobs)) return 2;
  const auto readInt = [&](const QCommandLineOption& o, int& out) {
    if (!parser.isSet(o)) return true;
    bool ok = false;
    out = parser.value(o).toInt(&ok);
    if (ok && out >= 0) return true;
    qCritical("hae-studio: --%s must be a non-negative integer, got '%s'",
              qPrintable(o.names().front()), qPrintable(parser.value(o)));
    return false;
  };
  if (!readInt(cursor, script.cursor) || !readInt(layer, script.layer)) return 2;
  if (parser.isSet(size)) {
    const QStringList wh = parser.value(size).split('x');
    bool okW = false, okH = false;
    const int w = wh.size() == 2 ? wh[0].toInt(&okW) : 0;
    const int h = wh.size() == 2 ? wh[1].toInt(&okH) : 0;
    if (!okW || !okH || w < 320 || h < 240 || w > 8192 || h > 8192) {
      qCritical("hae-studio: --size expects WIDTHxHEIGHT (320x240 to 8192x8192), got '%s'",
                qPrintable(parser.value(size)));
      return 2;
    }
    script.size = QSize(w, h);
  }
  if (!script.comparePolicy.isEmpty() && script.steps == 0) script.steps = 64;
  for (const QCommandLineOption* o : {&model, &image, &prompt, &policy, &set, &steps, &twoImages,
                                      &compare, &compareSet, &cursor, &layer, &size,
                                      &overlayColors, &tab, &whatIfKeep})
    if (parser.isSet(*o)) script.scripted = true;
  if (script.scripted && script.screenshot.isEmpty()) {
    qCritical(
        "hae-studio: --model, --image, --prompt, --policy, --set, --steps, --two-image-sample, "
        "--compare, --compare-set, --cursor, --layer, --size, --overlay-colors, --tab and "
        "--what-if-keep need "
        "--screenshot FILE");
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
