// The pause's shared work on a real NVM file: whoever takes part (leader
// alone, a parked vCPU, a spare thread, the forked pause copier), every
// listed page ends up copied to its backup slot and every listed range
// write-protected (read back from /proc/self/pagemap), and a spare helper
// never write-protects.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "ckpt/pause_copier.h"
#include "ckpt/pause_work.h"
#include "ckpt/write_protect.h"
#include "nvm/store.h"
#include "tests/unit/temp_nvm.h"

using namespace hsls;
using namespace hsls::ckpt;
using nvm::kPage;

namespace {

constexpr uint64_t kMem = 8ull << 20;

// Whether the page at `addr` is write-protected by userfaultfd (pagemap bit 57).
bool uffd_protected(const void* addr) {
  int fd = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  uint64_t entry = 0;
  off_t off = off_t(reinterpret_cast<uintptr_t>(addr) / kPage * 8);
  REQUIRE(::pread(fd, &entry, 8, off) == 8);
  ::close(fd);
  return (entry >> 57) & 1;
}

// A store whose RAM pages are filled with their own number, and a
// write-protect registration over its RAM.
struct Rig {
  TempNvm file{"pause-work"};
  nvm::Store store{file.path, kMem, 1, true, false};
  WriteProtect wp{store.ram(), kMem};
  PauseWork work{store, wp};
  Rig() {
    for (uint64_t p = 0; p < store.layout().pages; ++p) {
      auto* w = reinterpret_cast<uint64_t*>(store.ram() + p * kPage);
      for (uint64_t i = 0; i < kPage / 8; ++i) w[i] = (p << 20) | i;
    }
  }
  bool backed_up(uint64_t page, unsigned slot) const {
    return std::memcmp(store.backup(page, slot), store.ram() + page * kPage, kPage) == 0;
  }
};

std::vector<uint64_t> every_third_page(uint64_t from, uint64_t n) {
  std::vector<uint64_t> pages;
  for (uint64_t i = 0; i < n; ++i) pages.push_back(from + 3 * i);
  return pages;
}

// The backups of `pages` in `slot`, by number (nvm::Layout::backup_number).
std::vector<uint64_t> in_slot(const std::vector<uint64_t>& pages, unsigned slot) {
  std::vector<uint64_t> backups;
  for (uint64_t p : pages) backups.push_back(nvm::Layout::backup_number(p, slot));
  return backups;
}

}  // namespace

TEST_CASE("the leader alone copies every page and protects every range") {
  Rig r;
  auto pages = every_third_page(10, 40);
  std::vector<PauseWork::Range> ranges = {{500, 4}, {600, 1}, {700, 16}};
  std::vector<uint64_t> backups;  // each page to the slot its parity names: slots vary within a list
  for (uint64_t p : pages) backups.push_back(nvm::Layout::backup_number(p, unsigned(p % 2)));
  r.work.publish(0, ranges, backups);
  CHECK_FALSE(r.work.published(0));
  r.work.copy();
  r.work.finish();
  for (uint64_t p : pages) {
    CHECK(r.backed_up(p, unsigned(p % 2)));
    CHECK_FALSE(r.backed_up(p, unsigned(1 - p % 2)));
  }
  CHECK_FALSE(r.backed_up(11, 1));  // not listed: not copied
  for (auto [first, n] : ranges)
    for (uint64_t p = first; p < first + n; ++p) CHECK(uffd_protected(r.store.ram() + p * kPage));
  CHECK_FALSE(uffd_protected(r.store.ram() + 499 * kPage));
  CHECK_FALSE(uffd_protected(r.store.ram() + 10 * kPage));
}

TEST_CASE("a parked vCPU and a spare thread share the work; the spare one only copies") {
  Rig r;
  auto pages = every_third_page(100, 300);
  std::vector<PauseWork::Range> ranges;
  for (uint64_t i = 0; i < 40; ++i) ranges.emplace_back(1200 + 2 * i, 1);
  const uint64_t gen = 7;
  r.work.publish(gen, ranges, in_slot(pages, 0));
  CHECK(r.work.published(gen));
  CHECK_FALSE(r.work.published(gen + 1));
  // The spare thread first, on its own: it copies every page and protects nothing.
  bool spare_did = false, vcpu_did = false;
  std::thread spare([&] { spare_did = r.work.help(gen, PauseWork::Role::spare); });
  spare.join();
  CHECK(spare_did);
  for (uint64_t p : pages) CHECK(r.backed_up(p, 0));
  for (auto [first, n] : ranges) CHECK_FALSE(uffd_protected(r.store.ram() + first * kPage));
  // Then a parked vCPU: the protects are left for it (no copy is).
  std::thread vcpu([&] { vcpu_did = r.work.help(gen, PauseWork::Role::vcpu); });
  vcpu.join();
  CHECK(vcpu_did);
  for (auto [first, n] : ranges) CHECK(uffd_protected(r.store.ram() + first * kPage));
  CHECK_FALSE(uffd_protected(r.store.ram() + 1201 * kPage));
  // The leader finds everything done.
  r.work.copy();
  r.work.finish();
  CHECK_FALSE(r.work.published(gen));
}

TEST_CASE("a late helper takes nothing of a finished pause") {
  Rig r;
  auto pages = every_third_page(10, 20);
  std::vector<PauseWork::Range> ranges = {{900, 2}};
  r.work.publish(3, ranges, in_slot(pages, 0));
  r.work.copy();
  r.work.finish();
  CHECK_FALSE(r.work.help(3, PauseWork::Role::vcpu));
  CHECK_FALSE(r.work.help(3, PauseWork::Role::spare));
}

TEST_CASE("a spare thread alone leaves the protects to the leader") {
  Rig r;
  std::vector<uint64_t> none;
  std::vector<PauseWork::Range> ranges = {{300, 3}};
  r.work.publish(5, ranges, none);
  CHECK_FALSE(r.work.help(5, PauseWork::Role::spare));
  CHECK_FALSE(uffd_protected(r.store.ram() + 300 * kPage));
  r.work.copy();
  r.work.finish();
  CHECK(uffd_protected(r.store.ram() + 301 * kPage));
}

TEST_CASE("the pause copier, a forked process, copies a published list on its own") {
  Rig r;
  auto copier = PauseCopier::spawn(r.work);
  REQUIRE(copier);
  CHECK(copier->alive());
  auto pages = every_third_page(30, 120);
  std::vector<PauseWork::Range> none;
  r.work.publish(11, none, in_slot(pages, 1));
  copier->plan(0, 10);  // due now
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!r.backed_up(pages.back(), 1) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  CHECK(r.backed_up(pages.back(), 1));  // by the copier: the leader has not copied yet
  r.work.copy([&] { return copier->alive(); });
  r.work.finish();
  for (uint64_t p : pages) CHECK(r.backed_up(p, 1));
  copier.reset();  // asks it to stop and reaps it
}

TEST_CASE("the pause copier sits out short intervals; killed, the leader copies alone") {
  Rig r;
  auto copier = PauseCopier::spawn(r.work);
  REQUIRE(copier);
  CHECK_FALSE(PauseCopier::acts_at(1));
  CHECK(PauseCopier::acts_at(10));
  auto pages = every_third_page(30, 60);
  std::vector<PauseWork::Range> none;
  copier->plan(0, 1);  // 1 ms: it must not take part
  r.work.publish(12, none, in_slot(pages, 0));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK_FALSE(r.backed_up(pages[0], 0));
  r.work.copy([&] { return copier->alive(); });
  r.work.finish();
  for (uint64_t p : pages) CHECK(r.backed_up(p, 0));
  ::kill(copier->pid(), SIGKILL);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (copier->alive() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  CHECK_FALSE(copier->alive());
  r.work.publish(13, none, in_slot(pages, 1));
  copier->plan(0, 10);
  r.work.copy([&] { return copier->alive(); });
  r.work.finish();
  for (uint64_t p : pages) CHECK(r.backed_up(p, 1));
}

TEST_CASE("a helper that dies in the middle of its chunk: the leader copies the whole list again") {
  Rig r;
  auto pages = every_third_page(40, 64);
  std::vector<PauseWork::Range> none;
  r.work.publish(21, none, in_slot(pages, 1));
  // The helper claims the first chunk (the cursor lives in shared memory)
  // and dies on its first copy: its view of that backup page is read-only.
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::signal(SIGSEGV, SIG_DFL);  // no sanitizer report: just die
    auto* backup = const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(r.store.backup(pages[0], 1)));
    ::mprotect(backup, kPage, PROT_READ);
    r.work.help(21, PauseWork::Role::spare);
    ::_exit(0);  // not reached: the copy faults
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFSIGNALED(status));
  CHECK_FALSE(r.backed_up(pages[0], 1));  // the dead helper's chunk was never copied
  bool asked = false;
  r.work.copy([&] {
    asked = true;
    return false;  // the helper is dead
  });
  r.work.finish();
  CHECK(asked);
  for (uint64_t p : pages) CHECK(r.backed_up(p, 1));  // its chunk too: copied again by the leader
}
