// The ADR model of the crash explorer (nvm/unfenced_lines.h through
// nvm::Persist::track_unfenced): what is not yet durable when the power
// fails may be lost, line by line; what was flushed and fenced never is.
#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "nvm/persist.h"

using namespace hsls::nvm;

namespace {

struct Nvm {
  static constexpr size_t kSize = 8192;
  uint8_t* p;
  Nvm() : p(static_cast<uint8_t*>(std::aligned_alloc(64, kSize))) { std::memset(p, 0x11, kSize); }
  ~Nvm() { std::free(p); }
  Nvm(const Nvm&) = delete;
  Nvm& operator=(const Nvm&) = delete;
};

std::vector<uint8_t> bytes(size_t n, uint8_t v) { return std::vector<uint8_t>(n, v); }

bool all(const uint8_t* p, size_t n, uint8_t v) {
  for (size_t i = 0; i < n; ++i)
    if (p[i] != v) return false;
  return true;
}

}  // namespace

TEST_SUITE("nvm_unfenced") {

TEST_CASE("a store never flushed is lost under drop-all and kept under keep-all") {
  for (auto policy : {UnfencedLines::Policy::drop_all, UnfencedLines::Policy::keep_all}) {
    Nvm n;
    Persist p(true);
    p.track_unfenced(1, policy);
    auto b = bytes(100, 0x22);
    p.write(n.p + 10, b.data(), b.size());
    p.fence();  // a fence without a flush makes nothing durable
    p.lose_power();
    bool dropped = policy == UnfencedLines::Policy::drop_all;
    CHECK(all(n.p + 10, 100, dropped ? 0x11 : 0x22));
    CHECK(p.lines_dropped() == (dropped ? 2u : 0u));  // bytes 10-109 touch lines 0 and 1
  }
}

TEST_CASE("flushed but not fenced is pending; flushed and fenced is durable") {
  Nvm n;
  Persist p(true);
  p.track_unfenced(1, UnfencedLines::Policy::drop_all);
  auto a = bytes(64, 0x33), b = bytes(64, 0x44);
  p.write(n.p, a.data(), 64);
  p.persist(n.p, 64);  // durable
  p.write(n.p + 64, b.data(), 64);
  p.flush(n.p + 64, 64);  // no fence
  p.lose_power();
  CHECK(all(n.p, 64, 0x33));
  CHECK(all(n.p + 64, 64, 0x11));
}

TEST_CASE("a non-temporal copy is durable after a fence alone") {
  Nvm n;
  Persist p(true);
  p.track_unfenced(1, UnfencedLines::Policy::drop_all);
  auto a = bytes(4096, 0x55), b = bytes(4096, 0x66);
  p.copy(n.p, a.data(), 4096);
  p.fence();
  p.copy(n.p + 4096, b.data(), 4096);
  p.lose_power();
  CHECK(all(n.p, 4096, 0x55));
  CHECK(all(n.p + 4096, 4096, 0x11));
}

TEST_CASE("a line stored twice goes back to what it held before the first store") {
  Nvm n;
  Persist p(true);
  p.track_unfenced(1, UnfencedLines::Policy::drop_all);
  auto a = bytes(8, 0x77), b = bytes(8, 0x88);
  p.write(n.p + 8, a.data(), 8);
  p.flush(n.p, 64);
  p.write(n.p + 16, b.data(), 8);  // after the write-back: the line needs another one
  p.fence();
  p.lose_power();
  CHECK(all(n.p, 64, 0x11));
}

TEST_CASE("store64 is all or nothing, and nothing is written after the failure") {
  Nvm n;
  Persist p(true);
  p.track_unfenced(1, UnfencedLines::Policy::drop_all);
  auto* word = reinterpret_cast<uint64_t*>(n.p + 128);
  CHECK(p.store64(word, 0x0123456789abcdefull));
  p.lose_power();
  CHECK(*word == 0x1111111111111111ull);
  CHECK_FALSE(p.store64(word, 5));
  CHECK(*word == 0x1111111111111111ull);
}

TEST_CASE("random: one seed, one outcome; another seed, another") {
  auto outcome = [](uint64_t seed) {
    Nvm n;
    Persist p(true);
    p.track_unfenced(seed);
    auto b = bytes(Nvm::kSize, 0x99);
    p.write(n.p, b.data(), b.size());  // 128 lines pending
    p.lose_power();
    std::vector<uint8_t> lines;
    for (size_t l = 0; l < Nvm::kSize / 64; ++l) lines.push_back(n.p[l * 64]);
    return std::make_pair(lines, p.lines_dropped());
  };
  auto a = outcome(7), b = outcome(7), c = outcome(8);
  CHECK(a == b);
  CHECK(a.first != c.first);
  CHECK(a.second > 20);   // about half of 128 lines
  CHECK(a.second < 108);
}

TEST_CASE("eADR: the model is not consulted by flush, and writes simply land") {
  Nvm n;
  Persist p(false);
  auto b = bytes(64, 0xaa);
  p.write(n.p, b.data(), 64);
  p.lose_power();
  CHECK(all(n.p, 64, 0xaa));
  CHECK(p.lines_dropped() == 0);
}

}  // TEST_SUITE
