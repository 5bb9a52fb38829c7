#include "ckpt/precopy_pacer.h"

#include <algorithm>

namespace hsls::ckpt {

bool PrecopyPacer::take_precopy() {
  if (skip_left_ == 0) return true;
  --skip_left_;
  skipped_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

void PrecopyPacer::checkpoint_after_precopy(uint64_t precopied, uint64_t saved) {
  if (precopied == 0) return;  // nothing was copied ahead: nothing learnt
  if (saved * 4 >= precopied) {
    backoff_ = 0;
    skip_left_ = 0;
    return;
  }
  unsigned b = backoff_.load(std::memory_order_relaxed);
  b = std::min(kMaxBackoff, b ? b * 2 : 1);
  backoff_.store(b, std::memory_order_relaxed);
  skip_left_ = b;
}

}  // namespace hsls::ckpt
