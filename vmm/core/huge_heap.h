// The heap's next megabytes on transparent huge pages, for a faster start.
#pragma once
#include <cstddef>

namespace hsls {

// Grows the main heap by `bytes`, asks the kernel for transparent huge
// pages on its 2 MiB-aligned part, and keeps the unaligned head allocated
// (untouched: address space only), so that the next allocations of this
// thread come from huge pages. Starting a machine touches ~1 MiB of fresh
// heap (Unicorn's translation-block hash table alone is 512 KiB): ~220
// first-touch faults of 10-25 us each on a PVM guest, against one fault
// and a 2 MiB clear (~150 us) on a huge page. Needs malloc to serve
// `bytes` from the heap (M_MMAP_THRESHOLD above it) and to keep freed
// memory (M_TRIM_THRESHOLD); with THP off, or if any step is refused,
// the heap stays as it was. Returns the bytes now on huge pages.
size_t back_heap_with_huge_pages(size_t bytes);

}  // namespace hsls
