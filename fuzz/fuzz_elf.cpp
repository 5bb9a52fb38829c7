// The guest image loader (vmm/boot/elf_loader.h) on arbitrary bytes: the
// whole input is the image. plan_load must refuse it with an Error or
// return a plan that keeps its promises (every segment inside the file and
// inside one RAM range, at or above 1 MiB, no two overlapping, the PVH entry
// inside a segment's file bytes); a plan is then applied to guest RAM.
#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>

#include "vmm/boot/elf_loader.h"
#include "vmm/core/error.h"
#include "vmm/core/guest_memory.h"

using namespace hsls;

namespace {

// Guest RAM sizes the plan is checked against: the default 256 MiB, and 5
// GiB (RAM split around the device hole, the high part at 4 GiB), both
// sparse (only what apply_load touches is ever backed).
constexpr uint64_t kSmallRam = 256ull << 20;
constexpr uint64_t kLargeRam = 5ull << 30;
// apply_load runs only on plans that fill at most this much (it memsets the bss).
constexpr uint64_t kMaxApply = 8ull << 20;

uint8_t* sparse(uint64_t size) {
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) std::abort();
  return static_cast<uint8_t*>(p);
}

[[noreturn]] void broken(const char* promise) {
  std::fprintf(stderr, "fuzz_elf: plan_load accepted an image but broke its promise: %s\n", promise);
  std::abort();
}

void check(const boot::LoadPlan& plan, std::span<const uint8_t> image, const std::vector<RamRange>& ram) {
  if (plan.segments.empty()) broken("no segment");
  bool entry = false;
  for (size_t i = 0; i < plan.segments.size(); ++i) {
    const auto& s = plan.segments[i];
    if (s.file_offset > image.size() || s.file_size > image.size() - s.file_offset) broken("segment outside the file");
    if (s.file_size > s.mem_size) broken("file size above memory size");
    if (s.paddr < 0x100000) broken("segment below 1 MiB");
    bool in_ram = false;
    for (const auto& r : ram)
      if (s.paddr >= r.gpa && s.paddr - r.gpa <= r.size && s.mem_size <= r.size - (s.paddr - r.gpa)) in_ram = true;
    if (!in_ram) broken("segment outside guest RAM");
    if (plan.pvh_entry >= s.paddr && plan.pvh_entry - s.paddr < s.file_size) entry = true;
    if (plan.segments.size() <= 512)  // the quadratic check of the promise, for small plans
      for (size_t j = 0; j < i; ++j) {
        const auto& o = plan.segments[j];
        if (s.paddr < o.paddr + o.mem_size && o.paddr < s.paddr + s.mem_size) broken("two segments overlap");
      }
  }
  if (!entry) broken("entry point outside the loaded file bytes");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static uint8_t* small_host = sparse(kSmallRam);
  static uint8_t* large_host = sparse(kLargeRam);
  static GuestMemory small(small_host, kSmallRam);
  static GuestMemory large(large_host, kLargeRam);
  std::span<const uint8_t> image(data, size);
  for (GuestMemory* mem : {&small, &large}) {
    boot::LoadPlan plan;
    try {
      plan = boot::plan_load(image, mem->ranges(), "fuzz");
    } catch (const Error&) {
      continue;  // refused, with one line: fine
    }
    check(plan, image, mem->ranges());
    uint64_t fill = 0;
    for (const auto& s : plan.segments) fill += s.mem_size;
    if (fill <= kMaxApply) {
      boot::apply_load(plan, image, *mem);
      // Give the touched pages back, so that RAM stays sparse.
      for (const auto& s : plan.segments) {
        uint8_t* p = mem->host(s.paddr, s.mem_size);
        uintptr_t lo = reinterpret_cast<uintptr_t>(p) & ~uintptr_t(4095);
        uintptr_t hi = (reinterpret_cast<uintptr_t>(p) + s.mem_size + 4095) & ~uintptr_t(4095);
        ::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
      }
    }
  }
  return 0;
}
