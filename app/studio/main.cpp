// hae-studio: the desktop visualizer. `--screenshot FILE` saves the window once it is shown and
// exits, which is how tests and the README's screenshot are made.
#include <QApplication>
#include <QCommandLineParser>
#include <QTimer>

#include "../common/blas_env.h"
#include "hae/build_info.h"
#include "hae/logging.h"
#include "main_window.h"

int main(int argc, char** argv) {
  hae::app::ensureBlasCoreType(argv);
  QApplication app(argc, argv);
  QApplication::setApplicationName("HAE Studio");

  QCommandLineParser parser;
  parser.setApplicationDescription("HAE Studio: watch a vision-language model's KV cache being evicted.");
  parser.addHelpOption();
  QCommandLineOption screenshot("screenshot", "Save a PNG of the window to FILE and exit.", "FILE");
  QCommandLineOption threads("threads", "Compute threads (default: all cores).", "N", "0");
  parser.addOptions({screenshot, threads});
  parser.process(app);

  hae::setupLogging(hae::Verbosity::Normal);
  bool threads_ok = false;
  const int n = parser.value(threads).toInt(&threads_ok);
  if (!threads_ok || n < 0) {
    qCritical("hae-studio: --threads must be a non-negative integer, got '%s'",
              qPrintable(parser.value(threads)));
    return 2;
  }
  hae::setThreads(n);

  hae::studio::MainWindow window;
  window.show();
  if (parser.isSet(screenshot)) {
    const QString path = parser.value(screenshot);
    QTimer::singleShot(300, [&window, path] {
      const bool saved = window.grab().save(path, "PNG");
      if (!saved) qCritical("hae-studio: could not write screenshot to %s", qPrintable(path));
      QApplication::exit(saved ? 0 : 1);
    });
  }
  return app.exec();
}
