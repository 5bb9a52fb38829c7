#include "vmm/net/hold_queue.h"

#include <algorithm>
#include <cstring>

namespace hsls::net {
namespace {
constexpr size_t kHoldSamples = 4096;
}  // namespace

void HoldQueue::push(uint64_t epoch, std::span<const uint8_t> frame, uint64_t now_ns) {
  frames_.push_back({epoch, now_ns, std::vector<uint8_t>(frame.begin(), frame.end())});
  ++queued_;
}

size_t HoldQueue::release(uint64_t committed, uint64_t now_ns, const std::function<void(const HeldFrame&)>& send) {
  size_t n = 0;
  while (!frames_.empty() && frames_.front().epoch <= committed) {
    const HeldFrame& f = frames_.front();
    send(f);
    auto us = uint32_t(std::min<uint64_t>(now_ns > f.queued_ns ? (now_ns - f.queued_ns) / 1000 : 0, UINT32_MAX));
    if (hold_us_.size() < kHoldSamples) hold_us_.push_back(us);
    else hold_us_[hold_next_++ % kHoldSamples] = us;
    frames_.pop_front();
    ++released_;
    ++n;
  }
  return n;
}

void HoldQueue::serialize(std::vector<uint8_t>& out) const {
  auto put = [&](const void* p, size_t n) {
    auto* b = static_cast<const uint8_t*>(p);
    out.insert(out.end(), b, b + n);
  };
  uint32_t count = uint32_t(frames_.size());
  put(&count, 4);
  for (const auto& f : frames_) {
    uint32_t len = uint32_t(f.bytes.size());
    put(&f.epoch, 8);
    put(&len, 4);
    put(f.bytes.data(), len);
  }
}

bool HoldQueue::deserialize(std::span<const uint8_t> in, uint64_t now_ns, std::string& why) {
  size_t pos = 0;
  auto get = [&](void* p, size_t n) {
    if (in.size() - pos < n) return false;
    std::memcpy(p, in.data() + pos, n);
    pos += n;
    return true;
  };
  uint32_t count = 0;
  if (!get(&count, 4) || count > max_frames_) {
    why = "held-frame count is missing or too large";
    return false;
  }
  std::deque<HeldFrame> frames;
  for (uint32_t i = 0; i < count; ++i) {
    HeldFrame f{0, now_ns, {}};
    uint32_t len = 0;
    if (!get(&f.epoch, 8) || !get(&len, 4) || in.size() - pos < len) {
      why = "held frame " + std::to_string(i) + " is truncated";
      return false;
    }
    if (len > kMaxFrameBytes) {
      why = "held frame " + std::to_string(i) + " has " + std::to_string(len) + " bytes (allowed: at most " +
            std::to_string(kMaxFrameBytes) + ")";
      return false;
    }
    f.bytes.assign(in.begin() + pos, in.begin() + pos + len);
    pos += len;
    frames.push_back(std::move(f));
  }
  if (pos != in.size()) {
    why = std::to_string(in.size() - pos) + " byte(s) follow the last held frame";
    return false;
  }
  frames_ = std::move(frames);
  restored_ += frames_.size();  // they leave (once more) after recovery
  return true;
}

nlohmann::json HoldQueue::stats() const {
  std::vector<uint32_t> s = hold_us_;
  std::sort(s.begin(), s.end());
  auto pct = [&](double q) { return s.empty() ? 0u : s[std::min(s.size() - 1, size_t(q * double(s.size())))]; };
  return {{"held", frames_.size()},
          {"queued", queued_},
          {"restored", restored_},
          {"released", released_},
          {"dropped_powerfail", dropped_},
          {"hold_us", {{"samples", s.size()}, {"p50", pct(0.5)}, {"p99", pct(0.99)}, {"max", s.empty() ? 0u : s.back()}}}};
}

}  // namespace hsls::net
