#include "vmm/core/huge_heap.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>

#include "vmm/core/log.h"

namespace hsls {

namespace {
constexpr uintptr_t kHugePage = 2 << 20;
void* g_unaligned_head = nullptr;  // kept allocated for the process's life
}  // namespace

size_t back_heap_with_huge_pages(size_t bytes) {
  if (g_unaligned_head) return 0;
  // Allocated from the top of the heap, which grows to hold it; freed, it
  // joins the top again, and the heap's next allocations start where it did.
  void* grown = std::malloc(bytes);
  if (!grown) return 0;
  const uintptr_t start = uintptr_t(grown);
  const uintptr_t end = uintptr_t(::sbrk(0));
  std::free(grown);
  // Past the page malloc wrote its chunk header on: a 2 MiB range with one
  // small page already mapped in it cannot become a huge page.
  const uintptr_t lo = (start + kHugePage) & ~(kHugePage - 1);
  const uintptr_t hi = end & ~(kHugePage - 1);
  if (end < start || hi <= lo || hi - lo < kHugePage) return 0;  // not from the heap (mmap), or too small
  if (::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_HUGEPAGE) != 0) {
    log::get("vmm")->debug("no huge pages for the heap: madvise refused");
    return 0;
  }
  // [start, lo) stays allocated, so the next chunk's header lands at lo;
  // unless malloc found room for it elsewhere (a heap with free blocks that
  // large), and then the next allocations do not start at lo either.
  g_unaligned_head = std::malloc(lo - start);
  if (uintptr_t(g_unaligned_head) != start) {
    log::get("vmm")->debug("heap on huge pages: the head went elsewhere; next allocations may miss them");
    return 0;
  }
  return hi - lo;
}

}  // namespace hsls
