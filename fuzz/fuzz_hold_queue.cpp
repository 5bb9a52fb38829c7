// The external-synchrony hold queue (vmm/net/hold_queue.h) driven by a
// fuzzed sequence of operations, against a model (a plain deque):
// push, release up to a version (oldest first, only frames of epochs at or
// below it), serialize/deserialize round trips, and deserialize of
// arbitrary bytes (a saved checkpoint's frames): accepted bytes must
// serialize back to themselves, refused ones leave the queue as it was.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <string>
#include <vector>

#include "vmm/net/hold_queue.h"

using namespace hsls::net;

namespace {

struct Frame {
  uint64_t epoch;
  std::vector<uint8_t> bytes;
};

[[noreturn]] void broken(const char* what) {
  std::fprintf(stderr, "fuzz_hold_queue: %s\n", what);
  std::abort();
}

std::vector<uint8_t> serialized(const HoldQueue& q) {
  std::vector<uint8_t> out;
  q.serialize(out);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  size_t max = in.ConsumeIntegralInRange<size_t>(1, 256);
  HoldQueue q(max);
  std::deque<Frame> model;
  uint64_t now = 0;
  while (in.remaining_bytes() > 0) {
    now += in.ConsumeIntegralInRange<uint64_t>(0, 1u << 20);
    switch (in.ConsumeIntegralInRange<int>(0, 4)) {
      case 0: {  // TX holds a frame (it never pushes into a full queue)
        if (q.full()) break;
        uint64_t epoch = in.ConsumeIntegral<uint64_t>();
        auto bytes = in.ConsumeBytes<uint8_t>(in.ConsumeIntegralInRange<size_t>(0, HoldQueue::kMaxFrameBytes));
        q.push(epoch, bytes, now);
        model.push_back({epoch, bytes});
        break;
      }
      case 1: {  // a checkpoint committed
        uint64_t committed = in.ConsumeIntegral<uint64_t>();
        std::vector<Frame> sent;
        size_t n = q.release(committed, now, [&](const HeldFrame& f) { sent.push_back({f.epoch, f.bytes}); });
        if (n != sent.size()) broken("release() miscounted");
        for (const auto& f : sent) {
          if (model.empty() || model.front().epoch != f.epoch || model.front().bytes != f.bytes)
            broken("release() sent a frame out of order");
          if (f.epoch > committed) broken("release() sent a frame of an uncommitted epoch");
          model.pop_front();
        }
        if (!model.empty() && model.front().epoch <= committed) broken("release() kept a committed frame at the head");
        break;
      }
      case 2: {  // checkpoint, then recovery of it: the frames come back as they were
        auto bytes = serialized(q);
        HoldQueue r(max);
        std::string why;
        if (!r.deserialize(bytes, now, why)) broken(("a serialized queue was refused: " + why).c_str());
        if (serialized(r) != bytes) broken("serialize(deserialize(x)) != x for a queue's own bytes");
        break;
      }
      case 3: {  // a saved state's frames, as the NVM file holds them
        auto bytes = in.ConsumeBytes<uint8_t>(in.ConsumeIntegralInRange<size_t>(0, 4096));
        auto before = serialized(q);
        std::string why;
        if (q.deserialize(bytes, now, why)) {
          if (serialized(q) != bytes) broken("accepted bytes do not serialize back to themselves");
          if (q.size() > max) broken("deserialize took more frames than the queue holds");
          model.clear();
          q.release(UINT64_MAX, now, [&](const HeldFrame& f) {
            if (f.bytes.size() > HoldQueue::kMaxFrameBytes) broken("a restored frame longer than TX ever holds");
            model.push_back({f.epoch, f.bytes});
          });
          if (!q.deserialize(bytes, now, why)) broken("the same bytes were refused the second time");
        } else {
          if (why.empty()) broken("a refusal without a reason");
          if (serialized(q) != before) broken("a refused deserialize changed the queue");
        }
        break;
      }
      case 4:
        q.stats();
        break;
    }
    if (q.size() != model.size()) broken("size() disagrees with the model");
  }
  return 0;
}
