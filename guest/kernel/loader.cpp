#include "kernel/loader.h"

#include "abi/syscall.h"
#include "arch/x86/memory.h"
#include "kernel/cap_group.h"
#include "kernel/clock.h"
#include "kernel/descriptor.h"
#include "kernel/pmo.h"
#include "kernel/smp.h"
#include "kernel/thread.h"
#include "kernel/vmspace.h"
#include "lib/string.h"

extern "C" const ProgramImage user_programs[];  // programs.S (generated)
extern "C" const u64 user_program_count;

namespace {

struct Ehdr {
  u8 ident[16];
  u16 type, machine;
  u32 version;
  u64 entry, phoff, shoff;
  u32 flags;
  u16 ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
};
struct Phdr {
  u32 type, flags;
  u64 offset, vaddr, paddr, filesz, memsz, align;
};
constexpr u32 PT_LOAD = 1, PF_W = 2;

bool same(const char* a, unsigned len, const char* b) {
  unsigned i = 0;
  for (; i < len; i++)
    if (a[i] != b[i]) return false;
  return b[i] == '\0';
}

}  // namespace

const ProgramImage* Loader::find(const char* name, unsigned len) {
  for (u64 i = 0; i < user_program_count; i++)
    if (same(name, len, user_programs[i].name)) return &user_programs[i];
  return nullptr;
}

CapGroup* Loader::spawn(const char* name, unsigned name_len, const char* args, unsigned args_len, CapGroup* parent,
                        Cap* ctl, int cpu, i64* parent_slot, i64* err, const PassCap* pass, unsigned npass) {
  const ProgramImage* img = find(name, name_len);
  *err = -sys::ENOENT;
  if (!img) return nullptr;
  *err = -sys::EINVAL;
  const auto* eh = reinterpret_cast<const Ehdr*>(img->data);
  if (img->size < sizeof(Ehdr) || eh->ident[0] != 0x7f || eh->ident[1] != 'E' || eh->ident[4] != 2 ||
      eh->phentsize != sizeof(Phdr) || eh->phoff + u64(eh->phnum) * sizeof(Phdr) > img->size)
    return nullptr;
  const auto* ph = reinterpret_cast<const Phdr*>(img->data + eh->phoff);

  *err = -sys::ENOMEM;
  char pname[CapGroup::NAME_LEN] = {};
  for (unsigned i = 0; i < name_len && i + 1 < sizeof pname; i++) pname[i] = name[i];
  CapGroup* g = CapGroup::create(pname, parent);
  if (!g) return nullptr;
  // The parent's capability is the root of this CapGroup's derivation tree.
  i64 pslot = parent ? parent->install(g, sys::R_ALL) : g->install(g, sys::R_ALL, sys::SLOT_SELF);
  i64 self = parent ? (pslot >= 0 ? CapGroup::derive(parent->at(pslot), g, sys::R_READ, sys::SLOT_SELF) : pslot) : pslot;
  if (self < 0) {
    *err = self;
    if (pslot >= 0 && parent) CapGroup::remove(parent->at(pslot));
    return nullptr;
  }
  if (parent_slot) *parent_slot = pslot;
  g->get();  // held while we build it
  bool ok = false;
  do {
    // Passed capabilities first: they take the slots right after the well-known ones.
    unsigned k = 0;
    for (; k < npass; k++) {
      i64 at = sys::SLOT_PASSED + k;
      if ((pass[k].from ? CapGroup::derive(pass[k].from, g, pass[k].rights, at)
                        : g->install(pass[k].obj, pass[k].rights, at)) < 0)
        break;
    }
    if (k < npass) break;
    VMSpace* v = VMSpace::create();
    if (!v) break;
    v->owner = g;
    g->vms = v;
    if (g->install(v, sys::R_ALL, sys::SLOT_VMSPACE) < 0) break;

    // The file, read-only at its base; zero pages for writable segments.
    Pmo* file = Pmo::create_phys(image_to_phys(img->data), (img->size + PAGE_SIZE - 1) / PAGE_SIZE, true);
    if (!file) break;
    g->install(file, sys::R_READ | sys::R_MAP);
    if (v->map(file, sys::USER_IMAGE_BASE, sys::PROT_READ | sys::PROT_EXEC) < 0) break;
    bool seg_ok = true;
    for (unsigned i = 0; i < eh->phnum && seg_ok; i++) {
      const Phdr& p = ph[i];
      if (p.type != PT_LOAD) continue;
      if (!(p.flags & PF_W)) {
        seg_ok = p.vaddr - p.offset == sys::USER_IMAGE_BASE;  // covered by the file mapping
        continue;
      }
      Vaddr start = p.vaddr & ~Vaddr(PAGE_SIZE - 1);
      u64 pages = (p.vaddr + p.memsz - start + PAGE_SIZE - 1) / PAGE_SIZE;
      Pmo* data = Pmo::create(pages, Pmo::ANON);
      seg_ok = data && g->install(data, sys::R_ALL) >= 0 && v->map(data, start, sys::PROT_READ | sys::PROT_WRITE) == 0;
    }
    if (!seg_ok) break;

    // Stack, with StartInfo and the argument strings at its top.
    Pmo* stack = Pmo::create(sys::USER_STACK_PAGES, Pmo::ANON);
    if (!stack || g->install(stack, sys::R_ALL) < 0) break;
    Vaddr stack_base = sys::USER_STACK_TOP - sys::USER_STACK_PAGES * PAGE_SIZE;
    if (v->map(stack, stack_base, sys::PROT_READ | sys::PROT_WRITE) < 0) break;
    Paddr top = stack->page(sys::USER_STACK_PAGES - 1, true);
    if (!top) break;
    v->fault(sys::USER_STACK_TOP - PAGE_SIZE, true);  // map it now: the program starts there
    constexpr u64 INFO_OFF = PAGE_SIZE - 1024;       // StartInfo, then strings up to the page end
    auto* si = phys_to_virt<sys::StartInfo>(top + INFO_OFF);
    char* str = phys_to_virt<char>(top + INFO_OFF + sizeof(sys::StartInfo));
    Vaddr str_va = sys::USER_STACK_TOP - PAGE_SIZE + INFO_OFF + sizeof(sys::StartInfo);
    unsigned room = 1024 - sizeof(sys::StartInfo) - 1;
    si->tsc_hz = Clock::tsc_hz();
    si->ncpus = Smp::online();
    si->pid = g->pid;
    si->passed = npass;
    unsigned argc = 0, used = 0;
    // argv[0] = name, then the space-separated words of args.
    auto add = [&](const char* s, unsigned n) {
      if (argc >= 15 || used + n + 1 > room) return;
      si->argv[argc++] = reinterpret_cast<const char*>(str_va + used);
      memcpy(str + used, s, n);
      str[used + n] = '\0';
      used += n + 1;
    };
    add(name, name_len);
    for (unsigned i = 0; i < args_len;) {
      while (i < args_len && args[i] == ' ') i++;
      unsigned s = i;
      while (i < args_len && args[i] != ' ') i++;
      if (i > s) add(args + s, i - s);
    }
    si->argc = argc;
    for (unsigned i = argc; i < 15; i++) si->argv[i] = nullptr;
    Vaddr si_va = sys::USER_STACK_TOP - PAGE_SIZE + INFO_OFF;

    if (ctl && CapGroup::derive(ctl, g, sys::R_READ | sys::R_WRITE, sys::SLOT_CONTROL) < 0) break;
    Thread* t = Thread::create(g, v, eh->entry, si_va - 8, si_va, cpu);
    if (!t) break;
    g->install(t, sys::R_ALL, sys::SLOT_THREAD);
    ok = true;
  } while (false);
  if (!ok) {
    g->exit(hsls_desc::PROC_EXITED, -1);
    if (parent && pslot >= 0) CapGroup::remove(parent->at(pslot));
    g->put();
    return nullptr;
  }
  Descriptor::proc_update(g);
  g->put();
  *err = 0;
  return g;
}
