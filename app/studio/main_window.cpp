#include "main_window.h"

#include <QApplication>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QStatusBar>

#include "hae/build_info.h"

namespace hae::studio {

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
  setWindowTitle("HAE Studio");
  resize(1280, 800);
  auto* placeholder = new QLabel(tr("Open an image and ask a question to start."), this);
  placeholder->setAlignment(Qt::AlignCenter);
  setCentralWidget(placeholder);
  buildMenus();
  runtime_label_ = new QLabel(QString::fromStdString(describeRuntime()), this);
  statusBar()->addPermanentWidget(runtime_label_);
}

void MainWindow::buildMenus() {
  QMenu* file = menuBar()->addMenu(tr("&File"));
  file->addAction(tr("&Quit"), QKeySequence::Quit, qApp, &QApplication::quit);
  QMenu* help = menuBar()->addMenu(tr("&Help"));
  help->addAction(tr("&About HAE Studio"), this, &MainWindow::showAbout);
}

void MainWindow::showAbout() {
  const BuildInfo info = buildInfo();
  QMessageBox::about(this, tr("About HAE Studio"),
                     tr("HAE Studio %1\nKV-cache eviction visualizer and profiler.\n%2")
                         .arg(QString::fromStdString(info.version),
                              QString::fromStdString(describeRuntime())));
}

}  // namespace hae::studio
