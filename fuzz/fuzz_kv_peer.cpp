// The built-in network peer (vmm/net/kv_peer.h) reads every frame a guest
// transmits: a hostile guest chooses them. Driven by a fuzzed sequence of
// operations: frames of arbitrary bytes, UDP answers with arbitrary text,
// honest answers from kvd's own parser (guest/user/kvd_proto.h), commits
// and power failures. Sanitizers catch a bad read; the target also checks
// that an honest kvd is never reported as having lost data, that nothing
// is acknowledged that was not sent, and that frames fit the reader's buffer.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "user/kvd_proto.h"
#include "vmm/net/kv_peer.h"

using hsls::net::KvPeer;

namespace {

[[noreturn]] void broken(const std::string& what) {
  std::fprintf(stderr, "fuzz_kv_peer: %s\n", what.c_str());
  std::abort();
}

// kvd's answer as the guest's stack sends it: the request's headers with source and destination swapped.
std::vector<uint8_t> reply_to(const std::vector<uint8_t>& req, const std::string& text) {
  std::vector<uint8_t> f(42 + text.size());
  std::memcpy(f.data(), req.data(), 42);
  std::memcpy(f.data(), req.data() + 6, 6);
  std::memcpy(f.data() + 6, req.data(), 6);
  std::memcpy(f.data() + 26, req.data() + 30, 4);
  std::memcpy(f.data() + 30, req.data() + 26, 4);
  std::memcpy(f.data() + 34, req.data() + 36, 2);
  std::memcpy(f.data() + 36, req.data() + 34, 2);
  std::memcpy(f.data() + 42, text.data(), text.size());
  uint16_t total = uint16_t(28 + text.size()), ulen = uint16_t(8 + text.size());
  f[16] = uint8_t(total >> 8), f[17] = uint8_t(total);
  f[38] = uint8_t(ulen >> 8), f[39] = uint8_t(ulen);
  return f;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  std::memset(buckets, 0, sizeof buckets);  // kvd's table starts empty
  free_list = top = nkeys = 0;
  KvPeer::Options opt;
  opt.seed = in.ConsumeIntegral<uint64_t>();
  opt.guest_mac = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
  KvPeer peer(opt);
  bool honest = true;  // only kvd's own answers so far
  std::vector<std::vector<uint8_t>> taken;
  for (int ops = 0; ops < 256 && in.remaining_bytes(); ++ops) {
    switch (in.ConsumeIntegralInRange<int>(0, 5)) {
      case 0: {  // the guest takes frames, into a buffer of some size
        uint8_t buf[2048];
        size_t cap = in.ConsumeIntegralInRange<size_t>(1, sizeof buf);
        size_t n = peer.read(buf, cap);
        if (n > cap) broken("a frame longer than the reader's buffer");
        if (n >= 42 && n == cap && cap < 1514) break;  // cut short: kvd would not see it whole
        if (n >= 42) taken.emplace_back(buf, buf + n);
        break;
      }
      case 1: {  // kvd answers what it took
        for (auto& f : taken) {
          uint16_t ulen = uint16_t(f[38] << 8 | f[39]);
          if (ulen < 8 || 34 + ulen > f.size()) broken("the peer sent a UDP length beyond its frame");
          char out[REPLY_MAX];
          u32 len = answer(reinterpret_cast<const char*>(f.data() + 42), ulen - 8, out);
          if (len) {
            auto r = reply_to(f, std::string(out, len));
            peer.write(r.data(), r.size());
          }
        }
        taken.clear();
        break;
      }
      case 2: {  // a frame of arbitrary bytes from the guest
        auto bytes = in.ConsumeBytes<uint8_t>(in.ConsumeIntegralInRange<size_t>(0, 1600));
        honest = false;
        peer.write(bytes.data(), bytes.size());
        break;
      }
      case 3: {  // a well-formed answer with arbitrary text
        if (taken.empty()) break;
        honest = false;
        auto r = reply_to(taken.front(), in.ConsumeRandomLengthString(300));
        peer.write(r.data(), r.size());
        break;
      }
      case 4: peer.committed(uint64_t(ops)); break;
      case 5:
        peer.power_lost();
        taken.clear();  // frames on the wire die with the machine
        break;
    }
  }
  auto s = peer.stats();
  if (s.sets_acked > s.sets_sent) broken("more SETs acknowledged than sent");
  if (honest && !peer.violation().empty()) broken("an honest kvd was reported: " + peer.violation());
  return 0;
}
