#include "kernel/pmo.h"

#include "arch/x86/memory.h"
#include "kernel/descriptor.h"
#include "kernel/page_alloc.h"

Pmo* Pmo::create(u64 pages, Kind kind) {
  if (!pages || pages > MAX_PAGES || kind == PHYS) return nullptr;
  Pmo* p = knew<Pmo>();
  if (!p) return nullptr;
  p->kind = kind;
  p->pages = pages;
  Descriptor::created(ObjType::Pmo);
  if (kind == DMA) {
    p->refs = 1;
    for (u64 i = 0; i < pages; i++) {
      if (!p->page(i, true)) {
        p->refs = 0;
        destroy(p);
        return nullptr;
      }
    }
    p->refs = 0;
  }
  return p;
}

Pmo* Pmo::create_phys(Paddr base, u64 pages, bool readonly) {
  Pmo* p = knew<Pmo>();
  if (!p) return nullptr;
  p->kind = PHYS;
  p->base = base;
  p->pages = pages;
  p->readonly = readonly;
  Descriptor::created(ObjType::Pmo);
  return p;
}

Paddr Pmo::page(u64 i, bool commit) {
  if (i >= pages) return 0;
  if (kind == PHYS) return base + i * PAGE_SIZE;
  Paddr* slot;
  if (pages <= DIRECT) {
    slot = &direct_[i];
  } else {
    if (!root_) {
      if (!commit || !(root_ = PageAlloc::alloc_clean())) return 0;
    }
    Paddr& leaf = phys_to_virt<Paddr>(root_)[i / 512];
    if (!leaf) {
      if (!commit || !(leaf = PageAlloc::alloc_clean())) return 0;
    }
    slot = &phys_to_virt<Paddr>(leaf)[i % 512];
  }
  if (!*slot && commit) {
    *slot = PageAlloc::alloc_clean();
    if (*slot) {
      committed++;
      Descriptor::pages_changed();
    }
  }
  return *slot;
}

void Pmo::destroy(Pmo* p) {
  if (p->kind != PHYS) {
    if (p->pages <= DIRECT) {
      for (unsigned i = 0; i < p->pages; i++) PageAlloc::free(p->direct_[i]);
    } else if (p->root_) {
      Paddr* root = phys_to_virt<Paddr>(p->root_);
      for (u64 l = 0; l * 512 < p->pages; l++) {
        if (!root[l]) continue;
        Paddr* leaf = phys_to_virt<Paddr>(root[l]);
        u64 n = p->pages - l * 512 < 512 ? p->pages - l * 512 : 512;
        for (u64 i = 0; i < n; i++) PageAlloc::free(leaf[i]);
        PageAlloc::free(root[l]);
      }
      PageAlloc::free(p->root_);
    }
    Descriptor::pages_changed();
  }
  Descriptor::destroyed(ObjType::Pmo);
  kdelete(p);
}
