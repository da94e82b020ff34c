// The question's words checked against the loaded model's vocabulary as the user types: a word the
// tokenizer can only map to its unknown token reaches the model as `<unk>`, which silently changes
// the question. Runs the torch-free tokenizer on the GUI thread (one word at a time, microseconds),
// debounced so typing stays smooth.
#include <QDir>
#include <QFileInfo>
#include <QLabel>
#include <QLineEdit>
#include <QRegularExpression>
#include <exception>

#include "hae/tokenizer.h"
#include "main_window.h"

namespace hae::studio {

namespace {

const QString kMarker = QStringLiteral("<image>");

// The unknown token's id, or -1 when the vocabulary has none (byte-level BPE never needs one).
int unknownTokenId(const Tokenizer& tokenizer) {
  for (const char* name : {"<unk>", "[UNK]", "<|unk|>"})
    if (const int id = tokenizer.tokenToId(name); id >= 0) return id;
  return -1;
}

}  // namespace

void MainWindow::loadVocabulary(const QString& modelDir) {
  vocabulary_.reset();
  unknownId_ = -1;
  const QString file = QDir(modelDir).filePath(QStringLiteral("tokenizer.json"));
  if (QFileInfo::exists(file)) {
    try {
      auto tokenizer = std::make_shared<const Tokenizer>(Tokenizer::fromFile(file.toStdString()));
      unknownId_ = unknownTokenId(*tokenizer);
      if (unknownId_ >= 0) vocabulary_ = std::move(tokenizer);
    } catch (const std::exception&) {
      // The session loaded this tokenizer already; if it cannot be read here, there is simply
      // no warning (the run itself reports any real problem).
    }
  }
  checkVocabulary();
}

QStringList MainWindow::unknownWords() const {
  QStringList out;
  if (!vocabulary_) return out;
  const QString text = QString(prompt_->text()).replace(kMarker, QStringLiteral(" "));
  for (const QString& word :
       text.split(QRegularExpression(QStringLiteral("\\s+")), Qt::SkipEmptyParts)) {
    if (out.contains(word)) continue;
    bool unknown = false;
    try {
      for (int id : vocabulary_->encode(word.toStdString(), false))
        if (id == unknownId_) unknown = true;
    } catch (const std::exception&) {
      unknown = true;  // a piece the vocabulary cannot spell at all
    }
    if (unknown) out << word;
  }
  return out;
}

void MainWindow::checkVocabulary() {
  const QStringList words = unknownWords();
  if (words.isEmpty()) {
    unknownLabel_->clear();
    unknownLabel_->setToolTip({});
    unknownLabel_->setVisible(false);
    return;
  }
  const QString text = tr("%n word(s) not in the vocabulary: %1", nullptr, words.size())
                           .arg(words.join(QStringLiteral(", ")));
  unknownLabel_->setText(text);
  unknownLabel_->setToolTip(
      tr("%1\nThe model reads each of them as its unknown token <unk>: rephrase them to be "
         "understood.")
          .arg(text));
  unknownLabel_->setVisible(true);
}

}  // namespace hae::studio
