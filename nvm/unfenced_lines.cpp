#include "nvm/unfenced_lines.h"

#include <cstring>

namespace hsls::nvm {
namespace {
constexpr uintptr_t kLine = 64;
}

void UnfencedLines::before_store(const void* addr, size_t len, bool non_temporal) {
  if (!len) return;
  uintptr_t first = reinterpret_cast<uintptr_t>(addr) & ~(kLine - 1);
  uintptr_t last = (reinterpret_cast<uintptr_t>(addr) + len - 1) & ~(kLine - 1);
  for (uintptr_t line = first; line <= last; line += kLine) {
    auto [it, fresh] = lines_.try_emplace(line);
    if (fresh) {
      std::memcpy(it->second.old.data(), reinterpret_cast<const void*>(line), kLine);
      it->second.state = non_temporal ? State::streamed : State::stored;
      ++tracked_;
    } else if (!non_temporal) {
      it->second.state = State::stored;  // stored again after a write-back: needs another one
    }
  }
}

void UnfencedLines::flushed(const void* addr, size_t len) {
  if (!len) return;
  uintptr_t first = reinterpret_cast<uintptr_t>(addr) & ~(kLine - 1);
  uintptr_t end = reinterpret_cast<uintptr_t>(addr) + len;
  for (auto it = lines_.lower_bound(first); it != lines_.end() && it->first < end; ++it)
    if (it->second.state == State::stored) it->second.state = State::flushed;
}

void UnfencedLines::fenced() {
  for (auto it = lines_.begin(); it != lines_.end();)
    it = it->second.state == State::stored ? std::next(it) : lines_.erase(it);
}

bool UnfencedLines::coin() {
  rng_ ^= rng_ << 13;
  rng_ ^= rng_ >> 7;
  rng_ ^= rng_ << 17;
  return rng_ & 1;
}

size_t UnfencedLines::drop() {
  size_t reverted = 0;
  for (auto& [line, l] : lines_) {
    bool revert = policy_ == Policy::drop_all || (policy_ == Policy::random && coin());
    if (!revert) continue;
    std::memcpy(reinterpret_cast<void*>(line), l.old.data(), kLine);
    ++reverted;
  }
  lines_.clear();
  return reverted;
}

}  // namespace hsls::nvm
