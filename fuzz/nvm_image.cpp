#include "fuzz/nvm_image.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>

#include "ckpt/oracle.h"
#include "ckpt/state.h"
#include "nvm/journal.h"
#include "nvm/store.h"
#include "vmm/core/log.h"

namespace hsls::fuzz {
namespace {

constexpr uint64_t kPage = nvm::kPage;

// 16 recognisable bytes at the start of a page: what it is, which page, which version.
void mark(uint8_t* page, const char* what, uint64_t p, uint64_t version) {
  std::memcpy(page, what, 4);
  uint32_t p32 = uint32_t(p);
  std::memcpy(page + 4, &p32, 4);
  std::memcpy(page + 8, &version, 8);
}

}  // namespace

MemFile::MemFile() {
  fd_ = ::memfd_create("hsls-fuzz-nvm", MFD_CLOEXEC);
  if (fd_ < 0) std::abort();
  path_ = "/proc/self/fd/" + std::to_string(fd_);
}

MemFile::~MemFile() { ::close(fd_); }

void MemFile::write(const std::vector<uint8_t>& image, uint64_t size) {
  size = std::min<uint64_t>(size, image.size());
  if (::ftruncate(fd_, 0) != 0 || ::ftruncate(fd_, off_t(size)) != 0) std::abort();
  static const uint8_t zero[kPage] = {};
  for (uint64_t off = 0; off < size; off += kPage) {
    size_t n = size_t(std::min<uint64_t>(kPage, size - off));
    if (std::memcmp(image.data() + off, zero, n) == 0) continue;
    if (::pwrite(fd_, image.data() + off, n, off_t(off)) != ssize_t(n)) std::abort();
  }
}

void MemFile::read(std::vector<uint8_t>& out) const {
  struct stat st{};
  if (::fstat(fd_, &st) != 0) std::abort();
  out.resize(size_t(st.st_size));
  if (!out.empty() && ::pread(fd_, out.data(), out.size(), 0) != ssize_t(out.size())) std::abort();
}

std::vector<uint8_t> valid_state(unsigned vcpus, uint64_t g, std::span<const uint8_t> devices) {
  ckpt::StateLayout sl;
  std::vector<uint8_t> out(sl.total(vcpus, devices.size()), 0);
  ckpt::MachineStateHeader h;
  h.vcpus = vcpus;
  h.version_tag = g;
  h.total_bytes = out.size();
  h.set_accel("tcg");
  std::memcpy(out.data(), &h, sizeof h);
  for (unsigned i = 0; i < vcpus; ++i) {
    ckpt::VcpuState v{};
    v.version = ckpt::VcpuState::kVersion;
    v.cpu = accel::CpuState{};
    v.cpu.index = i;
    v.lapic = platform::LapicState{};
    std::memcpy(out.data() + sl.vcpu(i), &v, sizeof v);
  }
  platform::PlatformState p{};
  std::memcpy(out.data() + sl.platform(vcpus), &p, sizeof p);
  SerialState s{};
  std::memcpy(out.data() + sl.serial(vcpus), &s, sizeof s);
  uint64_t n = devices.size();
  std::memcpy(out.data() + sl.devices(vcpus), &n, 8);
  if (n) std::memcpy(out.data() + sl.devices(vcpus) + 8, devices.data(), n);
  return out;
}

std::vector<uint8_t> make_image(uint64_t pages, unsigned vcpus, uint64_t g, std::span<const uint8_t> state) {
  static unsigned seq = 0;
  std::string path = "/dev/shm/hsls-fuzz-" + std::to_string(::getpid()) + "-" + std::to_string(seq++) + ".nvm";
  ::unlink(path.c_str());
  // Created and formatted by the real Store; removed again when it goes (never kept).
  nvm::Store s(path, pages * kPage, vcpus, false, false);
  const nvm::Layout& l = s.layout();
  auto commit = [&](uint64_t v, std::span<const uint8_t> st) {
    unsigned slot = unsigned(v % 2);
    size_t n = std::min<size_t>(st.size(), nvm::kStateSlotBytes);
    std::memcpy(s.state_slot(slot), st.data(), n);
    nvm::CheckpointRecord rec{};
    rec.version = v;
    rec.unix_ns = 1'700'000'000'000'000'000ull + v;
    rec.state_offset = l.state[slot];
    rec.state_bytes = n;
    rec.state_checksum = ckpt::bytes_digest(s.state_slot(slot), n);
    rec.pages_dirty = rec.pages_copied = pages / 3 + 1;
    rec.pause_ns = 50'000;
    s.journal().append(rec);
    s.journal().commit(v);
  };
  if (g >= 2) {
    auto older = valid_state(vcpus, g - 1);
    commit(g - 1, older);
  }
  if (g >= 1) commit(g, state);
  unsigned slot = unsigned(g % 2), other = 1 - slot;
  for (uint64_t p = 0; p < pages; ++p) {
    mark(s.ram() + p * kPage, "RAM ", p, 0);
    if (g >= 1 && p % 3 == 0) {
      mark(s.backup(p, slot), "BAK ", p, g);
      *s.tag(p, slot) = g;
    }
    if (g >= 2 && p % 3 == 1) {
      mark(s.backup(p, other), "BAK ", p, g - 1);
      *s.tag(p, other) = g - 1;
    }
    if (g >= 1 && p % 3 == 2 && p % 4 != 2) {  // re-tagged at g: G's backup in the other slot
      mark(s.backup(p, other), "BAK ", p, g);
      *s.tag(p, other) = g;
    }
    if (p % 4 == 2) {  // a checkpoint g+1 that failed before its commit
      mark(s.backup(p, other), "BAK ", p, g + 1);
      *s.tag(p, other) = g + 1;
    }
  }
  return std::vector<uint8_t>(s.file(), s.file() + l.file_bytes);
}

void reseal_superblock(std::vector<uint8_t>& image) {
  if (image.size() < sizeof(nvm::Superblock)) return;
  nvm::Superblock sb;
  std::memcpy(&sb, image.data(), sizeof sb);
  sb.checksum = nvm::checksum(&sb, offsetof(nvm::Superblock, checksum));
  std::memcpy(image.data(), &sb, sizeof sb);
}

void reseal_record(std::vector<uint8_t>& image, const nvm::Layout& l, uint64_t version, bool state_too) {
  uint64_t at = l.journal + (version % nvm::kJournalRecords) * sizeof(nvm::CheckpointRecord);
  if (at + sizeof(nvm::CheckpointRecord) > image.size()) return;
  nvm::CheckpointRecord rec;
  std::memcpy(&rec, image.data() + at, sizeof rec);
  if (state_too && rec.state_offset <= image.size() && rec.state_bytes <= image.size() - rec.state_offset)
    rec.state_checksum = ckpt::bytes_digest(image.data() + rec.state_offset, rec.state_bytes);
  nvm::seal(rec);
  std::memcpy(image.data() + at, &rec, sizeof rec);
}

void silence_logs() {
  static bool done = [] { return log::set_level("off"); }();
  (void)done;
}

}  // namespace hsls::fuzz
