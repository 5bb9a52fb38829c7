#include "vmm/accel/tcg/uc_cpu.h"

#include <mutex>

#include <fmt/format.h>

#include "vmm/core/error.h"
#include "vmm/core/log.h"
#include "vmm/accel/tcg/uc_probe.h"
#include "uc_probed.h"  // generated: the probes' answers for the Unicorn linked in

namespace hsls::accel::tcg {
namespace {

constexpr uint32_t kDescB = 1u << 22, kDescL = 1u << 21;

void check(uc_err err, const char* what) {
  if (err != UC_ERR_OK) throw Error(fmt::format("Unicorn: {}: {}", what, uc_strerror(err)));
}

}  // namespace

const UcLayout& uc_layout() {
  if (*probed::kLayoutFailure) throw Error(probed::kLayoutFailure);
  return probed::kLayout;
}

uint64_t uc_refused_address(uc_engine* uc) {
  if (*probed::kRefusedFailure) throw Error(probed::kRefusedFailure);
  uint64_t v;
  std::memcpy(&v, reinterpret_cast<const uint8_t*>(uc) + probed::kRefusedOffset, 8);
  return v;
}

uint8_t* uc_live_cpu(uc_engine* uc) {
  if (*probed::kLiveFailure) {
    static std::once_flag said;
    std::call_once(said, [] { log::get("tcg")->debug("{}: CPU state is copied around each delivery", probed::kLiveFailure); });
    return nullptr;
  }
  // Unicorn builds an engine's CPU at its first use, not at uc_open: a
  // register read makes sure it exists before its address is taken.
  uint64_t rax = 0;
  check(uc_reg_read(uc, UC_X86_REG_RAX, &rax), "RAX");
  uint8_t* live = live_cpu_at(uc);
  if (live == reinterpret_cast<uint8_t*>(kEnvInCpuObject)) return nullptr;  // no CPU (cannot happen after the read)
  return live;
}

bool uc_enable_async_stop(uc_engine* uc) {
  const char* why = *probed::kAsyncFailure ? probed::kAsyncFailure : probed::kLiveFailure;
  if (*why) {
    log::get("tcg")->info("{}: stops go through a block hook (slower)", why);
    return false;
  }
  *no_exit_request_at(uc) = true;
  return true;
}

bool uc_halted(const uint8_t* live_cpu) {
  int32_t halted;
  std::memcpy(&halted, live_cpu - kHaltedBeforeCpu, 4);
  return halted != 0;
}

UcCpu::UcCpu(uc_engine* uc) : CpuBytes(nullptr), uc_(uc) {
  check(uc_context_alloc(uc, &ctx_), "uc_context_alloc");
  p_ = reinterpret_cast<uint8_t*>(ctx_) + uc_layout().data;
}

UcCpu::~UcCpu() {
  if (ctx_) uc_context_free(ctx_);
}


void UcCpu::save() { check(uc_context_save(uc_, ctx_), "uc_context_save"); }

void UcCpu::restore() { check(uc_context_restore(uc_, ctx_), "uc_context_restore"); }

Segment CpuBytes::segment_at(size_t off) const {
  Segment s;
  s.selector = uint16_t(get<uint32_t>(off));
  s.base = get<uint64_t>(off + 8);
  s.limit = get<uint32_t>(off + 16);
  uint32_t f = get<uint32_t>(off + 20);
  s.type = (f >> 8) & 0xf;
  s.s = (f >> 12) & 1;
  s.dpl = (f >> 13) & 3;
  s.present = (f >> 15) & 1;
  s.avl = (f >> 20) & 1;
  s.l = (f >> 21) & 1;
  s.db = (f >> 22) & 1;
  s.g = (f >> 23) & 1;
  s.unusable = s.present ? 0 : 1;
  return s;
}

void CpuBytes::set_segment_at(size_t off, const Segment& s) {
  set<uint32_t>(off, s.selector);
  set<uint64_t>(off + 8, s.base);
  set<uint32_t>(off + 16, s.limit);
  bool present = s.present && !s.unusable;
  uint32_t f = (uint32_t(s.type & 0xf) << 8) | (uint32_t(s.s & 1) << 12) | (uint32_t(s.dpl & 3) << 13) |
               (uint32_t(present) << 15) | (uint32_t(s.avl & 1) << 20) | (uint32_t(s.l & 1) << 21) |
               (uint32_t(s.db & 1) << 22) | (uint32_t(s.g & 1) << 23);
  set<uint32_t>(off + 20, f);
}

void CpuBytes::update_mode_flags(uint64_t cr0, uint64_t efer, uint64_t rflags) {
  const auto& L = uc_layout();
  uint32_t h = get<uint32_t>(L.hflags);
  uint32_t cs_flags = get<uint32_t>(L.segs + 24 * uc_cs + 20);
  uint32_t ss_flags = get<uint32_t>(L.segs + 24 * uc_ss + 20);
  h &= ~(hf::cpl | hf::cs32 | hf::ss32 | hf::addseg | hf::pe | hf::lma | hf::cs64);
  h |= (ss_flags >> 13) & 3;  // QEMU takes the CPL from SS.DPL
  if (cr0 & 1) h |= hf::pe;
  if (efer & (1u << 10)) h |= hf::lma;
  if ((h & hf::lma) && (cs_flags & kDescL)) {
    h |= hf::cs32 | hf::ss32 | hf::cs64;
  } else {
    if (cs_flags & kDescB) h |= hf::cs32;
    if (ss_flags & kDescB) h |= hf::ss32;
    bool vm86 = rflags & (1u << 17);
    if (!(cr0 & 1) || vm86 || !(h & hf::cs32)) {
      h |= hf::addseg;
    } else if (get<uint64_t>(L.segs + 24 * uc_ds + 8) | get<uint64_t>(L.segs + 24 * uc_es + 8) |
               get<uint64_t>(L.segs + 24 * uc_ss + 8)) {
      h |= hf::addseg;
    }
  }
  set<uint32_t>(L.hflags, h);
}

}  // namespace hsls::accel::tcg
