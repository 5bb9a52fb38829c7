// External synchrony: frames the guest transmitted, each tagged with the
// epoch that queued it (the version the next checkpoint commits), held until
// that checkpoint has committed and then handed out in order. A power
// failure loses them with the rest of the VMM's memory. The frames still
// held when a checkpoint is taken are saved in it (serialize) and sent again
// after recovering that checkpoint.
#pragma once
#include <cstdint>
#include <deque>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace hsls::net {

struct HeldFrame {
  uint64_t epoch;
  uint64_t queued_ns;
  std::vector<uint8_t> bytes;
};

class HoldQueue {
 public:
  // The largest frame TX holds: an Ethernet frame with a VLAN tag and no
  // offloads negotiated; the 12-byte virtio-net header is not held. A
  // restored frame longer than this was never queued by TX.
  static constexpr size_t kMaxFrameBytes = 1518;

  explicit HoldQueue(size_t max_frames) : max_frames_(max_frames) {}

  bool full() const { return frames_.size() >= max_frames_; }
  size_t size() const { return frames_.size(); }
  void push(uint64_t epoch, std::span<const uint8_t> frame, uint64_t now_ns);
  // Hands every frame of an epoch <= `committed` to `send`, oldest first,
  // and records how long each was held. Returns how many.
  size_t release(uint64_t committed, uint64_t now_ns, const std::function<void(const HeldFrame&)>& send);
  // Counts the frames lost to a power failure (the queue dies with the VMM).
  void count_lost() { dropped_ += frames_.size(); }

  // The held frames as bytes: u32 count, then per frame u64 epoch, u32 length, bytes.
  void serialize(std::vector<uint8_t>& out) const;
  // Replaces the content with serialized frames; false (and `why`, the
  // content unchanged) if malformed: truncated, more than max_frames frames,
  // a frame longer than kMaxFrameBytes, or bytes after the last frame.
  bool deserialize(std::span<const uint8_t> in, uint64_t now_ns, std::string& why);

  // Counters (queued by the guest, restored from a checkpoint, released,
  // lost to a power failure) and the hold-time distribution (microseconds)
  // of the last frames released.
  nlohmann::json stats() const;
  uint64_t released() const { return released_; }

 private:
  size_t max_frames_;
  std::deque<HeldFrame> frames_;
  uint64_t queued_ = 0, restored_ = 0, released_ = 0, dropped_ = 0;
  std::vector<uint32_t> hold_us_;  // ring of recent hold times
  size_t hold_next_ = 0;
};

}  // namespace hsls::net
