// Opens the real main window on the offscreen platform and saves a screenshot.
#include <QtTest>

#include "main_window.h"

class StudioSmokeTest : public QObject {
  Q_OBJECT
 private slots:
  void opensAndSavesScreenshot() {
    hae::studio::MainWindow window;
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    const QImage shot = window.grab().toImage();
    QVERIFY(!shot.isNull());
    QCOMPARE(shot.size(), window.size() * window.devicePixelRatio());
    const QString path = QStringLiteral(HAE_TEST_OUTPUT "/studio_smoke.png");
    QVERIFY(shot.save(path, "PNG"));
    QVERIFY(QImage(path).size() == shot.size());
  }
};

QTEST_MAIN(StudioSmokeTest)
#include "test_studio_smoke.moc"
