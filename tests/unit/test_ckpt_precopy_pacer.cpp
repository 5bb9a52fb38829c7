// The precopy pacer: precopies that do not spare the pause any copying are
// skipped, for exponentially longer stretches; one that pays again ends it.
#include <doctest/doctest.h>

#include "ckpt/precopy_pacer.h"

using hsls::ckpt::PrecopyPacer;

namespace {

// How many of the next `n` chances the pacer takes.
unsigned taken(PrecopyPacer& p, unsigned n) {
  unsigned t = 0;
  for (unsigned i = 0; i < n; ++i) t += p.take_precopy() ? 1 : 0;
  return t;
}

}  // namespace

TEST_CASE("precopy pacer: precopies that pay are all taken") {
  PrecopyPacer p;
  for (int i = 0; i < 100; ++i) {
    REQUIRE(p.take_precopy());
    p.checkpoint_after_precopy(100, 40);  // the pause copied 60 of 100 again
  }
  CHECK(p.skipped() == 0);
  CHECK(p.backoff() == 0);
}

TEST_CASE("precopy pacer: precopies the pause redoes back off 1, 2, 4 ... up to the cap") {
  PrecopyPacer p;
  REQUIRE(p.take_precopy());
  p.checkpoint_after_precopy(100, 3);  // 3 of 100 spared: under a quarter
  CHECK(p.backoff() == 1);
  CHECK_FALSE(p.take_precopy());  // one skipped
  REQUIRE(p.take_precopy());
  p.checkpoint_after_precopy(100, 24);
  CHECK(p.backoff() == 2);
  CHECK(taken(p, 2) == 0);
  REQUIRE(p.take_precopy());
  p.checkpoint_after_precopy(100, 0);
  CHECK(p.backoff() == 4);
  for (int i = 0; i < 10; ++i) {
    while (!p.take_precopy()) {
    }
    p.checkpoint_after_precopy(100, 0);
  }
  CHECK(p.backoff() == PrecopyPacer::kMaxBackoff);
  CHECK(taken(p, PrecopyPacer::kMaxBackoff) == 0);
  CHECK(p.take_precopy());  // the probe after the longest stretch
  CHECK(p.skipped() == 1 + 2 + 4 + 8 + 16 + 32 + 64 * 7);  // six stretches in the loop at the cap, then the one above
}

TEST_CASE("precopy pacer: one precopy that pays ends the backoff; an empty one changes nothing") {
  PrecopyPacer p;
  REQUIRE(p.take_precopy());
  p.checkpoint_after_precopy(100, 0);
  REQUIRE_FALSE(p.take_precopy());
  REQUIRE(p.take_precopy());
  p.checkpoint_after_precopy(0, 0);  // nothing precopied (an idle epoch): nothing learnt
  CHECK(p.backoff() == 1);
  p.checkpoint_after_precopy(100, 25);  // a quarter spared: it pays
  CHECK(p.backoff() == 0);
  CHECK(taken(p, 10) == 10);
}
