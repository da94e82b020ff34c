#pragma once
// The prompt as the model sees it, coloured by modality, with each image folded into one chip
// (its visual tokens and the separators between its grids) that counts how many survive and
// unfolds on a click; tokens evicted at the chosen layer are struck through, binned ones shaded
// amber. Generated tokens follow as they arrive, up to the cursor. Punctuation sits against its
// word, words the vocabulary lacks (<unk>) are flagged, and id-only tokens show their id. With a
// full-cache shadow, tokens picked where the full model's top-1 differed are marked.
#include <QTextBrowser>
#include <QTimer>
#include <set>

#include "hae/widgets/run_history.h"

namespace hae::widgets {

class TokenStreamView : public QTextBrowser {
  Q_OBJECT
 public:
  explicit TokenStreamView(RunHistory* history, QWidget* parent = nullptr);

  int layer() const { return layer_; }
  // The HTML for the current layer and cursor (what the next refresh shows).
  QString htmlText() const;
  // Rebuilds now if anything changed; otherwise a ~30 Hz timer does it, so a fast decode does
  // not rebuild the document once per token.
  void flush();
  bool isImageExpanded(int image) const { return expanded_.count(image) > 0; }
  void setImageExpanded(int image, bool expanded);
  // The full-cache shadow's verdict on the generated token of step index `index`: the shadow of
  // the step before, whose next-token distribution it was picked from (nullptr: none). Tokens
  // whose verdict says the top-1 choices differ are marked (magenta, underlined, "≠"); hovering
  // any judged token shows both models' top-5.
  static const ShadowStep* choiceShadow(const RunHistory& history, int index);

 public slots:
  void setLayer(int layer);  // RunHistory::kAllLayers: struck through only when gone everywhere

 private:
  void markDirty();

  RunHistory* history_;
  QTimer timer_;
  bool dirty_ = true;
  int layer_ = 0;
  std::set<int> expanded_;  // images shown unfolded
};

}  // namespace hae::widgets
