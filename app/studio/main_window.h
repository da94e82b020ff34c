#pragma once
#include <QMainWindow>

class QLabel;

namespace hae::studio {

class MainWindow : public QMainWindow {
  Q_OBJECT
 public:
  explicit MainWindow(QWidget* parent = nullptr);

 private:
  void buildMenus();
  void showAbout();

  QLabel* runtime_label_ = nullptr;
};

}  // namespace hae::studio
