#include "kernel/page_alloc.h"

#include "kernel/descriptor.h"

#include "arch/x86/memory.h"
#include "kernel/paging.h"
#include "kernel/spinlock.h"
#include "lib/string.h"

MemRange PageAlloc::ranges_[BootInfo::MAX_RANGES];
unsigned PageAlloc::count_;
unsigned PageAlloc::cur_;
Paddr PageAlloc::bump_;
Paddr PageAlloc::mapped_end_;
Paddr PageAlloc::free_head_;
u64 PageAlloc::free_count_;
u64 PageAlloc::avail_;
u64 PageAlloc::total_;

namespace {

Spinlock lock;
constexpr Paddr CHUNK = 0x200000;
constexpr u64 RESERVE = 3 * PAGE_SIZE;  // grow() needs at most 2 table pages

Paddr page_up(Paddr a) { return (a + PAGE_SIZE - 1) & ~Paddr(PAGE_SIZE - 1); }
Paddr page_down(Paddr a) { return a & ~Paddr(PAGE_SIZE - 1); }

}  // namespace

void PageAlloc::init(Paddr reserved_end) {
  // Page-aligned RAM ranges above reserved_end, sorted by address.
  for (unsigned i = 0; i < BootInfo::range_count(); i++) {
    const MemRange& r = BootInfo::range(i);
    if (r.type != BootInfo::E820_RAM) continue;
    Paddr start = page_up(r.start > reserved_end ? r.start : reserved_end);
    Paddr end = page_down(r.end);
    if (start >= end) continue;
    unsigned j = count_++;
    while (j && ranges_[j - 1].start > start) {
      ranges_[j] = ranges_[j - 1];
      j--;
    }
    ranges_[j] = MemRange{start, end, BootInfo::E820_RAM};
  }
  for (unsigned i = 0; i < count_; i++) total_ += (ranges_[i].end - ranges_[i].start) / PAGE_SIZE;
  avail_ = total_;
  cur_ = 0;
  bump_ = count_ ? ranges_[0].start : 0;
  mapped_end_ = BOOT_MAP_END;
}

Paddr PageAlloc::peek() {
  while (cur_ < count_ && bump_ >= ranges_[cur_].end) {
    if (++cur_ < count_ && bump_ < ranges_[cur_].start) bump_ = ranges_[cur_].start;
  }
  return cur_ < count_ ? bump_ : 0;
}

Paddr PageAlloc::take_table() {
  Paddr p = peek();
  if (!p || p >= mapped_end_) return 0;
  bump_ = p + PAGE_SIZE;
  avail_--;
  memset(phys_to_virt(p), 0, PAGE_SIZE);
  return p;
}

bool PageAlloc::grow() {
  Paddr next = 0;
  for (unsigned i = cur_; i < count_ && !next; i++) {
    if (ranges_[i].end <= mapped_end_) continue;
    next = ranges_[i].start > mapped_end_ ? ranges_[i].start : mapped_end_;
  }
  if (!next) return false;
  Paddr chunk = next & ~(CHUNK - 1);
  u64* pde = PageTable::kernel().entry(PHYS_BASE + chunk, 2, &PageAlloc::take_table);
  if (!pde) return false;
  if (!(*pde & PageTable::P)) {
    Paddr pt = take_table();
    if (!pt) return false;
    u64* e = phys_to_virt<u64>(pt);
    // Accessed and dirty preset: the CPU never writes the table back.
    constexpr u64 kFlags = PageTable::P | PageTable::W | PageTable::A | PageTable::D;
    for (unsigned i = 0; i < 512; i++) e[i] = (chunk + i * PAGE_SIZE) | kFlags;
    *pde = pt | kFlags;
  }
  mapped_end_ = chunk + CHUNK;
  return true;
}

Paddr PageAlloc::take() {
  Paddr p = peek();
  if (!p) return 0;
  if (p + RESERVE > mapped_end_) {
    grow();
    p = peek();
  }
  if (!p || p >= mapped_end_) return 0;
  bump_ = p + PAGE_SIZE;
  return p;
}

Paddr PageAlloc::alloc() {
  IrqLockGuard guard(lock);
  if (free_head_) {
    Paddr p = free_head_;
    free_head_ = *phys_to_virt<Paddr>(p);
    free_count_--;
    avail_--;
    return p;
  }
  Paddr p = take();
  if (p) avail_--;
  return p;
}

Paddr PageAlloc::alloc_clean() {
  Paddr p;
  bool fresh;
  {
    IrqLockGuard guard(lock);
    p = take();
    fresh = p != 0;
    if (!p && free_head_) {
      p = free_head_;
      free_head_ = *phys_to_virt<Paddr>(p);
      free_count_--;
    }
    if (p) avail_--;
  }
  if (!p) return 0;
  u64* w = phys_to_virt<u64>(p);
  if (!fresh || w[0] || w[511]) {
    memset(w, 0, PAGE_SIZE);
    Descriptor::kernel_zeroed();
  }
  return p;
}

Paddr PageAlloc::alloc_zeroed() {
  Paddr p = alloc();
  if (p) memset(phys_to_virt(p), 0, PAGE_SIZE);
  return p;
}

void PageAlloc::free(Paddr page) {
  if (!page) return;
  IrqLockGuard guard(lock);
  *phys_to_virt<Paddr>(page) = free_head_;
  free_head_ = page;
  free_count_++;
  avail_++;
}

u64 PageAlloc::free_pages() {
  IrqLockGuard guard(lock);
  u64 n = free_count_;
  peek();
  for (unsigned i = cur_; i < count_; i++) {
    Paddr start = i == cur_ ? bump_ : ranges_[i].start;
    if (ranges_[i].end > start) n += (ranges_[i].end - start) / PAGE_SIZE;
  }
  return n;
}
