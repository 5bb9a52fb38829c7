// The guest's kvd request parser and table (guest/user/kvd_proto.h, the
// code kvd runs, built for the host): a fuzzed sequence of datagrams, each
// answered into a buffer of exactly the size kvd replies from (so ASan sees
// any byte past it), checked against a model of docs/kvd-protocol.md (a
// std::map): every reply is the one the protocol prescribes.
// One input in 32 starts with the table filled to its capacity (SET beyond
// it answers ERR full; DEL frees entries that SET reuses).
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "user/kvd_proto.h"

namespace {

[[noreturn]] void broken(const std::string& what, const std::string& req, const std::string& got) {
  std::fprintf(stderr, "fuzz_kvd: %s\n  request: '%s'\n  reply:   '%s'\n", what.c_str(), req.c_str(), got.c_str());
  std::abort();
}

// The protocol, from docs/kvd-protocol.md. A table filled to its capacity
// first holds the keys prefill_key(0..CAPACITY-1), each with value "v";
// they are modelled lazily (only what changed of them is stored).
std::string prefill_key(u32 i) { return "\xff" + std::to_string(i); }

struct Model {
  bool prefilled = false;
  std::map<std::string, std::optional<std::string>> kv;  // nullopt: a prefilled key deleted
  uint64_t keys = 0, sets = 0, gets = 0, dels = 0;

  static bool is_prefilled(const std::string& k) {
    if (k.size() < 2 || k[0] != '\xff' || (k[1] == '0' && k.size() > 2) || k.size() > 6) return false;
    u32 v = 0;
    for (size_t i = 1; i < k.size(); ++i) {
      if (k[i] < '0' || k[i] > '9') return false;
      v = v * 10 + u32(k[i] - '0');
    }
    return v < CAPACITY;
  }
  std::optional<std::string> lookup(const std::string& k) const {
    auto it = kv.find(k);
    if (it != kv.end()) return it->second;
    if (prefilled && is_prefilled(k)) return std::string("v");
    return std::nullopt;
  }
  static bool id_char(unsigned char c) { return c > ' ' && c < 0x7f; }
  static bool key_ok(const std::string& k) {
    if (k.empty() || k.size() > MAX_KEY) return false;
    for (unsigned char c : k)
      if (c < 0x80 && !id_char(c)) return false;
    return true;
  }

  // The reply to `req` ("" for none).
  std::string answer(std::string req) {
    if (!req.empty() && req.back() == '\n') req.pop_back();
    size_t sp = req.find(' ');
    std::string id = req.substr(0, sp);
    if (id.empty() || id.size() > MAX_ID) return "";
    for (unsigned char c : id)
      if (!id_char(c)) return "";
    std::string out = id + " ";
    std::string rest = sp == std::string::npos ? "" : req.substr(sp + 1);
    size_t sp2 = rest.find(' ');
    std::string cmd = rest.substr(0, sp2);
    bool has_args = sp2 != std::string::npos;
    std::string args = has_args ? rest.substr(sp2 + 1) : "";
    if (cmd == "SET") {
      size_t ks = args.find(' ');
      if (!has_args || ks == std::string::npos || !key_ok(args.substr(0, ks)) || args.size() - ks - 1 > MAX_VALUE)
        return out + "ERR bad request";
      std::string key = args.substr(0, ks);
      bool fresh = !lookup(key);
      if (fresh && keys >= CAPACITY) return out + "ERR full";
      kv[key] = args.substr(ks + 1);
      keys += fresh;
      ++sets;
      return out + "OK";
    }
    if (cmd == "GET" || cmd == "DEL") {
      if (!has_args || !key_ok(args)) return out + "ERR bad key";
      auto v = lookup(args);
      if (cmd == "GET") {
        ++gets;
        return out + (v ? "VALUE " + *v : "NOTFOUND");
      }
      ++dels;
      if (!v) return out + "NOTFOUND";
      kv[args] = std::nullopt;
      --keys;
      return out + "OK";
    }
    if (cmd == "STATS" && !has_args)
      return out + "STATS keys=" + std::to_string(keys) + " sets=" + std::to_string(sets) +
             " gets=" + std::to_string(gets) + " dels=" + std::to_string(dels);
    return out + "ERR unknown command";
  }
};

// kvd's state as the guest starts it (its .bss: all zero).
void reset_table() {
  top = free_list = nkeys = 0;
  std::memset(buckets, 0, sizeof buckets);
  sets = 0;
  gets = 0;
  dels = 0;
  errors = 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static std::unique_ptr<char[]> reply(new char[REPLY_MAX]);
  FuzzedDataProvider in(data, size);
  reset_table();
  Model model;
  if (in.ConsumeIntegralInRange<int>(0, 31) == 0) {  // a full table (costly: 1 input in 32)
    static const std::vector<std::string> keys = [] {
      std::vector<std::string> k;
      for (u32 i = 0; i < CAPACITY; ++i) k.push_back(prefill_key(i));
      return k;
    }();
    for (const auto& key : keys)
      if (!put(key.data(), u32(key.size()), "v", 1)) broken("the table is full before its capacity", key, "");
    model.prefilled = true;
    model.keys = CAPACITY;
  }
  while (in.remaining_bytes() > 0) {
    // One datagram, in a buffer of its own size (a UDP payload: up to 1472 bytes on Ethernet).
    std::string req = in.ConsumeRandomLengthString(1472);
    std::unique_ptr<char[]> buf(new char[req.size()]);
    std::memcpy(buf.get(), req.data(), req.size());
    u32 n = answer(buf.get(), u32(req.size()), reply.get());
    if (n > REPLY_MAX) broken("a reply longer than the reply buffer", req, "");
    std::string got(reply.get(), n);
    std::string want = model.answer(req);
    if (got != want) broken("the reply is not the protocol's (want '" + want + "')", req, got);
    if (nkeys != model.keys) broken("the key count drifted from the model", req, got);
  }
  return 0;
}
